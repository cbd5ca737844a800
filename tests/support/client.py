"""The client's test helpers: :class:`Recorder` (a connection listener that records and lets tests await),
:func:`run_connection` and :class:`MemoryKeyring`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

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


class Recorder:
    """A connection Listener that records everything and lets tests await conditions (no sleeps)."""

    def __init__(self) -> None:
        self.states: list[ConnectionStatus] = []
        self.events: list[tuple[HistoryRow, bool]] = []
        self.caught_up: list[int] = []
        self.gaps: list[wire.Gap] = []
        self.failures: list[str] = []
        self.skipped: list[tuple[str, str]] = []
        self.test_alerts: list[Any] = []
        self.configs: list[str] = []
        self.cases: list[Any] = []
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

    def on_test_alert(self, received: Any) -> None:
        self.test_alerts.append(received)
        self._poke()

    def on_config(self, conversation_url: str) -> None:
        self.configs.append(conversation_url)
        self._poke()

    def on_cases(self, snapshot: Any) -> None:
        self.cases.append(snapshot)
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


def quick_delays(delay: float = 0.05) -> Iterator[float]:
    """Reconnect delays for tests: tiny, so a reconnect test does not wait seconds (``Connection(delays=...)``)."""
    while True:
        yield delay


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
