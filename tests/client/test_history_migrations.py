"""The history's schema versions (``PRAGMA user_version``): every older database opens, keeps every row, its
read state and the cursor, and ends at the current version; a newer one is refused.

The older schemas are copies of what earlier versions created (see the commit named at each), with rows written the
way those versions wrote them.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from trayapp.client.errors import HistoryError
from trayapp.client.history import MIGRATIONS, SCHEMA_VERSION, History
from trayapp.sqlite_schema import NewerSchema, migrate

# Version 1 as first written (commit 7b1d86a): the event's fields as JSON in ``event``.
V1_EVENT_JSON = """
CREATE TABLE events (
    n INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    epoch TEXT NOT NULL,
    seq INTEGER NOT NULL,
    received_at TEXT NOT NULL,
    received_ts REAL NOT NULL,
    kind TEXT NOT NULL,
    status TEXT,
    case_id TEXT,
    body TEXT NOT NULL,
    event TEXT NOT NULL,
    read INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX events_received_ts ON events(received_ts);
CREATE INDEX events_case ON events(case_id);
CREATE INDEX events_unread ON events(read) WHERE read = 0;
CREATE TABLE cursor (one INTEGER PRIMARY KEY CHECK (one = 1), epoch TEXT NOT NULL, seq INTEGER NOT NULL);
PRAGMA user_version = 1;
"""

# Version 1 from commit 6d78260 on (the version number was not raised): the fields in columns.
_FIELDS = ("kind", "acquire_event", "status", "case_id", "title", "contact_name", "channel", "agent_name", "account",
           "text", "agent_id", "department")
V1_COLUMNS = f"""
CREATE TABLE events (
    n INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    epoch TEXT NOT NULL,
    seq INTEGER NOT NULL,
    received_at TEXT NOT NULL,
    received_ts REAL NOT NULL,
    body TEXT NOT NULL,
    read INTEGER NOT NULL DEFAULT 0,
    {", ".join(f"{name} TEXT" for name in _FIELDS)},
    extra TEXT
);
CREATE INDEX events_received_ts ON events(received_ts);
CREATE INDEX events_case ON events(case_id);
CREATE INDEX events_unread ON events(read) WHERE read = 0;
CREATE TABLE cursor (one INTEGER PRIMARY KEY CHECK (one = 1), epoch TEXT NOT NULL, seq INTEGER NOT NULL);
PRAGMA user_version = 1;
"""

EVENTS = [
    {"kind": "case.new", "acquire_event": "case.new", "status": "pending", "case_id": "5121", "title": "Refund",
     "contact_name": "Ada", "channel": "chat", "agent_name": None, "account": "acme", "text": "hello",
     "agent_id": None, "department": "billing", "extra": {"priority": "high"}},
    {"kind": "chat.status", "acquire_event": "chat.status.queue", "status": "queue", "case_id": "5122",
     "title": None, "contact_name": "Jürgen \u202e", "channel": "whatsapp", "agent_name": None, "account": "acme",
     "text": None, "agent_id": None, "department": None},
]


def _v1_event_json(path: Path) -> None:
    db = sqlite3.connect(path)
    db.executescript(V1_EVENT_JSON)
    for n, event in enumerate(EVENTS, 1):
        db.execute("INSERT INTO events (id, epoch, seq, received_at, received_ts, kind, status, case_id, body, "
                   "event, read) VALUES (?, 'ep', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (f"e-{n}", n, f"2026-11-2{n}T10:00:00Z", 1.7e9 + n, event["kind"], event["status"],
                    event["case_id"], f'{{"n":{n}}}', json.dumps(event, ensure_ascii=False), n == 1))
    db.execute("INSERT INTO cursor VALUES (1, 'ep', 2)")
    db.commit()
    db.close()


def _v1_columns(path: Path) -> None:
    db = sqlite3.connect(path)
    db.executescript(V1_COLUMNS)
    for n, event in enumerate(EVENTS, 1):
        extra = json.dumps(event["extra"]) if event.get("extra") else None
        db.execute(f"INSERT INTO events (id, epoch, seq, received_at, received_ts, body, read, {', '.join(_FIELDS)}, "
                   f"extra) VALUES (?, 'ep', ?, ?, ?, ?, ?, {', '.join('?' * len(_FIELDS))}, ?)",
                   (f"e-{n}", n, f"2026-11-2{n}T10:00:00Z", 1.7e9 + n, f'{{"n":{n}}}', n == 1,
                    *(event[name] for name in _FIELDS), extra))
    db.execute("INSERT INTO cursor VALUES (1, 'ep', 2)")
    db.commit()
    db.close()


@pytest.mark.parametrize("build", [_v1_event_json, _v1_columns], ids=["v1-event-json", "v1-columns"])
def test_every_older_history_opens_with_its_rows(tmp_path: Path, build) -> None:
    path = tmp_path / "history.sqlite3"
    build(path)
    with History(path) as history:
        rows = history.recent(None)
        assert [r.event.id for r in rows] == ["e-2", "e-1"]
        assert [r.read for r in rows] == [False, True]
        for row, expected in zip(rows, reversed(EVENTS), strict=True):
            event = row.event.event
            assert {name: getattr(event, name) for name in _FIELDS} == {name: expected[name] for name in _FIELDS}
            assert event.extra == expected.get("extra", {})
        assert history.get("e-1").event.body == '{"n":1}'
        assert history.cursor() is not None and history.cursor().seq == 2
        assert history.count() == 2 and history.unread_count() == 1
        assert history.older("e-2", 10)[0].event.id == "e-1"
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert "event" not in {row[1] for row in db.execute("PRAGMA table_info(events)")}
    assert {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")} >= {
        "events_received_ts", "events_case", "events_unread"}
    db.close()
    with History(path) as history:  # opening again changes nothing
        assert history.count() == 2


def test_a_new_history_is_at_the_current_version_and_steps_run_once(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    History(path).close()
    db = sqlite3.connect(path, isolation_level=None)
    assert migrate(db, MIGRATIONS, "h") == SCHEMA_VERSION == len(MIGRATIONS)
    db.close()


def test_a_failing_step_leaves_the_version_it_had(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    _v1_event_json(path)
    db = sqlite3.connect(path, isolation_level=None)

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("DROP TABLE cursor")
        raise RuntimeError("step failed")

    with pytest.raises(RuntimeError):
        migrate(db, (MIGRATIONS[0], broken), "h")
    assert db.execute("PRAGMA user_version").fetchone()[0] == 1
    assert db.execute("SELECT seq FROM cursor").fetchone() == (2,)  # rolled back
    with pytest.raises(NewerSchema):
        migrate(db, (), "h")
    db.close()


def test_newer_history_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    _v1_columns(path)
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(HistoryError, match="newer"):
        History(path)
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
    assert db.execute("SELECT count(*) FROM events").fetchone() == (2,)
    db.close()
