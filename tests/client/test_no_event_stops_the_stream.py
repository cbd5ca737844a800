"""No single event can stop the stream: a genuine event that cannot be derived, stored or shown is skipped, recorded
(``on_event_skipped``), and the cursor moves past it; every later event still arrives. Against the fake bridge, which
can sign any body at all (the real bridge only stores JSON objects: see ``test_hostile_corpus.py``)."""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.client import Recorder
from trayapp.client.errors import EventNotStored
from trayapp.client.history import Cursor, History
from trayapp.model.connection import ConnectionState
from trayapp.model.rows import HistoryRow

from .fakebridge import FakeBridge, case_body, running


def stored_ids(history: History) -> list[str]:
    return [row.event.id for row in reversed(history.recent())]


@pytest.mark.parametrize("body", ["[1]", "not json at all", '"a string"', "{" * 5000 + "}" * 5000, ""])
async def test_a_genuine_body_that_is_no_payload_is_skipped_and_the_cursor_moves(
        fake: FakeBridge, history: History, recorder: Recorder, body: str) -> None:
    history.skip_to(fake.epoch, 0)
    bad = await fake.add(body)
    await fake.add(case_body(2))
    async with running(fake, history, recorder):
        await recorder.until(lambda: recorder.caught_up)
    assert [event_id for event_id, _ in recorder.skipped] == [bad.id]
    assert "cannot be read" in recorder.skipped[0][1]
    assert recorder.seqs == [2] and recorder.failures == []
    assert history.cursor() == Cursor(fake.epoch, 2)


async def test_an_event_that_cannot_be_stored_is_skipped_live_too(fake: FakeBridge, history: History,
                                                                   recorder: Recorder,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    real_add = history.add

    def picky(received: Any, epoch: str) -> HistoryRow | None:
        if received.seq == 2:
            raise EventNotStored("cannot store event 'x': UnicodeEncodeError: surrogates not allowed")
        return real_add(received, epoch)

    monkeypatch.setattr(history, "add", picky)
    async with running(fake, history, recorder):
        await recorder.until(lambda: recorder.caught_up)
        for n in (1, 2, 3):
            await fake.add(case_body(n))
        await recorder.until(lambda: len(recorder.events) == 2)
    assert recorder.seqs == [1, 3] and [i for i, _ in recorder.skipped] == [fake.frames[1].id]
    assert history.cursor() == Cursor(fake.epoch, 3)
    assert recorder.state is ConnectionState.CONNECTED  # no reconnect loop, no error state


async def test_a_body_with_lone_surrogates_is_stored_byte_exact(fake: FakeBridge, history: History,
                                                                 recorder: Recorder) -> None:
    history.skip_to(fake.epoch, 0)
    body = json.dumps({"event": "case.new", "data": {"case": {"id": 1, "title": "half \ud83d"}}}, ensure_ascii=False)
    assert "\ud83d" in body  # a real lone surrogate in the signed text, not an escape
    await fake.add(body)
    async with running(fake, history, recorder):
        await recorder.until(lambda: recorder.caught_up)
    assert recorder.skipped == [] and recorder.seqs == [1]
    row = history.get(fake.frames[0].id)
    assert row is not None and row.event.body == body
    assert row.event.event.title == "half \ufffd"


async def test_an_event_that_cannot_be_shown_is_recorded_and_the_stream_goes_on(
        fake: FakeBridge, history: History, recorder: Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    shown = recorder.on_event

    def fragile(row: HistoryRow, replay: bool) -> None:
        if row.event.seq == 1:
            raise RuntimeError("the notification back-end fell over")
        shown(row, replay)

    monkeypatch.setattr(recorder, "on_event", fragile)
    async with running(fake, history, recorder):
        await recorder.until(lambda: recorder.caught_up)
        await fake.add(case_body(1))
        await fake.add(case_body(2))
        await recorder.until(lambda: recorder.events)
    assert recorder.seqs == [2] and [i for i, _ in recorder.skipped] == [fake.frames[0].id]
    assert "could not be shown" in recorder.skipped[0][1]
    assert history.count() == 2  # it is in the history, the list can show it


# --- the property: any sequence of genuine frames, whatever their bodies, the cursor reaches the head ---------------

_SURROGATES = st.integers(0xD800, 0xDFFF).map(chr)
_ANY_TEXT = st.lists(st.one_of(st.characters(), _SURROGATES), max_size=80).map("".join)
_HOSTILE = st.one_of(_ANY_TEXT, st.sampled_from(["\x00", "\u202e", "<img src=x>", "\ud800", "x" * 10_000]))


def _payload(draw_name: str, draw_title: str) -> str:
    return json.dumps({"event": "case.new", "account_id": draw_name,
                       "data": {"case": {"id": draw_title, "title": draw_title, "contact": {"name": draw_name}}}},
                      ensure_ascii=False)


BODIES = st.lists(
    st.one_of(
        _ANY_TEXT,  # anything at all, signed
        st.builds(_payload, _HOSTILE, _HOSTILE),  # Acquire payloads with hostile fields, lone surrogates raw
        st.builds(lambda a, b: json.dumps(json.loads(_payload(a, b))), _HOSTILE, _HOSTILE),  # ... or \\u-escaped
    ),
    min_size=1,
    max_size=12,
)


async def _scenario(bodies: list[str], data_dir: Path) -> None:
    recorder = Recorder()
    async with FakeBridge() as fb:
        half = len(bodies) // 2
        for body in bodies[:half]:  # a backlog ...
            await fb.add(body)
        with History(data_dir / "h.sqlite3") as history:
            history.skip_to(fb.epoch, 0)
            async with running(fb, history, recorder):
                await recorder.until(lambda: recorder.caught_up)
                for body in bodies[half:]:  # ... and live events
                    await fb.add(body)
                await recorder.until(lambda: (history.cursor() or Cursor("", 0)).seq == len(bodies), 20)
            assert history.cursor() == Cursor(fb.epoch, len(bodies))
            assert len(recorder.events) + len(recorder.skipped) == len(bodies)
            assert recorder.failures == []
            for row, _ in recorder.events:
                stored = history.get(row.event.id)
                assert stored is not None and stored.event.body == row.event.body  # byte-exact


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies=BODIES)
def test_any_genuine_frames_the_cursor_reaches_the_head(bodies: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(_scenario(bodies, Path(tmp)))
