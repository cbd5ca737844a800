"""Schema versions of the SQLite databases (the bridge's store, the app's history): ``PRAGMA user_version`` and
ordered steps.

A database says which version it is at in ``PRAGMA user_version`` (0: new, or older than versioning). ``steps[i]``
brings a database from version ``i`` to ``i + 1``; :func:`migrate` runs the ones a database is missing, each in its
own transaction together with the new version number, so a crash leaves a database at a version it fully has. A
database of a newer version than the steps know is refused (:class:`NewerSchema`), never written to.

Steps are plain functions of the connection and must not commit themselves (``executescript`` does: use
``execute``). Write each step so it also works on the shapes that version had in the field.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence

log = logging.getLogger(__name__)

Step = Callable[[sqlite3.Connection], None]


class NewerSchema(Exception):
    """The database was written by a newer version of the program."""


def version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, steps: Sequence[Step], what: str) -> int:
    """Bring the database of ``conn`` (``isolation_level=None``) to ``len(steps)``; returns the version it had."""
    start = version(conn)
    if start > len(steps):
        raise NewerSchema(f"{what} is at schema version {start}; this version of trayapp knows up to {len(steps)}")
    for number in range(start, len(steps)):
        conn.execute("BEGIN IMMEDIATE")
        try:
            if version(conn) == number:  # another process may have done it meanwhile
                steps[number](conn)
                conn.execute(f"PRAGMA user_version = {number + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        if number:
            log.info("%s: schema version %d -> %d", what, number, number + 1)
    return start


def statements(script: str) -> list[str]:
    """The statements of a ``;``-separated script without semicolons in its literals (for :func:`execute_all`)."""
    return [s.strip() for s in script.split(";") if s.strip()]


def execute_all(conn: sqlite3.Connection, script: str) -> None:
    """Run a schema script inside the caller's transaction (``executescript`` would commit it)."""
    for statement in statements(script):
        conn.execute(statement)


def columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
