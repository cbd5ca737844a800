"""The bridge's SQLite store schema versions (``PRAGMA user_version``): every older database opens with its events,
tokens, epoch and head kept and ends at the current version; a newer one is refused (a ConfigError) untouched.

The older schemas are copies of what earlier bridges created (the commit named at each)."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from tests.unit.test_bridge_store import build, item
from trayapp.bridge.errors import ConfigError
from trayapp.bridge.store_sqlite import DB_FILE, MIGRATIONS, SCHEMA_VERSION, SQLiteStore
from trayapp.core.acquire import normalise
from trayapp.sqlite_schema import migrate

# Before versioning (commit 9ccaaa6 until the department scoping): user_version 0, tokens without departments.
V0 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE events (seq INTEGER PRIMARY KEY, received_ts REAL NOT NULL, frame TEXT NOT NULL);
CREATE INDEX events_received ON events (received_ts);
CREATE TABLE dedupe (key TEXT PRIMARY KEY, seq INTEGER NOT NULL, received_ts REAL NOT NULL);
CREATE INDEX dedupe_received ON dedupe (received_ts);
CREATE TABLE tokens (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL, revoked_at TEXT
);
CREATE INDEX tokens_name ON tokens (name);
"""
# The department scoping (merge of edge) added the column with an ALTER, still at user_version 0.
V0_DEPARTMENTS = V0 + "ALTER TABLE tokens ADD COLUMN departments TEXT NOT NULL DEFAULT '[]';"


def _fill(path: Path, script: str, version: int = 0) -> float:
    now = time.time()
    db = sqlite3.connect(path)
    db.executescript(script)
    db.executemany("INSERT INTO meta VALUES (?, ?)", [("epoch", "ep-old"), ("head", "7"), ("token_gen", "3")])
    db.executemany("INSERT INTO events VALUES (?, ?, ?)", [(6, now, '{"seq":6}'), (7, now, '{"seq":7}')])
    db.execute("INSERT INTO dedupe VALUES ('k7', 7, ?)", (now,))
    db.execute("INSERT INTO tokens (name, hash, created_at) VALUES ('ada', 'h-ada', '2026-11-20T10:00:00Z')")
    db.execute(f"PRAGMA user_version = {version}")
    db.commit()
    db.close()
    return now


def _v1(path: Path) -> float:
    """Version 1 (the first step alone): never shipped, but a crash between the steps leaves it."""
    db = sqlite3.connect(path, isolation_level=None)
    migrate(db, MIGRATIONS[:1], "v1")
    db.close()
    return _fill(path, "", version=1)


def _v2(path: Path) -> float:
    """Version 2 (tokens with departments), before the case state."""
    db = sqlite3.connect(path, isolation_level=None)
    migrate(db, MIGRATIONS[:2], "v2")
    db.close()
    return _fill(path, "", version=2)


BUILDERS = {
    "v0": lambda path: _fill(path, V0),
    "v0-departments": lambda path: _fill(path, V0_DEPARTMENTS),
    "v1": _v1,
    "v2": _v2,
}


def _frame(seq: int, payload: dict[str, object], received_at: str) -> str:
    body = json.dumps(payload)
    return json.dumps({"type": "event", "seq": seq, "epoch": "ep-old", "id": f"ep-old-{seq}",
                       "received_at": received_at, "event": normalise(payload).to_json(), "body": body, "sig": "x"})


@pytest.mark.parametrize("name", BUILDERS)
async def test_every_older_store_gets_the_state_of_the_cases_it_has_events_of(tmp_path: Path, name: str) -> None:
    now = BUILDERS[name](tmp_path / DB_FILE)
    new = {"event": "case.new", "timestamp": "2026-11-23T09:00:00.000Z",
           "data": {"case": {"id": 41, "status": "pending", "datePending": "2026-11-23 09:00:00",
                             "contact": {"name": "Maria"}}}}
    taken = {"event": "chat.status", "data": {"case": {"id": 42, "status": "active"}}}
    db = sqlite3.connect(tmp_path / DB_FILE)
    db.execute("DELETE FROM events")
    db.executemany("INSERT INTO events VALUES (?, ?, ?)", [
        (5, now, "not json"), (6, now, _frame(6, new, "2026-11-23T09:00:01.000Z")),
        (7, now, _frame(7, taken, "2026-11-23T09:00:02.000Z"))])
    db.commit()
    db.close()
    store = SQLiteStore(tmp_path)
    await store.open(build)
    try:
        got = await store.open_cases()
        assert got.head == 7
        assert [(c.case_id, c.status, c.status_since, c.contact_name, c.updated_seq) for c in got.cases] == [
            ("41", "pending", "2026-11-23T09:00:00.000Z", "Maria", 6),
            ("42", "active", "2026-11-23T09:00:02.000Z", None, 7)]
    finally:
        await store.close()


@pytest.mark.parametrize("name", BUILDERS)
async def test_every_older_store_opens_with_its_data(tmp_path: Path, name: str) -> None:
    BUILDERS[name](tmp_path / DB_FILE)
    store = SQLiteStore(tmp_path)
    await store.open(build)
    try:
        assert store.epoch == "ep-old"
        assert [(e.seq, e.frame) for e in await store.read(0, 10)] == [(6, '{"seq":6}'), (7, '{"seq":7}')]
        bounds = await store.bounds()
        assert (bounds.first, bounds.head) == (6, 7)
        token = await store.lookup_token("h-ada")
        assert token is not None and token.name == "ada" and token.departments == ()
        await store.add_token("billing", "h-billing", ("billing",))
        scoped = await store.lookup_token("h-billing")
        assert scoped is not None and scoped.departments == ("billing",)
        again = await store.append(item("k7"))  # the dedupe table came along
        assert again.seq == 7 and again.duplicate
    finally:
        await store.close()
    db = sqlite3.connect(tmp_path / DB_FILE)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == len(MIGRATIONS)
    db.close()


async def test_a_newer_store_is_refused_untouched(tmp_path: Path) -> None:
    _fill(tmp_path / DB_FILE, V0_DEPARTMENTS, version=SCHEMA_VERSION + 1)
    with pytest.raises(ConfigError, match="upgrade trayapp-bridge"):
        await SQLiteStore(tmp_path).open(build)
    db = sqlite3.connect(tmp_path / DB_FILE)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
    assert db.execute("SELECT count(*) FROM events").fetchone() == (2,)
    db.close()


async def test_a_new_store_is_at_the_current_version(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path)
    await store.open(build)
    await store.close()
    db = sqlite3.connect(tmp_path / DB_FILE)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert "departments" in {row[1] for row in db.execute("PRAGMA table_info(tokens)")}
    db.close()
