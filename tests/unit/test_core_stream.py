"""core/stream.py: the client's side of a stream connection without I/O — frames in, decisions out (table-driven)."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from trayapp.core import stream, wire

KEY = Ed25519PrivateKey.generate()
OTHER = Ed25519PrivateKey.generate()
NONCE = wire.new_nonce()
EPOCH = "e1"
BODY = json.dumps({"event": "case.new", "account_id": "acme", "data": {"case_id": 5121, "status": "pending"}})


def hello(head: int = 3, *, key: Ed25519PrivateKey = KEY, nonce: str = NONCE, protocol: int = wire.PROTOCOL) -> str:
    return wire.encode(wire.sign_control(key, wire.Hello(EPOCH, head, nonce, protocol=protocol), nonce, EPOCH))


def control(message: wire.ControlFrame, *, key: Ed25519PrivateKey = KEY, nonce: str = NONCE) -> str:
    return wire.encode(wire.sign_control(key, message, nonce, EPOCH))


def event(seq: int, body: str = BODY, *, key: Ed25519PrivateKey = KEY, epoch: str = EPOCH) -> str:
    received_at = "2026-11-25T08:00:00.000Z"
    sig = wire.sign_event(key, epoch, seq, f"id-{seq}", received_at, body)
    return wire.encode(wire.EventFrame(epoch, seq, f"id-{seq}", received_at, {}, body, sig))


def run(*frames: str) -> list[stream.Decision]:
    session = stream.StreamSession(KEY.public_key(), NONCE)
    return [session.receive(frame) for frame in frames]


def kinds(decisions: list[stream.Decision]) -> list[str]:
    return [type(d).__name__ for d in decisions]


def test_hello_replay_caught_up_live() -> None:
    decisions = run(hello(), event(2), event(3), control(wire.CaughtUp(3)), event(4), control(wire.CaughtUp(4)))
    assert kinds(decisions) == ["Connected", "Store", "Store", "CaughtUp", "Store", "CaughtUp"]
    stores = [d for d in decisions if isinstance(d, stream.Store)]
    assert [(d.received.seq, d.replay, d.epoch) for d in stores] == [(2, True, EPOCH), (3, True, EPOCH),
                                                                    (4, False, EPOCH)]
    caught = [d for d in decisions if isinstance(d, stream.CaughtUp)]
    assert [(d.head, d.first) for d in caught] == [(3, True), (4, False)]


@pytest.mark.parametrize(("first", "failure", "close"), [
    (hello(key=OTHER), stream.Failure.KEY_MISMATCH, 1008),
    (hello(nonce=wire.new_nonce()), stream.Failure.OTHER_NONCE, 1008),
    (hello(protocol=1), stream.Failure.PROTOCOL, 1002),
    (control(wire.CaughtUp(0)), stream.Failure.NOT_A_BRIDGE, None),
    (event(1), stream.Failure.NOT_A_BRIDGE, None),
], ids=["wrong key", "another connection's hello", "protocol 1", "caught_up first", "event first"])
def test_a_bad_start_ends_the_connection(first: str, failure: stream.Failure, close: int | None) -> None:
    (decision,) = run(first)
    assert isinstance(decision, stream.Fail) and decision.failure is failure
    assert (decision.close[0] if decision.close else None) == close


@pytest.mark.parametrize(("frame", "kind"), [
    (event(2, key=OTHER), "Drop"),  # forged
    (event(2, epoch="e0"), "Drop"),  # another epoch's signature
    ('{"type": "event", "seq": "x"}', "Drop"),  # malformed
    ("not json", "Ignore"),
    ('{"type": "presence", "who": "x"}', "Ignore"),  # a newer bridge
    (hello(), "Drop"),  # a second hello
    (event(2, body='"a string, not an Acquire payload"'), "Skip"),  # genuine, but no event in it
], ids=["forged", "other epoch", "malformed", "not json", "unknown type", "second hello", "no event"])
def test_one_bad_frame_does_not_stop_the_stream(frame: str, kind: str) -> None:
    decisions = run(hello(), frame, event(3))
    assert kinds(decisions) == ["Connected", kind, "Store"]
    if kind == "Skip":
        skip = decisions[1]
        assert isinstance(skip, stream.Skip) and (skip.event_id, skip.seq, skip.epoch) == ("id-2", 2, EPOCH)


@pytest.mark.parametrize("forged", [
    control(wire.CaughtUp(99), key=OTHER),
    control(wire.Gap(1, 50, "retention"), key=OTHER),
    control(wire.CaughtUp(99), nonce=wire.new_nonce()),  # replayed from another connection
], ids=["caught_up wrong key", "gap wrong key", "caught_up other nonce"])
def test_a_forged_control_frame_ends_the_connection_and_is_never_acted_on(forged: str) -> None:
    decisions = run(hello(), forged)
    fail = decisions[1]
    assert isinstance(fail, stream.Fail) and fail.failure is stream.Failure.FORGED_CONTROL and fail.dropped


def test_gap_and_epoch_gap() -> None:
    decisions = run(hello(), control(wire.Gap(1, 40, "retention")), control(wire.Gap(None, None, "epoch")))
    gaps = [d for d in decisions if isinstance(d, stream.GapFound)]
    assert [(g.gap.first, g.gap.last, g.gap.reason) for g in gaps] == [(1, 40, "retention"), (None, None, "epoch")]


def test_frame_type() -> None:
    assert stream.frame_type('{"type": "event"}') == "event"
    assert stream.frame_type("[1]") is None and stream.frame_type("{") is None


@pytest.mark.parametrize(("since", "client_epoch", "expected"), [
    (None, None, stream.Resume(10, replay=False)),  # a first connection starts live
    (4, "e1", stream.Resume(4, replay=True)),
    (4, None, stream.Resume(4, replay=True)),  # no epoch sent: trusted to be this one
    (10, "e1", stream.Resume(10, replay=True)),  # up to date: an empty replay
    (4, "e0", stream.Resume(0, replay=True, epoch_gap=True)),  # another epoch (the store was recreated)
    (11, "e1", stream.Resume(0, replay=True, epoch_gap=True)),  # ahead of the head: not this store's cursor
])
def test_resume_point(since: int | None, client_epoch: str | None, expected: stream.Resume) -> None:
    assert stream.resume_point(since, client_epoch, "e1", head=10) == expected


def _replay(plan: stream.ReplayPlan, pages: list[list[int]], known: int) -> list[object]:
    out: list[object] = []
    for page in pages:
        assert not plan.done
        out += plan.page(page)
    assert plan.done
    missing = plan.finish(known)
    return [*out, *([missing] if missing else [])]


@pytest.mark.parametrize(("after", "until", "pages", "known", "expected", "last"), [
    (0, None, [[1, 2, 3], []], 3, [1, 2, 3], 3),
    (0, None, [[5, 6], []], 6, [stream.Missing(1, 4), 5, 6], 6),  # retention dropped 1-4
    (2, None, [[3, 7], [8], []], 10, [3, stream.Missing(4, 6), 7, 8, stream.Missing(9, 10)], 10),  # and the tail
    (0, None, [[]], 0, [], 0),  # nothing stored
    (0, None, [[]], 4, [stream.Missing(1, 4)], 4),  # all of it pruned
    (3, 6, [[4, 5, 6, 7]], 6, [4, 5, 6], 6),  # a refill stops at until
], ids=["all", "head pruned", "holes and tail", "empty", "all pruned", "until"])
def test_replay_plan(after: int, until: int | None, pages: list[list[int]], known: int, expected: list[object],
                     last: int) -> None:
    plan = stream.ReplayPlan(after, until)
    assert _replay(plan, pages, known) == expected
    assert plan.last == last


def test_a_refill_short_of_until_reads_again_then_gaps_the_rest() -> None:
    plan = stream.ReplayPlan(3, until=6)
    assert plan.page([5]) == [stream.Missing(4, 4), 5] and not plan.done
    assert plan.page([]) == [] and plan.done
    assert plan.finish(6) == stream.Missing(6, 6) and plan.last == 6


def cases_frame(head: int = 3, *, key: Ed25519PrivateKey = KEY, epoch: str = EPOCH, snapshot: str | None = None) -> str:
    from trayapp.core import cases

    text = snapshot if snapshot is not None else cases.snapshot_text(epoch, head, [])
    return wire.encode(wire.CasesFrame(text, cases.sign_snapshot(key, text)))


def test_a_verified_cases_frame_is_handed_on() -> None:
    decisions = run(hello(3), cases_frame(3), control(wire.CaughtUp(3)), cases_frame(5))
    assert kinds(decisions) == ["Connected", "CasesReceived", "CaughtUp", "CasesReceived"]
    got = decisions[1]
    assert isinstance(got, stream.CasesReceived) and (got.snapshot.epoch, got.snapshot.head) == (EPOCH, 3)


@pytest.mark.parametrize("frame", [
    cases_frame(key=OTHER),
    cases_frame(epoch="another-epoch"),
    cases_frame(2),  # older than this connection's hello: a recorded one
    cases_frame(snapshot='{"epoch":"e1","head":3,"cases":[{"case_id":1}]}'),
    wire.encode(wire.CasesFrame(wire.dumps({"epoch": EPOCH, "head": 3, "cases": []}), "")),
], ids=["other key", "other epoch", "older head", "malformed snapshot", "unsigned"])
def test_a_cases_frame_that_does_not_verify_ends_the_connection(frame: str) -> None:
    decisions = run(hello(3), frame)
    fail = decisions[1]
    assert isinstance(fail, stream.Fail) and fail.failure is stream.Failure.FORGED_CONTROL and fail.dropped
