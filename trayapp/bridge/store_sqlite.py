"""The embedded backend: one SQLite database (WAL, ``synchronous=FULL``) in the data dir.

One writer thread owns the write connection and does **group commits**: it takes every append waiting in its queue
(up to ``MAX_BATCH``), assigns seqs, checks and stores dedupe keys, builds the signed frames and commits them in one
transaction; only then are the callers' futures resolved (so ``200`` means durable) and the listeners called, in
seq order, in the event loop. Reads go through a small pool of reader connections (WAL readers never block the
writer). Token changes made by other processes (``trayapp-bridge token revoke``) are seen through the
``token_gen`` counter in the ``meta`` table.

Every event's case update (``NewEvent.case``) is folded into the ``cases`` table (:func:`fold_cases`,
``core.cases.merge``) in the batch's transaction; schema step 3 folds the events a store already had.

Frames stored by a protocol-1 bridge (no ``epoch`` in the frame, the old signature) are signed again for protocol 2
as they are read, with their event's text fields made safe (:func:`upgraded_frame`), so an upgraded bridge keeps
replaying what it had stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..core import cases, text
from ..core.cases import CaseState
from ..private_files import private_database
from ..sqlite_schema import NewerSchema, Step, columns, execute_all, migrate
from . import keys
from .errors import BadRequest, ConfigError, StoreClosed, StoreUnavailable
from .store import (
    DEFAULT_DEDUPE_WINDOW_S,
    AppendResult,
    Bounds,
    FrameBuilder,
    NewEvent,
    OpenCases,
    Store,
    StoredEvent,
    TokenInfo,
    within_bytes,
)

DB_FILE = "bridge.sqlite3"
MAX_BATCH = 512
T = TypeVar("T")

#: Version 1: the tables as the first bridge created them (databases from before ``user_version`` was kept are at 0
#: with these tables: the step changes nothing there).
SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, received_ts REAL NOT NULL, frame TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_received ON events (received_ts);
CREATE TABLE IF NOT EXISTS dedupe (key TEXT PRIMARY KEY, seq INTEGER NOT NULL, received_ts REAL NOT NULL);
CREATE INDEX IF NOT EXISTS dedupe_received ON dedupe (received_ts);
CREATE TABLE IF NOT EXISTS tokens (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL, revoked_at TEXT
);
CREATE INDEX IF NOT EXISTS tokens_name ON tokens (name);
"""


def _create(conn: sqlite3.Connection) -> None:
    execute_all(conn, SCHEMA_V1)


def _token_departments(conn: sqlite3.Connection) -> None:
    """Version 2: tokens scoped to departments (a JSON list; ``[]``: every event)."""
    if "departments" not in columns(conn, "tokens"):
        conn.execute("ALTER TABLE tokens ADD COLUMN departments TEXT NOT NULL DEFAULT '[]'")


_CASE_COLUMNS: Final = ("case_id", "status", "status_since", "ord", "updated_seq", "updated_ts", *cases.FIELDS,
                        "first_message")
CASES_V3 = """
CREATE TABLE IF NOT EXISTS cases (
    case_id TEXT PRIMARY KEY, status TEXT NOT NULL, status_since TEXT NOT NULL, ord INTEGER NOT NULL,
    updated_seq INTEGER NOT NULL, updated_ts REAL NOT NULL, contact_name TEXT, title TEXT, channel TEXT,
    department TEXT, agent_name TEXT, first_message TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS cases_open ON cases (status_since, case_id) WHERE status != 'closed';
CREATE INDEX IF NOT EXISTS cases_closed ON cases (updated_ts) WHERE status = 'closed'
"""


def _row(state: CaseState) -> tuple[Any, ...]:
    return (state.case_id, state.status, state.status_since, state.order, state.updated_seq, state.updated_ts,
            *(getattr(state, name) for name in cases.FIELDS), state.first_message)


def _state(row: sqlite3.Row | tuple[Any, ...]) -> CaseState:
    return cases.state_from_json(dict(zip(("order" if c == "ord" else c for c in _CASE_COLUMNS), row, strict=True)))


_SELECT_CASES = f"SELECT {', '.join(_CASE_COLUMNS)} FROM cases"
_UPSERT_CASE = f"INSERT OR REPLACE INTO cases VALUES ({', '.join('?' * len(_CASE_COLUMNS))})"


