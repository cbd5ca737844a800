"""The local history: every verified event, its read state and the resume cursor, in SQLite.

File: ``<data dir>/history.sqlite3`` (``trayapp.settings.data_dir()``, ``$TRAYAPP_DATA_DIR`` overrides). One
:class:`History` object belongs to one thread (the client's worker thread); nothing here imports Qt.

- :meth:`History.add` stores a verified event and advances the cursor ``(epoch, seq)`` *in the same transaction*, so
  the cursor is never ahead of what is stored (a crash between the two cannot lose an event). Events are deduplicated
  by id: a repeat returns ``None`` (the cursor still advances). An event that cannot be stored for what it contains
  raises :class:`~trayapp.client.errors.EventNotStored` (the connection skips it and moves the cursor past it); a
  database that cannot be written raises :class:`~trayapp.client.errors.HistoryError` (nothing moves). A signed body
  that holds lone surrogates is stored byte-exact as a BLOB (``surrogatepass`` UTF-8) and read back as the same text.
- :meth:`History.cursor` is what the connection resumes from (``since`` + ``epoch``).
- :meth:`History.recent` loads the newest rows fast (the normalised event's fields are stored in columns beside the
  signed body, so loading does not re-run the payload parser; rows come without their body unless asked, to keep
  100k rows small); :meth:`History.older` pages further back; :meth:`History.get` returns one row with its body.
- :meth:`History.prune` applies the retention setting.

Rows are ordered by arrival (an insertion counter), not by ``seq``: a new bridge epoch restarts ``seq``.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from ..core.event import Event, ReceivedEvent
from ..model.describe import NOTIFY_KEYS
from ..model.rows import HistoryRow, RowFilter
from ..private_files import private_database
from ..sqlite_schema import NewerSchema, Step, columns, execute_all, migrate
from .errors import EventNotStored, HistoryError

log = logging.getLogger(__name__)

FILE_NAME: Final = "history.sqlite3"
_EVENT_FIELDS: Final = (
    "kind", "acquire_event", "status", "case_id", "title", "contact_name", "channel", "agent_name", "account", "text",
    "agent_id", "department",
)
_SCHEMA: Final = f"""
CREATE TABLE IF NOT EXISTS events (
    n INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    epoch TEXT NOT NULL,
    seq INTEGER NOT NULL,
    received_at TEXT NOT NULL,
    received_ts REAL NOT NULL,
    body TEXT NOT NULL,
    read INTEGER NOT NULL DEFAULT 0,
    {", ".join(f"{name} TEXT" for name in _EVENT_FIELDS)},
    extra TEXT
);
CREATE INDEX IF NOT EXISTS events_received_ts ON events(received_ts);
CREATE INDEX IF NOT EXISTS events_case ON events(case_id);
CREATE INDEX IF NOT EXISTS events_unread ON events(read) WHERE read = 0;
CREATE TABLE IF NOT EXISTS cursor (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    epoch TEXT NOT NULL,
    seq INTEGER NOT NULL
);
"""


def _create(db: sqlite3.Connection) -> None:
    """Version 1: the tables. (Databases of the first development versions are at version 1 too, with the event's
    fields as JSON in an ``event`` column: step 2 converts those.)"""
    execute_all(db, _SCHEMA)


def _event_columns(db: sqlite3.Connection) -> None:
    """Version 2: every event field in its own column (rows load without parsing JSON; the list's SQL filters on
    them). A version-1 table with the JSON ``event`` column is rebuilt with the fields taken from it."""
    if "event" not in columns(db, "events"):
        return
    fields = ", ".join(_EVENT_FIELDS)
    taken = ", ".join(f"json_extract(event, '$.{name}')" for name in _EVENT_FIELDS)
    db.execute("ALTER TABLE events RENAME TO events_v1")
    for index in ("events_received_ts", "events_case", "events_unread"):
        db.execute(f"DROP INDEX IF EXISTS {index}")
    execute_all(db, _SCHEMA)
    db.execute(
        f"INSERT INTO events (n, id, epoch, seq, received_at, received_ts, body, read, {fields}, extra) "
        f"SELECT n, id, epoch, seq, received_at, received_ts, body, read, {taken}, "
        "CASE WHEN json_type(event, '$.extra') = 'object' AND json_extract(event, '$.extra') != '{}' "
        "THEN json_extract(event, '$.extra') END "
        "FROM events_v1 ORDER BY n"
    )
    db.execute("DROP TABLE events_v1")


#: ``steps[i]`` brings a history at schema version ``i`` to ``i + 1`` (``trayapp.sqlite_schema``).
MIGRATIONS: Final[tuple[Step, ...]] = (_create, _event_columns)
#: The schema version this code writes.
SCHEMA_VERSION: Final = len(MIGRATIONS)

#: One shared empty ``extra`` for all loaded rows (treat ``Event.extra`` as read-only).
_NO_EXTRA: Final[dict[str, Any]] = {}
#: Values that repeat across rows are shared, not copied per row (100k rows must stay small).
_SHARED_FIELDS: Final = frozenset({"kind", "acquire_event", "status", "channel", "agent_name", "account", "agent_id",
                                   "department"})


@dataclass(frozen=True, slots=True)
class Cursor:
    epoch: str
    seq: int


#: Columns the text search looks at (``acquire_event``: the kind label of "other" events).
_SEARCHED = ("case_id", "contact_name", "title", "text", "channel", "agent_name", "acquire_event")


def _keys_sql(keys: Iterable[str], params: list[Any]) -> str:
    """SQL for "the row's notify key is one of ``keys``" (``model.describe.event_key``); appends its parameters."""
    either = []
    for key in sorted(keys):
        if key.startswith("chat.status/"):
            either.append("(kind = 'chat.status' AND status = ?)")
            params.append(key.removeprefix("chat.status/"))
        elif key == "other":
            known = [k.removeprefix("chat.status/") for k in NOTIFY_KEYS if k.startswith("chat.status/")]
            either.append(
                "NOT (coalesce(kind, '') IN ('case.new', 'chat.message', 'agent.status') OR "
                f"(coalesce(kind, '') = 'chat.status' AND coalesce(status, '') IN ({', '.join('?' * len(known))})))")
            params.extend(known)
        else:
            either.append("kind = ?")
            params.append(key)
    return " OR ".join(either) if either else "0"


def filter_sql(row_filter: RowFilter) -> tuple[str, list[Any]]:
    """A condition over the history table's columns that every row ``row_filter.accepts`` meets (a superset: SQLite
    skips the rest of a 100k-row history fast; ``row_filter.accepts`` still decides)."""
    where: list[str] = []
    params: list[Any] = []
    if row_filter.unread_only:
        where.append("read = 0")
    if row_filter.ids is not None and len(row_filter.ids) <= 500:
        where.append(f"id IN ({', '.join('?' * len(row_filter.ids))})" if row_filter.ids else "0")
        params.extend(sorted(row_filter.ids))
    if row_filter.keys is not None:
        where.append(_keys_sql(row_filter.keys, params))
    needle = row_filter.needle
    if needle:
        # SQLite's LIKE ignores the case of ASCII letters only: rows with other characters go to accepts()
        # (an ASCII-only text cannot contain a non-ASCII needle); agent status rows too (label "Agent <status>").
        either = [*(f"length({c}) != length(CAST({c} AS BLOB))" for c in _SEARCHED), "kind = 'agent.status'"]
        if needle.isascii():
            like = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            either += [f"{c} LIKE ? ESCAPE '\\'" for c in _SEARCHED]
            params.extend([like] * len(_SEARCHED))
            labelled = {key for key, label in NOTIFY_KEYS.items() if needle in label.casefold()}
            if needle in "other event":
                labelled.add("other")
            if labelled:  # the needle is part of a kind label: rows of those kinds
                either.append(_keys_sql(labelled, params))
        where.append(" OR ".join(either))
    return " AND ".join(f"({w})" for w in where), params


class Search:
    """The newest ``limit`` rows (without bodies) of the whole history that ``row_filter`` accepts, newest first,
    walked in pages of ``chunk`` (:meth:`History.scan`, pre-filtered by :func:`filter_sql`). Call :meth:`step` until
    it returns True (the client's worker serves the connection between steps); then :attr:`found` and
    :attr:`more` (whether more rows match) are the answer."""

    def __init__(self, history: History, row_filter: RowFilter, limit: int, *, chunk: int = 2000) -> None:
        self._history = history
        self._filter = row_filter
        self._where, self._params = filter_sql(row_filter)
        self._limit = limit
        self._chunk = chunk
        self._before: int | None = None
        self.found: list[HistoryRow] = []
        self.more = False

    def step(self) -> bool:
        """Look at one more page; True when the answer is complete."""
        rows, self._before = self._history.scan(self._before, self._chunk, self._where, self._params)
        for row in rows:
            if self._filter(row):
                if len(self.found) == self._limit:
                    self.more = True
                    return True
                self.found.append(row)
        return self._before is None


def _timestamp(received_at: str) -> float:
    try:
        return datetime.fromisoformat(received_at.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return time.time()


class History:
    """SQLite-backed history; use it from one thread. ``path=":memory:"`` for a throw-away one."""

    def __init__(self, path: Path | str) -> None:
        self.path = path
        try:
            if isinstance(path, Path):
                private_database(path)  # 0600 before SQLite opens it: its -wal/-shm files get the same mode
            self._db = sqlite3.connect(str(path), isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise HistoryError(f"cannot open the history database {path}: {exc}") from None
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=5000")
            migrate(self._db, MIGRATIONS, f"the history database {path}")
        except NewerSchema:
            self._db.close()
            raise HistoryError(f"the history database {path} was written by a newer trayapp") from None
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise HistoryError(f"the history database {path} is damaged: {exc}") from None
        except HistoryError:
            self._db.close()
            raise

    @classmethod
    def open_default(cls) -> History:
        from ..settings import data_dir

        return cls(data_dir() / FILE_NAME)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the stream ---

    def cursor(self) -> Cursor | None:
        row = self._db.execute("SELECT epoch, seq FROM cursor WHERE one = 1").fetchone()
        return Cursor(row[0], row[1]) if row else None

    def _advance(self, epoch: str, seq: int) -> None:
        # Only forward within an epoch; a new epoch replaces the cursor.
        self._db.execute(
            "INSERT INTO cursor (one, epoch, seq) VALUES (1, ?, ?) "
            "ON CONFLICT(one) DO UPDATE SET epoch = excluded.epoch, seq = excluded.seq "
            "WHERE cursor.epoch != excluded.epoch OR cursor.seq < excluded.seq",
            (epoch, seq),
        )

    def add(self, received: ReceivedEvent, epoch: str) -> HistoryRow | None:
        """Store a verified event and advance the cursor, atomically; ``None`` if its id is already stored.

        Raises :class:`EventNotStored` when this event cannot be stored, :class:`HistoryError` when nothing can."""
        try:
            return self._add(received, epoch)
        except (sqlite3.IntegrityError, sqlite3.DataError, sqlite3.InterfaceError, sqlite3.ProgrammingError,
                ValueError, TypeError, OverflowError) as exc:  # UnicodeEncodeError is a ValueError
            if isinstance(exc, sqlite3.ProgrammingError) and not self._usable():
                raise HistoryError(f"cannot store an event in the history: {exc}") from None
            raise EventNotStored(f"cannot store event {received.id!r}: {type(exc).__name__}: {exc}") from None
        except sqlite3.Error as exc:
            raise HistoryError(f"cannot store an event in the history: {exc}") from None

    def _usable(self) -> bool:
        try:
            self._db.execute("SELECT 1").fetchone()
        except sqlite3.Error:
            return False
        return True

    def _add(self, received: ReceivedEvent, epoch: str) -> HistoryRow | None:
        event = received.event
        extra = json.dumps(event.extra, ensure_ascii=False, separators=(",", ":")) if event.extra else None
        values = [getattr(event, name) for name in _EVENT_FIELDS]
        body: str | bytes = received.body
        if not received.body.isascii():
            try:
                received.body.encode("utf-8")
            except UnicodeEncodeError:
                body = received.body.encode("utf-8", "surrogatepass")
        with self._transaction():
            cur = self._db.execute(
                f"INSERT OR IGNORE INTO events (id, epoch, seq, received_at, received_ts, body, "
                f"{', '.join(_EVENT_FIELDS)}, extra) VALUES ({', '.join('?' * (len(_EVENT_FIELDS) + 7))})",
                (
                    received.id,
                    epoch,
                    received.seq,
                    received.received_at,
                    _timestamp(received.received_at),
                    body,
                    *values,
                    extra,
                ),
            )
            self._advance(epoch, received.seq)
        return HistoryRow(received, False) if cur.rowcount == 1 else None

    def skip_to(self, epoch: str, seq: int) -> None:
        """Move the cursor past events that cannot be delivered (a reported gap)."""
        with self._transaction():
            self._advance(epoch, seq)

    # --- reading ---

    def _rows(self, where: str, params: Sequence[Any], bodies: bool, seen: list[int] | None = None) -> list[
            HistoryRow]:
        """Rows of ``SELECT … FROM events {where}``; ``seen`` (when given) gets ``[rows read, n of the last]``."""
        body_column = "body" if bodies else "''"
        sql = (
            f"SELECT n, id, seq, received_at, {body_column}, read, extra, {', '.join(_EVENT_FIELDS)} "
            f"FROM events {where}"
        )
        shared: dict[str, str] = {}
        share = shared.setdefault
        shared_at = [i for i, name in enumerate(_EVENT_FIELDS) if name in _SHARED_FIELDS]
        out = []
        read_rows = last_n = 0
        for n, id_, seq, received_at, body, read, extra, *fields in self._db.execute(sql, params):
            read_rows += 1
            last_n = n
            if isinstance(body, bytes):  # a body with lone surrogates (see the module doc)
                body = body.decode("utf-8", "surrogatepass")
            for i in shared_at:
                value = fields[i]
                if value is not None:
                    fields[i] = share(value, value)
            try:
                event = Event(*fields, extra=json.loads(extra) if extra else _NO_EXTRA)  # type: ignore[misc]
            except (ValueError, TypeError) as exc:
                log.warning("history: skipping unreadable row %s: %s", id_, exc)
                continue
            out.append(HistoryRow(ReceivedEvent(seq, id_, received_at, body, event), bool(read)))
        if seen is not None:
            seen[:] = [read_rows, last_n]
        return out

    def recent(self, limit: int | None = None, *, bodies: bool = False) -> list[HistoryRow]:
        """The newest ``limit`` rows (all when ``None``), newest first.

        Without ``bodies`` the rows carry ``body=""`` (the signed webhook body stays in the database; :meth:`get`
        has it): 100k rows then take ~40 MB instead of well over 100 MB.
        """
        return self._rows("ORDER BY n DESC LIMIT ?", (limit or -1,), bodies)

    def older(self, than_id: str, limit: int, *, bodies: bool = False) -> list[HistoryRow]:
        """Up to ``limit`` rows stored before the event ``than_id``, newest first."""
        return self._rows(
            "WHERE n < (SELECT n FROM events WHERE id = ?) ORDER BY n DESC LIMIT ?", (than_id, limit), bodies
        )

    def scan(self, before_n: int | None, limit: int, where: str = "", params: Sequence[Any] = ()) -> tuple[
            list[HistoryRow], int | None]:
        """One page of a newest-first walk over the whole history: up to ``limit`` rows (without bodies) stored
        before the insertion counter ``before_n`` (``None``: from the newest) that pass the SQL condition ``where``
        (over the columns of ``events``, with ``params``), and the counter to continue from (``None`` at the end)."""
        start = before_n if before_n is not None else 2**62
        cond = f"WHERE n < ? AND ({where})" if where else "WHERE n < ?"
        args = (start, *params, limit)
        seen: list[int] = []  # [rows read, last n]
        rows = self._rows(f"{cond} ORDER BY n DESC LIMIT ?", args, False, seen)
        return rows, (seen[1] if seen and seen[0] == limit else None)

    def get(self, event_id: str) -> HistoryRow | None:
        """One row, with its signed body."""
        rows = self._rows("WHERE id = ?", (event_id,), True)
        return rows[0] if rows else None

    def count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM events").fetchone()[0])

    def unread_count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM events WHERE read = 0").fetchone()[0])

    # --- read state ---

    def mark_read(self, ids: Iterable[str], read: bool = True) -> list[str]:
        """Set the read state; returns the ids whose state changed."""
        changed: list[str] = []
        with self._transaction():
            for event_id in dict.fromkeys(ids):
                cur = self._db.execute(
                    "UPDATE events SET read = ? WHERE id = ? AND read != ?", (int(read), event_id, int(read))
                )
                if cur.rowcount:
                    changed.append(event_id)
        return changed

    def mark_all_read(self) -> list[str]:
        with self._transaction():
            ids = [r[0] for r in self._db.execute("SELECT id FROM events WHERE read = 0")]
            self._db.execute("UPDATE events SET read = 1 WHERE read = 0")
        return ids

    # --- retention ---

    def prune(self, retention_days: int, now: float | None = None) -> int:
        """Delete events received more than ``retention_days`` ago; returns how many."""
        cutoff = (now if now is not None else time.time()) - retention_days * 86400
        with self._transaction():
            cur = self._db.execute("DELETE FROM events WHERE received_ts < ?", (cutoff,))
        if cur.rowcount:
            log.info("history: pruned %d events older than %d days", cur.rowcount, retention_days)
        return cur.rowcount

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")


class MemoryCursor:
    """The :class:`History` stream interface without storage (``trayapp listen`` without ``--data-dir``)."""

    MAX_SEEN: Final = 50_000

    def __init__(self, cursor: Cursor | None = None) -> None:
        self._cursor = cursor
        self._seen: dict[str, None] = {}  # insertion-ordered, bounded

    def cursor(self) -> Cursor | None:
        return self._cursor

    def add(self, received: ReceivedEvent, epoch: str) -> HistoryRow | None:
        self.skip_to(epoch, received.seq)
        if received.id in self._seen:
            return None
        self._seen[received.id] = None
        if len(self._seen) > self.MAX_SEEN:
            del self._seen[next(iter(self._seen))]
        return HistoryRow(received, False)

    def skip_to(self, epoch: str, seq: int) -> None:
        if self._cursor is None or self._cursor.epoch != epoch or self._cursor.seq < seq:
            self._cursor = Cursor(epoch, seq)
