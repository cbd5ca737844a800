"""The case fold (core.cases): every event order, missing fields, out-of-order statuses, hostile strings; the
snapshot, its bound and its signature."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from trayapp.core import cases
from trayapp.core.acquire import normalise
from trayapp.core.cases import CaseState, merge, update_of
from trayapp.core.errors import BadMessage, BadSignature
from trayapp.core.event import Event

T0 = "2026-11-23T09:58:01.000Z"


def v2(event: str, status: str | None, case_id: Any = 5121, *, agent: str | None = None, timestamp: str | None = None,
       **case: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"id": case_id, "title": "Chat with visitor", "channel": "chat",
                            "contact": {"name": "Maria Lopez"}, "dateCreated": "2026-11-23 09:58:01", **case}
    if status is not None:
        body["status"] = status
    data: dict[str, Any] = {"case": body}
    if agent:
        data["agent"] = {"name": agent, "type": "agent"}
    payload: dict[str, Any] = {"event": event, "account_id": "acme", "data": data}
    if timestamp:
        payload["timestamp"] = timestamp
    return payload


def v1_message(text: str, sender: str, case_id: str = "104111") -> dict[str, Any]:
    return {"id": case_id, "event": "CHAT_ON_MESSAGE", "date_created": "2026-11-23 09:58:01",
            "message": json.dumps({"type": "message", "msg": text, "user": {"name": "David", "type": sender}})}


def fold(payloads: list[dict[str, Any]], received: list[str] | None = None) -> CaseState | None:
    state = None
    for seq, payload in enumerate(payloads, 1):
        at = received[seq - 1] if received else f"2026-11-23T10:20:{seq:02d}.000Z"
        update = update_of(payload, normalise(payload).to_json(), at)
        if update is not None:
            state = merge(state, update, seq, float(seq))
    return state


def test_a_new_case_is_pending_since_its_own_date_pending() -> None:
    state = fold([v2("case.new", "pending", datePending="2026-11-23 09:58:01")])
    assert state is not None
    assert (state.case_id, state.status, state.status_since) == ("5121", "pending", T0)
    assert (state.contact_name, state.title, state.channel, state.updated_seq) == ("Maria Lopez", "Chat with visitor",
                                                                                  "chat", 1)


@pytest.mark.parametrize(("case", "since"), [
    ({"datePending": "2026-11-23 09:57:00"}, "2026-11-23T09:57:00.000Z"),  # zone-less: UTC
    ({"datePending": "2026-11-23T10:57:00+01:00"}, "2026-11-23T09:57:00.000Z"),
    ({"datePending": None}, T0),  # dateCreated
    ({"datePending": "not a date", "dateCreated": None}, "2026-11-23T10:20:01.000Z"),  # received_at
    ({"datePending": "2099-01-01 00:00:00", "dateCreated": None}, "2026-11-23T10:20:01.000Z"),  # <= received_at
    ({"datePending": 1795427820}, "2026-11-23T09:57:00.000Z"),  # POSIX seconds
])
def test_status_since_sources(case: dict[str, Any], since: str) -> None:
    state = fold([v2("case.new", "pending", **case)])
    assert state is not None and state.status_since == since


def test_a_new_case_without_a_status_is_pending() -> None:
    state = fold([v2("case.new", None)])
    assert state is not None and state.status == "pending"


def test_v1_dates_and_assignee() -> None:
    start = {"id": "104111", "event": "CHAT_ON_START", "status": "pending", "date_created": "2026-11-23 09:50:00",
             "users": json.dumps({"visitor": {"name": "David Klok"}})}
    accept = {"id": "104111", "event": "CHAT_ON_ACCEPT", "status": "active", "date_picked": "2026-11-23 09:51:00",
              "user": {"type": "agent", "name": "John Deo"}}
    state = fold([start])
    assert state is not None and (state.status, state.status_since, state.contact_name) == (
        "pending", "2026-11-23T09:50:00.000Z", "David Klok")
    state = fold([start, accept])
    assert state is not None and (state.status, state.status_since, state.agent_name) == (
        "active", "2026-11-23T09:51:00.000Z", "John Deo")


# Every order of one case's life: the end state is the same, the status is that of the newest event.
LIFE = [
    v2("case.new", "pending", timestamp="2026-11-23T09:58:01.000Z", datePending="2026-11-23 09:58:01"),
    v2("chat.status", "queue", timestamp="2026-11-23T09:58:30.000Z", dateQueue="2026-11-23 09:58:30"),
    v2("chat.status", "active", agent="John Deo", timestamp="2026-11-23T09:59:00.000Z",
       dateActive="2026-11-23 09:59:00"),
    v2("chat.message", None, timestamp="2026-11-23T09:59:10.000Z"),
]


@pytest.mark.parametrize("order", list(itertools.permutations(range(len(LIFE)))))
def test_every_order_of_one_case_ends_active_since_its_own_time(order: tuple[int, ...]) -> None:
    state = fold([LIFE[i] for i in order])
    assert state is not None
    assert (state.status, state.status_since, state.agent_name) == ("active", "2026-11-23T09:59:00.000Z", "John Deo")
    assert state.updated_seq == len(LIFE)


def test_a_retried_pending_after_active_leaves_it_active_but_a_newer_one_reopens() -> None:
    new, _, active, _ = LIFE
    assert fold([new, active, new]).status == "active"  # type: ignore[union-attr]
    reopened = v2("chat.status", "pending", timestamp="2026-11-23T10:10:00.000Z",
                  datePending="2026-11-23 10:10:00")
    closed = v2("chat.status", "closed", timestamp="2026-11-23T10:05:00.000Z")
    state = fold([new, active, closed, reopened, closed])
    assert state is not None and (state.status, state.status_since) == ("pending", "2026-11-23T10:10:00.000Z")


def test_same_millisecond_the_later_stage_wins() -> None:
    pending = v2("case.new", "pending", timestamp=T0)
    active = v2("chat.status", "active", timestamp=T0, agent="Ana")
    assert fold([active, pending]).status == "active"  # type: ignore[union-attr]
    assert fold([pending, active]).status == "active"  # type: ignore[union-attr]


def test_v1_without_times_falls_back_on_received_at_order() -> None:
    start = {"id": "7", "event": "CHAT_ON_START", "status": "pending", "date_created": "2026-11-23 09:50:00"}
    close = {"id": "7", "event": "CHAT_ON_CLOSE", "status": "active"}  # the close body still says active
    assert fold([start, close]).status == "closed"  # type: ignore[union-attr]
    assert fold([close, start]).status == "closed"  # type: ignore[union-attr]  (the retried start is older)


def test_later_events_fill_empty_fields_and_never_blank_them() -> None:
    bare = {"event": "case.new", "data": {"case": {"id": 9}}, "timestamp": "2026-11-23T09:00:00.000Z"}
    full = v2("chat.status", "pending", 9, department="Sales", timestamp="2026-11-23T08:00:00.000Z")  # older
    state = fold([bare, full, bare])
    assert state is not None
    assert (state.contact_name, state.department, state.title) == ("Maria Lopez", "Sales", "Chat with visitor")


def test_a_newer_status_event_replaces_assignee_and_department_an_older_one_does_not() -> None:
    a = v2("chat.status", "active", agent="Ana", department="Sales", timestamp="2026-11-23T09:00:00.000Z")
    b = v2("chat.status", "active", agent="Ben", department="Billing", timestamp="2026-11-23T09:05:00.000Z")
    assert (fold([a, b]).agent_name, fold([a, b]).department) == ("Ben", "Billing")  # type: ignore[union-attr]
    assert (fold([b, a]).agent_name, fold([b, a]).department) == ("Ben", "Billing")  # type: ignore[union-attr]


def test_first_message_is_the_visitors_first() -> None:
    start = {"id": "104111", "event": "CHAT_ON_START", "status": "pending", "date_created": "2026-11-23 09:50:00"}
    state = fold([start, v1_message("Agent here", "agent"), v1_message("Where is my order?", "visitor"),
                  v1_message("Hello?", "visitor")])
    assert state is not None and state.first_message == "Where is my order?"
    assert state.status == "pending" and state.updated_seq == 4
    v2_message = {"event": "chat.message", "data": {"case": {"id": 5}, "message": {
        "msg": "v2 hello", "user": {"type": "Visitor"}}}}
    assert fold([v2_message]).first_message == "v2 hello"  # type: ignore[union-attr]


def test_a_case_first_seen_through_a_message_starts_pending() -> None:
    state = fold([v1_message("Hi", "visitor")])
    assert state is not None and (state.status, state.status_since) == ("pending", T0)


@pytest.mark.parametrize("payload", [
    {"event": "agent.status.changed", "data": {"agent": {"status": "available", "name": "Ana"}}},
    {"event": "case.deleted", "data": {"case": {"id": 5}}},  # unknown: kind other
    {"event": "case.new", "data": {"case": {"title": "no id"}}},
    {"event": "chat.status", "data": "not an object"},
])
def test_events_that_are_not_about_a_case_fold_to_nothing(payload: dict[str, Any]) -> None:
    assert fold([payload]) is None


HOSTILE = "\ud800<b>x</b>\x00\u202e" + "ü" * 10_000


def test_hostile_strings_in_every_field_are_made_safe() -> None:
    payload = v2("case.new", "pending", HOSTILE, title=HOSTILE, channel=HOSTILE, department=HOSTILE,
                 contact={"name": HOSTILE}, agent=HOSTILE, datePending=HOSTILE, dateCreated=HOSTILE)
    message = {"event": "chat.message", "data": {"case": {"id": HOSTILE},
                                                  "message": {"msg": HOSTILE, "user": {"type": "visitor"}}}}
    # the event derives from the signed body; fold its wire form as the bridge does
    state = None
    for seq, p in enumerate((payload, message), 1):
        update = update_of(p, normalise(p).to_json(), "2026-11-23T10:00:00.000Z")
        assert update is not None
        state = merge(state, update, seq, 0.0)
    assert state is not None
    entry = state.snapshot_entry()
    for name in ("case_id", "contact_name", "title", "channel", "department", "agent_name", "first_message"):
        value = entry[name]
        assert "\x00" not in value and "\u202e" not in value and "\ud800" not in value, name
        assert value.endswith("…")
    assert state.status_since == "2026-11-23T10:00:00.000Z"
    snap = cases.snapshot_text("e", 2, [state])
    snap.encode("utf-8")
    parsed = cases.parse_snapshot(snap)
    assert parsed.cases[0] == entry


def test_an_unsafe_event_dict_is_made_safe_again() -> None:
    event = Event(kind="case.new", acquire_event="case.new", case_id="1").to_json()
    event["title"] = "a\x00b\u202ec"
    update = update_of({}, event, "2026-11-23T10:00:00.000Z")
    assert update is not None and update.title == "abc"


def state(case_id: str, since: str, status: str = "pending", **fields: Any) -> CaseState:
    return CaseState(case_id=case_id, status=status, status_since=since, order=0, updated_seq=1, updated_ts=0.0,
                     **fields)


def test_snapshot_lists_open_cases_and_is_bounded() -> None:
    rows = [state("1", T0), state("2", T0, "closed"), state("3", "2026-11-23T10:00:00.000Z", first_message='"q"')]
    text = cases.snapshot_text("ep", 9, rows)
    data = json.loads(text)
    assert data == {"epoch": "ep", "head": 9, "cases": [rows[0].snapshot_entry(), rows[2].snapshot_entry()]}
    assert list(data["cases"][0]) == list(cases.SNAPSHOT_KEYS)
    one = len(json.dumps(rows[0].snapshot_entry(), separators=(",", ":")))
    small = json.loads(cases.snapshot_text("ep", 9, rows, max_bytes=one * 2 + 20))
    assert [c["case_id"] for c in small["cases"]] == ["1"] and small["omitted"] == 1


def test_snapshot_of_5000_worst_cases_fits_a_frame() -> None:
    worst = "\"\\" * 600
    rows = [state(str(i), T0, title=worst, contact_name=worst[:120], first_message=worst) for i in range(5000)]
    text = cases.snapshot_text("ep", 1, rows)
    frame = json.dumps({"type": "cases", "snapshot": text, "sig": "x" * 88}, ensure_ascii=False)
    assert len(frame.encode()) <= 4 * 1024 * 1024
    data = json.loads(text)
    assert data["omitted"] > 0 and len(data["cases"]) + data["omitted"] == 5000


def test_signature_covers_the_snapshot() -> None:
    key = Ed25519PrivateKey.generate()
    text = cases.snapshot_text("ep", 3, [state("1", T0)])
    sig = cases.sign_snapshot(key, text)
    assert cases.verify_snapshot(key.public_key(), text, sig).head == 3
    with pytest.raises(BadSignature):
        cases.verify_snapshot(key.public_key(), text.replace('"head":3', '"head":4'), sig)
    with pytest.raises(BadSignature):
        cases.verify_snapshot(Ed25519PrivateKey.generate().public_key(), text, sig)
    with pytest.raises(BadSignature):
        cases.verify_snapshot(key.public_key(), text, "not base64!")
    assert cases.snapshot_input(text) == b"trayapp-cases/1\n" + text.encode()


@pytest.mark.parametrize("text", ["[]", "{", '{"epoch":1,"head":1,"cases":[]}', '{"epoch":"e","head":1,"cases":[1]}',
                                  '{"epoch":"e","head":1,"cases":[{"case_id":"1","status":"open","updated_seq":1}]}'])
def test_malformed_snapshots_are_refused(text: str) -> None:
    with pytest.raises(BadMessage):
        cases.parse_snapshot(text)