def fold_cases(conn: sqlite3.Connection, updates: list[tuple[int, float, cases.CaseUpdate]]) -> None:
    """Fold ``(seq, received_ts, update)`` (ascending seqs) into the ``cases`` table, in the caller's transaction."""
    if not updates:
        return
    ids = list({update.case_id for _, _, update in updates})
    states: dict[str, CaseState] = {}
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        for row in conn.execute(f"{_SELECT_CASES} WHERE case_id IN ({','.join('?' * len(chunk))})", chunk):
            states[row[0]] = _state(row)
    changed: dict[str, CaseState] = {}
    for seq, ts, update in updates:
        changed[update.case_id] = states[update.case_id] = cases.merge(states.get(update.case_id), update, seq, ts)
    conn.executemany(_UPSERT_CASE, [_row(state) for state in changed.values()])


def _cases(conn: sqlite3.Connection) -> None:
    """Version 3: the state of every case (``core.cases``), folded from the events the store still has."""
    execute_all(conn, CASES_V3)
    last = 0
    while True:
        rows = conn.execute("SELECT seq, received_ts, frame FROM events WHERE seq > ? ORDER BY seq LIMIT 1000",
                            (last,)).fetchall()
        if not rows:
            return
        updates = []
        for seq, ts, frame in rows:
            last = seq
            with contextlib.suppress(ValueError, KeyError, TypeError, RecursionError):
                data = json.loads(frame)
                payload = json.loads(data["body"])
                update = cases.update_of(payload, data["event"], data["received_at"]) \
                    if isinstance(payload, dict) and isinstance(data["event"], dict) else None
                if update is not None:
                    updates.append((seq, float(ts), update))
        fold_cases(conn, updates)


#: ``MIGRATIONS[i]`` brings a store at schema version ``i`` to ``i + 1`` (``trayapp.sqlite_schema``).
MIGRATIONS: Final[tuple[Step, ...]] = (_create, _token_departments, _cases)
SCHEMA_VERSION: Final = len(MIGRATIONS)


_PROTOCOL_1_FRAME = re.compile(r'\{"type":"event","seq":\d+,"id":')  # protocol 2 has the epoch after the seq


def upgraded_frame(seq: int, received_ts: float, frame: str, builder: FrameBuilder) -> str:
    """A stored protocol-1 event frame, built again (signed for protocol 2) by ``builder``."""
    old = json.loads(frame)
    event = {name: text.field(name, value) if name in text.CAPS and isinstance(value, str) else value
             for name, value in old["event"].items()}
    event["acquire_event"] = event.get("acquire_event") or ""
    return builder(seq, NewEvent(body=old["body"], event=event, dedupe_key="", received_at=old["received_at"],
                                 received_ts=received_ts, id=old["id"]))


def _now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)
    conn.execute("PRAGMA busy_timeout = 10000")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    return conn


class _Append:
    __slots__ = ("future", "item")

    def __init__(self, item: NewEvent, future: asyncio.Future[AppendResult]) -> None:
        self.item = item
        self.future = future


class _Call:
    __slots__ = ("fn", "future")

    def __init__(self, fn: Callable[[sqlite3.Connection], Any], future: asyncio.Future[Any]) -> None:
        self.fn = fn
        self.future = future


def _token_info(name: str, created_at: str, revoked_at: str | None, departments: str) -> TokenInfo:
    return TokenInfo(name, created_at, revoked_at, tuple(json.loads(departments or "[]")))


