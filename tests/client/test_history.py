"""The local SQLite history: dedupe, the cursor advancing with the stored row, read state, retention, paging."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from trayapp.client.errors import HistoryError
from trayapp.client.history import Cursor, History, MemoryCursor
from trayapp.core.acquire import parse_body
from trayapp.core.event import ReceivedEvent

from .fakebridge import case_body


def received(seq: int, event_id: str | None = None, received_at: str | None = None) -> ReceivedEvent:
    body = case_body(seq)
    return ReceivedEvent(seq=seq, id=event_id or f"id-{seq}", received_at=received_at or "2026-11-25T08:00:00.000Z",
                         body=body, event=parse_body(body))


@pytest.fixture
def history(tmp_path: Path) -> History:
    h = History(tmp_path / "sub" / "history.sqlite3")
    yield h
    h.close()


def test_add_stores_and_advances_cursor(history: History) -> None:
    assert history.cursor() is None
    row = history.add(received(1), "E")
    assert row is not None and row.read is False and row.event.seq == 1
    assert history.cursor() == Cursor("E", 1)
    history.add(received(2), "E")
    assert history.cursor() == Cursor("E", 2)
    got = history.get("id-2")
    assert got is not None and got.event == received(2)  # the Event round-trips exactly


def test_dedupe_by_id(history: History) -> None:
    assert history.add(received(1), "E") is not None
    assert history.add(received(1), "E") is None
    assert history.add(received(5, event_id="id-1"), "E") is None
    assert history.count() == 1
    assert history.cursor() == Cursor("E", 5)  # the cursor still moves past a repeat


def test_cursor_never_moves_back_within_an_epoch_but_follows_a_new_one(history: History) -> None:
    history.add(received(7), "E")
    history.skip_to("E", 3)
    assert history.cursor() == Cursor("E", 7)
    history.skip_to("E", 9)
    assert history.cursor() == Cursor("E", 9)
    history.add(received(1, "new-epoch-1"), "F")
    assert history.cursor() == Cursor("F", 1)


def test_cursor_and_row_are_one_transaction(history: History, monkeypatch: pytest.MonkeyPatch) -> None:
    """If storing fails, neither the row nor the cursor changes (a crash cannot skip an event)."""
    history.add(received(1), "E")

    def fail(epoch: str, seq: int) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    with monkeypatch.context() as m:
        m.setattr(history, "_advance", fail)
        with pytest.raises(HistoryError):
            history.add(received(2), "E")
    assert history.count() == 1 and history.get("id-2") is None
    assert history.cursor() == Cursor("E", 1)


def test_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    with History(path) as h:
        h.add(received(1), "E")
        h.add(received(2), "E")
        h.mark_read(["id-1"])
    with History(path) as h:
        assert [(r.event.id, r.read) for r in h.recent()] == [("id-2", False), ("id-1", True)]
        assert h.cursor() == Cursor("E", 2)


def test_recent_and_older_newest_first(history: History) -> None:
    for n in range(1, 11):
        history.add(received(n), "E")
    assert [r.event.seq for r in history.recent(3)] == [10, 9, 8]
    assert [r.event.seq for r in history.older("id-8", 4)] == [7, 6, 5, 4]
    assert [r.event.seq for r in history.older("id-2", 4)] == [1]
    assert len(history.recent()) == 10


def test_order_is_arrival_not_seq_across_epochs(history: History) -> None:
    history.add(received(50, "old"), "E")
    history.add(received(1, "new"), "F")
    assert [r.event.id for r in history.recent()] == ["new", "old"]


def test_read_state(history: History) -> None:
    for n in range(1, 5):
        history.add(received(n), "E")
    assert history.unread_count() == 4
    assert history.mark_read(["id-1", "id-2", "id-1", "missing"]) == ["id-1", "id-2"]
    assert history.mark_read(["id-1"]) == []
    assert history.mark_read(["id-1"], read=False) == ["id-1"]
    assert sorted(history.mark_all_read()) == ["id-1", "id-3", "id-4"]
    assert history.mark_all_read() == []
    assert history.unread_count() == 0


def test_retention(history: History) -> None:
    now = time.time()
    history.add(received(1, received_at="2020-01-01T00:00:00.000Z"), "E")
    history.add(received(2, received_at="2026-11-24T08:00:00.000Z"), "E")
    history.add(received(3, received_at="garbage"), "E")  # unparsable: treated as "now"
    pruned = history.prune(30, now=1764057600.0 if now < 1764057600.0 else now)
    assert pruned >= 1
    assert history.get("id-1") is None and history.get("id-3") is not None
    assert history.cursor() == Cursor("E", 3)  # pruning never moves the cursor


def test_damaged_database_is_a_history_error(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(HistoryError, match="damaged"):
        History(path)


def test_newer_schema_refused(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version=99")
    db.close()
    with pytest.raises(HistoryError, match="newer"):
        History(path)


def test_fast_load_of_many_rows(tmp_path: Path) -> None:
    with History(tmp_path / "big.sqlite3") as h:
        h._db.execute("BEGIN")
        for n in range(1, 20001):
            r = received(n)
            h._db.execute(
                "INSERT INTO events (id, epoch, seq, received_at, received_ts, body, kind, acquire_event, status, "
                "case_id, title, contact_name, channel, account) VALUES (?, 'E', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (r.id, n, r.received_at, time.time(), r.body, "case.new", "case.new", "pending", str(n), f"Case {n}",
                 f"Visitor {n}", "chat", "acme"),
            )
        h._db.execute("COMMIT")
        started = time.perf_counter()
        rows = h.recent(20000)
        elapsed = time.perf_counter() - started
        assert h.get("id-7") is not None and h.get("id-7").event.body == received(7).body  # type: ignore[union-attr]
    assert len(rows) == 20000 and rows[0].event.seq == 20000
    assert rows[0].event.event == received(20000).event
    assert rows[0].event.body == ""  # bodies stay on disk unless asked for
    assert rows[0].event.event.kind is rows[1].event.event.kind  # repeated values are shared
    assert elapsed < 2.0, elapsed  # ~0.1 s here; generous for slow CI


def test_extra_round_trips(history: History) -> None:
    r = received(1)
    from dataclasses import replace

    odd = replace(r, event=replace(r.event, kind="other", extra={"raw_event": "x.y", "n": [1, 2]}))
    history.add(odd, "E")
    assert history.recent()[0].event.event.extra == {"raw_event": "x.y", "n": [1, 2]}


def test_memory_cursor() -> None:
    m = MemoryCursor(Cursor("", 5))
    assert m.cursor() == Cursor("", 5)
    assert m.add(received(6), "E") is not None
    assert m.add(received(6), "E") is None
    assert m.cursor() == Cursor("E", 6)
    m.skip_to("E", 3)
    assert m.cursor() == Cursor("E", 6)
