"""Client tests: offscreen Qt, an in-memory keyring, and config/data dirs in the test's tmp_path.

The real-bridge fixtures (``bridge_factory``, ``bridge``) come from ``tests/integration/conftest.py``.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

from tests.integration.conftest import backend, bridge, bridge_factory  # noqa: F401 - re-exported fixtures
from trayapp.client.connection import Connection
from trayapp.core import wire
from trayapp.model.connection import ConnectionState, ConnectionStatus
from trayapp.model.rows import HistoryRow


class MemoryKeyring(KeyringBackend):
    """A keyring that lives in this process only."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.store.pop((service, username), None) is None:
            raise PasswordDeleteError("not found")


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TRAYAPP_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("TRAYAPP_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    ring = MemoryKeyring()
    keyring.set_keyring(ring)
    try:
        yield ring
    finally:
        keyring.set_keyring(previous)


class Recorder:
    """A connection Listener that records everything and lets tests await conditions (no sleeps)."""

    def __init__(self) -> None:
        self.states: list[ConnectionStatus] = []
        self.events: list[tuple[HistoryRow, bool]] = []
        self.caught_up: list[int] = []
        self.gaps: list[wire.Gap] = []
        self.failures: list[str] = []
        self.skipped: list[tuple[str, str]] = []
        self._changed = asyncio.Event()

    def _poke(self) -> None:
        self._changed.set()

    def on_state(self, status: ConnectionStatus) -> None:
        self.states.append(status)
        self._poke()

    def on_event(self, row: HistoryRow, replay: bool) -> None:
        self.events.append((row, replay))
        self._poke()

    def on_caught_up(self, count: int) -> None:
        self.caught_up.append(count)
        self._poke()

    def on_gap(self, gap: wire.Gap) -> None:
        self.gaps.append(gap)
        self._poke()

    def on_verification_failed(self, reason: str) -> None:
        self.failures.append(reason)
        self._poke()

    def on_event_skipped(self, event_id: str, reason: str) -> None:
        self.skipped.append((event_id, reason))
        self._poke()

    @property
    def state(self) -> ConnectionState | None:
        return self.states[-1].state if self.states else None

    @property
    def seqs(self) -> list[int]:
        return [row.event.seq for row, _ in self.events]

    async def until(self, condition: Any, timeout: float = 10.0) -> None:
        async def wait() -> None:
            while not condition():
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(wait(), timeout)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@contextlib.asynccontextmanager
async def run_connection(conn: Connection) -> AsyncIterator[Connection]:
    """Run ``conn`` in a task for the duration of the block, then cancel it and wait for it to end."""
    task = asyncio.create_task(conn.run())
    try:
        yield conn
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