class SQLiteStore(Store):
    def __init__(self, data_dir: Path, dedupe_window: float = DEFAULT_DEDUPE_WINDOW_S) -> None:
        super().__init__(dedupe_window)
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / DB_FILE
        self._epoch = ""
        self._head = 0  # last seq published in the loop
        self._first = 1
        self._frame_builder: FrameBuilder | None = None
        self._jobs: queue.SimpleQueue[_Append | _Call | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._readers: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = True
        self._key: Ed25519PrivateKey | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    async def open(self, frame_builder: FrameBuilder | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        self._frame_builder = frame_builder
        private_database(self.path)  # 0600 before SQLite opens it: its -wal/-shm files get the same mode
        wconn = await asyncio.to_thread(self._init_db)
        self._readers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="bridge-sqlite-read")
        self._closed = False
        self._writer = threading.Thread(target=self._write_loop, args=(wconn,), name="bridge-sqlite-writer",
                                        daemon=True)
        self._writer.start()

    def _init_db(self) -> sqlite3.Connection:
        conn = connect(self.path)
        try:
            migrate(conn, MIGRATIONS, f"the bridge database {self.path}")
        except NewerSchema as exc:
            conn.close()
            raise ConfigError(f"{exc}: upgrade trayapp-bridge") from None
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('epoch', ?)", (secrets.token_hex(8),))
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('head', '0')")
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('token_gen', '0')")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        self._epoch = meta["epoch"]
        max_seq = conn.execute("SELECT MAX(seq), MIN(seq) FROM events").fetchone()
        self._head = max(int(meta["head"]), max_seq[0] or 0)
        self._first = max_seq[1] if max_seq[1] is not None else self._head + 1
        return conn

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._jobs.put(None)
        if self._writer is not None:
            await asyncio.to_thread(self._writer.join)
        if self._readers is not None:
            self._readers.shutdown(wait=True)
        with self._lock:
            for conn in self._reader_conns:
                conn.close()
            self._reader_conns.clear()

    @property
    def epoch(self) -> str:
        return self._epoch

    # -- writer thread ---------------------------------------------------------------------------
    def _write_loop(self, conn: sqlite3.Connection) -> None:
        head = self._head
        try:
            while True:
                job = self._jobs.get()
                if job is None:
                    return
                batch: list[_Append] = []
                stop = False
                while job is not None:
                    if isinstance(job, _Call):
                        if batch:
                            head = self._commit_batch(conn, batch, head)
                            batch = []
                        self._run_call(conn, job)
                    else:
                        batch.append(job)
                        if len(batch) >= MAX_BATCH:
                            head = self._commit_batch(conn, batch, head)
                            batch = []
                    try:
                        job = self._jobs.get_nowait()
                    except queue.Empty:
                        break
                    if job is None:
                        stop = True
                if batch:
                    head = self._commit_batch(conn, batch, head)
                if stop:
                    return
        finally:
            conn.close()

    def _commit_batch(self, conn: sqlite3.Connection, batch: list[_Append], head: int) -> int:
        assert self._frame_builder is not None, "open(frame_builder=...) is required to append"
        results: list[AppendResult] = []
        new: list[StoredEvent] = []
        new_head = head
        try:
            conn.execute("BEGIN IMMEDIATE")
            cutoff = time.time() - self.dedupe_window
            keys = list({job.item.dedupe_key for job in batch})
            known: dict[str, int] = {}
            for i in range(0, len(keys), 500):
                chunk = keys[i:i + 500]
                marks = ",".join("?" * len(chunk))
                for key, seq, ts in conn.execute(
                        f"SELECT key, seq, received_ts FROM dedupe WHERE key IN ({marks})", chunk):
                    if ts >= cutoff:
                        known[key] = seq
            rows: list[tuple[int, float, str]] = []
            dedupe: list[tuple[str, int, float]] = []
            updates: list[tuple[int, float, cases.CaseUpdate]] = []
            for job in batch:
                item = job.item
                seq = known.get(item.dedupe_key)
                if seq is not None:  # accepted before, or earlier in this batch
                    results.append(AppendResult(seq, True))
                    continue
                new_head += 1
                frame = self._frame_builder(new_head, item)
                rows.append((new_head, item.received_ts, frame))
                dedupe.append((item.dedupe_key, new_head, item.received_ts))
                known[item.dedupe_key] = new_head
                if item.case is not None:
                    updates.append((new_head, item.received_ts, item.case))
                results.append(AppendResult(new_head, False))
                new.append(StoredEvent(new_head, item.received_ts, frame))
            conn.executemany("INSERT INTO events VALUES (?, ?, ?)", rows)
            conn.executemany("INSERT OR REPLACE INTO dedupe VALUES (?, ?, ?)", dedupe)
            fold_cases(conn, updates)
            if new:
                conn.execute("UPDATE meta SET value = ? WHERE key = 'head'", (str(new_head),))
            conn.execute("COMMIT")
        except Exception as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            err = StoreUnavailable(f"store write failed: {exc}")
            self._resolve(lambda: [self._fail(j.future, err) for j in batch])
            return head
        self._resolve(lambda: self._batch_done(batch, results, new))
        return new_head

    def _run_call(self, conn: sqlite3.Connection, job: _Call) -> None:
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                value = job.fn(conn)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except Exception as exc:
            error = exc
            self._resolve(lambda: self._fail(job.future, error))
            return
        self._resolve(lambda: None if job.future.done() else job.future.set_result(value))

    def _resolve(self, fn: Callable[[], Any]) -> None:
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # loop already closed: nobody waits any more
            self._loop.call_soon_threadsafe(fn)

    @staticmethod
    def _fail(future: asyncio.Future[Any], exc: Exception) -> None:
        if not future.done():
            future.set_exception(exc)

    def _batch_done(self, batch: list[_Append], results: list[AppendResult], new: list[StoredEvent]) -> None:
        if new:
            self._head = new[-1].seq
        for job, result in zip(batch, results, strict=True):
            if not job.future.done():
                job.future.set_result(result)
        if new:
            self._notify(new)

    async def _submit(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed:
            raise StoreClosed("store is closed")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._jobs.put(_Call(fn, future))
        return await future

    # -- readers ---------------------------------------------------------------------------------
    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path)
            self._local.conn = conn
            with self._lock:
                self._reader_conns.append(conn)
        return conn

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed or self._readers is None:
            raise StoreClosed("store is closed")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._readers, lambda: fn(self._reader()))
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"store read failed: {exc}") from exc
        except RuntimeError as exc:  # executor shut down
            raise StoreClosed("store is closed") from exc

    async def ping(self) -> None:
        await self._read(lambda c: c.execute("SELECT 1").fetchone())

    # -- events ----------------------------------------------------------------------------------
    async def append(self, item: NewEvent) -> AppendResult:
        if self._closed:
            raise StoreClosed("store is closed")
        future: asyncio.Future[AppendResult] = asyncio.get_running_loop().create_future()
        self._jobs.put(_Append(item, future))
        return await future

    async def read(self, since: int, limit: int, max_bytes: int | None = None) -> list[StoredEvent]:
        rows = await self._read(lambda c: [(r.seq, r.received_ts, r.frame) for r in within_bytes(
            (StoredEvent(*row) for row in c.execute(
                "SELECT seq, received_ts, frame FROM events WHERE seq > ? ORDER BY seq LIMIT ?", (since, limit))),
            max_bytes)])
        builder = self._frame_builder
        return [StoredEvent(seq, ts, upgraded_frame(seq, ts, frame, builder)
                            if builder is not None and _PROTOCOL_1_FRAME.match(frame) else frame)
                for seq, ts, frame in rows]

    async def bounds(self) -> Bounds:
        return Bounds(first=min(self._first, self._head + 1), head=self._head)

    async def prune(self, older_than_ts: float) -> int:
        def run(conn: sqlite3.Connection) -> tuple[int, int | None]:
            n = conn.execute("DELETE FROM events WHERE received_ts < ?", (older_than_ts,)).rowcount
            conn.execute("DELETE FROM dedupe WHERE received_ts < ?", (time.time() - self.dedupe_window,))
            conn.execute("DELETE FROM cases WHERE status = 'closed' AND updated_ts < ?", (older_than_ts,))
            first = conn.execute("SELECT MIN(seq) FROM events").fetchone()[0]
            return n, first

        n, first = await self._submit(run)
        self._first = first if first is not None else self._head + 1
        return n

    async def open_cases(self) -> OpenCases:
        def run(conn: sqlite3.Connection) -> OpenCases:
            conn.execute("BEGIN")  # one read transaction: the head and the cases of the same commit
            try:
                head = int(conn.execute("SELECT value FROM meta WHERE key = 'head'").fetchone()[0])
                rows = conn.execute(f"{_SELECT_CASES} WHERE status != 'closed' ORDER BY status_since, case_id"
                                    ).fetchall()
            finally:
                conn.execute("COMMIT")
            return OpenCases(head, [_state(row) for row in rows])

        return await self._read(run)

    # -- tokens ----------------------------------------------------------------------------------
    async def add_token(self, name: str, token_hash: str, departments: tuple[str, ...] = ()) -> None:
        def run(conn: sqlite3.Connection) -> None:
            if conn.execute("SELECT 1 FROM tokens WHERE name = ? AND revoked_at IS NULL", (name,)).fetchone():
                raise BadRequest(f"a token named {name!r} already exists (revoke it first)")
            conn.execute("INSERT INTO tokens (name, hash, created_at, departments) VALUES (?, ?, ?, ?)",
                         (name, token_hash, _now_text(), json.dumps(list(departments))))

        await self._write_anywhere(run)

    async def list_tokens(self) -> list[TokenInfo]:
        rows = await self._read(lambda c: c.execute(
            "SELECT name, created_at, revoked_at, departments FROM tokens ORDER BY id").fetchall())
        return [_token_info(*row) for row in rows]

    async def revoke_token(self, name: str) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            n = conn.execute("UPDATE tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
                             (_now_text(), name)).rowcount
            if n:
                conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'token_gen'")
            return bool(n)

        return await self._write_anywhere(run)

    async def lookup_token(self, token_hash: str) -> TokenInfo | None:
        row = await self._read(lambda c: c.execute(
            "SELECT name, created_at, revoked_at, departments FROM tokens WHERE hash = ?", (token_hash,)).fetchone())
        return _token_info(*row) if row else None

    async def token_generation(self) -> int:
        row = await self._read(lambda c: c.execute("SELECT value FROM meta WHERE key = 'token_gen'").fetchone())
        return int(row[0])

    async def _write_anywhere(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self._submit(fn)

    # -- signing key -----------------------------------------------------------------------------
    async def signing_key(self) -> Ed25519PrivateKey:
        if self._key is None:
            self._key = await asyncio.to_thread(keys.load_or_create, self.data_dir / keys.KEY_FILE)
        return self._key
