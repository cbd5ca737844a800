"""``ClientSession``: the desktop client without Qt — an asyncio loop that owns the
:class:`~trayapp.client.connection.Connection` and the :class:`~trayapp.client.history.History` (contract:
``docs/architecture.md``, "Desktop app contract").

:meth:`ClientSession.run` is the loop's main coroutine (the Qt face, ``trayapp.ui.client_service.ClientService``, runs
it in its worker ``QThread``). The other public methods may be called from any thread: they only post work to that
loop and return at once. What happens is told to ``events`` (a :class:`SessionEvents`), from the loop's thread.

``history_loaded`` holds only the newest ``history_limit`` rows (the GUI's window; older ones are paged in with
``load_older`` -> ``older_loaded``), without their signed body (``row.event.body == ""``); rows of ``event_received``
carry it. ``counts_changed(total, unread)`` gives the whole history's counts; ``search`` finds matching rows anywhere in
the history (``search_finished``). Beyond the contract: ``status`` (the last ConnectionStatus) and
``verification_failures`` and ``skipped_events`` (counts).

Reconnects at once on wake from sleep (a cheap check every 30 s that notices the wall clock jumping ahead of the
monotonic clock) and when told the network changed (:meth:`ClientSession.reconnect_now`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from ..core import wire
from ..core.cases import Snapshot
from ..core.event import ReceivedEvent
from ..model.connection import ConnectionState, ConnectionStatus
from ..model.rows import HistoryRow, RowFilter
from ..settings import Settings
from . import credentials
from .connection import Connection, ConnectionConfig, host_of
from .errors import ClientError, NotConfigured
from .events import SessionEvents
from .history import FILE_NAME, History
from .history_jobs import HistoryJobs
from .proof import failed
from .test_alert import request_test_alert

log = logging.getLogger(__name__)

WAKE_CHECK_S: Final = 30.0
WAKE_JUMP_S: Final = 15.0
PRUNE_EVERY_S: Final = 3600.0
#: Rows ``history_loaded`` delivers: the GUI holds this window of the newest events and pages older ones on demand
#: (each held row costs ~760 B; 100k rows would put the app ~70 MiB over its memory target).
HISTORY_WINDOW: Final = 3000


def woke_from_sleep(last_wall: float, last_mono: float, wall: float, mono: float) -> bool:
    """The wall clock ran ahead of the monotonic one (which stands still while the computer sleeps)."""
    return (wall - last_wall) - (mono - last_mono) > WAKE_JUMP_S


class ClientSession:
    """See the module doc. ``data_dir`` (default ``settings.data_dir()``) holds ``history.sqlite3``."""

    def __init__(
        self,
        settings: Settings,
        events: SessionEvents,
        *,
        data_dir: Path | None = None,
        history_limit: int | None = HISTORY_WINDOW,
        token_loader: Callable[[str], str | None] | None = None,
        connection_options: dict[str, Any] | None = None,
    ) -> None:
        self._events = events
        self._settings = settings
        self._data_dir = data_dir
        self._history_limit = history_limit
        self._token_loader = token_loader or credentials.load_token
        self._options = dict(connection_options or {})
        self._lock = threading.Lock()
        self._pending: list[Callable[[], Any]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._status = ConnectionStatus(ConnectionState.CONNECTING, detail="starting")
        self._history: History | None = None
        self._connection: Connection | None = None
        self._conn_task: asyncio.Task[None] | None = None
        self._conn_key: tuple[Any, ...] | None = None
        self._jobs: HistoryJobs | None = None  # the work on the history, once it is open
        self._tasks: set[asyncio.Task[None]] = set()
        # Read from other threads for tests/diagnostics; written only by the loop.
        self.verification_failures = 0
        self.skipped_events = 0

    # --- public API (any thread) ---

    @property
    def status(self) -> ConnectionStatus:
        return self._status

    def stop(self) -> None:
        """Ask :meth:`run` to close the connection and the history and return."""
        self._post(self._request_stop)

    def reconnect_now(self) -> None:
        self._post(self._do_reconnect)

    def mark_read(self, ids: list[str]) -> None:
        ids = list(ids)
        self._post(lambda: self._with_jobs(lambda jobs: jobs.mark(ids, True)))

    def mark_unread(self, ids: list[str]) -> None:
        ids = list(ids)
        self._post(lambda: self._with_jobs(lambda jobs: jobs.mark(ids, False)))

    def mark_all_read(self) -> None:
        self._post(lambda: self._with_jobs(HistoryJobs.mark_all))

    def apply_settings(self, settings: Settings) -> None:
        self._post(lambda: self._do_apply(settings))

    def load_older(self, before_id: str, limit: int) -> None:
        """Up to ``limit`` rows stored before ``before_id`` -> ``older_loaded(before_id, rows)`` (newest first)."""
        self._post(lambda: self._jobs.older(before_id, limit) if self._jobs else self._events.older_loaded(
            before_id, []))

    def load_event(self, event_id: str) -> None:
        """One stored event with its signed body -> ``event_loaded(event_id, row or None)``."""
        self._post(lambda: self._jobs.load(event_id) if self._jobs else self._events.event_loaded(event_id, None))

    def send_test_alert(self) -> None:
        """*Send me a test alert*: ask the bridge (with this connection's token) for a test alert ->
        ``test_alert_sent(ok, words, detail)``; the alert itself arrives as ``test_alert(ReceivedEvent)``."""
        self._post(self._do_test_alert)

    def search(self, request: int, row_filter: RowFilter, limit: int) -> None:
        """The newest ``limit`` rows of the whole history that ``row_filter`` accepts (``history.Search``: SQLite
        narrows the rows first) -> ``search_finished(request, rows, more)``. A newer search cancels a running one."""
        self._post(lambda: self._jobs.search(request, row_filter, limit) if self._jobs else
                   self._events.search_finished(request, [], False))

    # --- posting work to the worker loop ---

    def _with_jobs(self, work: Callable[[HistoryJobs], None]) -> None:
        if self._jobs is not None:  # (no history: nothing to mark)
            work(self._jobs)

    def _post(self, fn: Callable[[], Any]) -> None:
        with self._lock:
            loop = self._loop
            if loop is None:
                self._pending.append(fn)
                return
        try:
            loop.call_soon_threadsafe(fn)
        except RuntimeError:  # the loop has already closed (after stop)
            log.debug("client: work posted after stop ignored")

    # --- the loop's thread ---

    def run_in_thread(self) -> None:
        """Run :meth:`run` on a new asyncio loop until :meth:`stop` (the body of the worker thread)."""
        try:
            asyncio.run(self.run())
        except Exception:  # pragma: no cover - a bug; keep the GUI alive and say so
            log.exception("client: the worker stopped unexpectedly")
            self._emit_state(ConnectionState.ERROR, "internal error in the connection (see the log)")

    async def run(self) -> None:
        self._stopping = asyncio.Event()
        try:
            self._history = self._open_history()
        except ClientError as exc:
            log.error("client: %s", exc)
            self._emit_state(ConnectionState.ERROR, str(exc))
        if self._history is not None:
            self._history.prune(self._settings.retention_days)
            self._events.history_loaded(self._history.recent(self._history_limit))
            self._jobs = HistoryJobs(self._history, self._events, asyncio.get_running_loop())
            self._events.counts_changed(*self._jobs.counts)
        else:
            self._events.history_loaded([])
            self._events.counts_changed(0, 0)
        with self._lock:
            self._loop = asyncio.get_running_loop()
            pending, self._pending = self._pending, []
        for fn in pending:
            fn()
        self._do_apply(self._settings, force=True)
        housekeeping = asyncio.create_task(self._housekeeping())
        try:
            await self._stopping.wait()
        finally:
            housekeeping.cancel()
            jobs, self._jobs = self._jobs, None
            if jobs is not None:
                jobs.stop()
            await self._stop_connection()
            with contextlib.suppress(asyncio.CancelledError):
                await housekeeping
            with self._lock:
                self._loop = None
            if self._history is not None:
                self._history.close()
                self._history = None

    def _open_history(self) -> History:
        if self._data_dir is None:
            return History.open_default()
        return History(self._data_dir / FILE_NAME)

    def _request_stop(self) -> None:
        if self._stopping is not None:
            self._stopping.set()

    async def _stop_connection(self) -> None:
        task, self._conn_task = self._conn_task, None
        self._connection = None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _emit_state(self, state: ConnectionState, detail: str) -> None:
        self._on_state(self._status.follow(state, detail))

    def _do_apply(self, settings: Settings, force: bool = False) -> None:
        if self._jobs is not None and settings.retention_days != self._settings.retention_days:
            self._jobs.prune(settings.retention_days)
        self._settings = settings
        token: str | None = None
        problem: ClientError | None = None
        if settings.bridge_url:
            try:
                token = self._token_loader(settings.bridge_url)
            except ClientError as exc:
                problem = exc
        key = (settings.bridge_url, settings.key, settings.ca_file, token)
        if not force and key == self._conn_key:
            return
        self._conn_key = key
        loop = asyncio.get_running_loop()
        restart = loop.create_task(self._stop_connection())
        config = ConnectionConfig(
            bridge_url=settings.bridge_url,
            token=token or "",
            key=settings.key,
            ca_file=settings.ca_file,
            **self._options,
        )

        def start_new(_: object) -> None:
            if self._stopping is None or self._stopping.is_set() or self._conn_key != key:
                return
            if problem is not None:
                self._emit_state(ConnectionState.ERROR, str(problem))
                return
            try:
                config.check()
                history = self._require_history()
            except NotConfigured as exc:
                self._emit_state(ConnectionState.NOT_CONFIGURED, str(exc))
                return
            except ClientError as exc:
                self._emit_state(ConnectionState.ERROR, str(exc))
                return
            self._emit_state(ConnectionState.CONNECTING, "connecting")
            try:
                connection = Connection(config, history, _Relay(self), initial=self._status)
            except ClientError as exc:  # e.g. an unreadable CA file
                self._emit_state(ConnectionState.ERROR, str(exc))
                return
            self._connection = connection
            self._conn_task = loop.create_task(connection.run())

        restart.add_done_callback(start_new)

    def _require_history(self) -> History:
        if self._history is None:
            raise ClientError("the local history cannot be opened (see the log)")
        return self._history

    def _do_reconnect(self) -> None:
        if self._connection is not None:
            log.info("client: reconnecting now")
            self._connection.reconnect_now()
        else:
            self._do_apply(self._settings, force=True)

    async def _housekeeping(self) -> None:
        """Prune the history hourly; notice a wake from sleep (the wall clock jumps, the monotonic one does not)."""
        last_wall, last_mono, last_prune = time.time(), time.monotonic(), time.monotonic()
        while True:
            await asyncio.sleep(WAKE_CHECK_S)
            wall, mono = time.time(), time.monotonic()
            if woke_from_sleep(last_wall, last_mono, wall, mono):
                log.info("client: woke from sleep; reconnecting")
                self._do_reconnect()
            last_wall, last_mono = wall, mono
            if mono - last_prune >= PRUNE_EVERY_S and self._jobs is not None:
                last_prune = mono
                self._jobs.prune(self._settings.retention_days)

    def _do_test_alert(self) -> None:
        connection = self._connection
        if connection is None:
            self._events.test_alert_sent(False, "Set up a link first: there is no alert server to ask.", "")
            return
        task = asyncio.get_running_loop().create_task(self._test_alert(connection.config))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _test_alert(self, config: ConnectionConfig) -> None:
        try:
            sent = await asyncio.to_thread(request_test_alert, config)
        except ClientError as exc:
            result = failed(exc, host_of(config.bridge_url))
            log.warning("client: test alert not sent: %s (%s)", result.outcome.value, result.detail)
            self._events.test_alert_sent(False, result.words, result.detail)
            return
        if not sent:
            self._events.test_alert_sent(
                False, "This computer is not connected to your team's alert server right now, so the test alert "
                "had nowhere to go. Wait until the tray icon is green, then try again.",
                "the bridge has no open stream for this link")
            return
        log.info("client: test alert sent to %d stream(s) of this token", sent)
        self._events.test_alert_sent(True, "Your team's alert server sent a test alert; it pops up in a moment.",
                                  f"sent to {sent} open connection{'s' if sent != 1 else ''} of this link")

    # --- connection callbacks (worker thread) ---

    def _on_state(self, status: ConnectionStatus) -> None:
        self._status = status
        self._events.state_changed(status)


class _Relay:
    """:class:`~trayapp.client.connection.Listener` that tells the session's events what the connection does."""

    def __init__(self, service: ClientSession) -> None:
        self._service = service

    def on_state(self, status: ConnectionStatus) -> None:
        self._service._on_state(status)

    def on_event(self, row: HistoryRow, replay: bool) -> None:
        self._service._events.event_received(row, replay)
        if self._service._jobs is not None:
            self._service._jobs.counts_changed(1, 0 if row.read else 1)

    def on_caught_up(self, count: int) -> None:
        self._service._events.caught_up(count)

    def on_gap(self, gap: wire.Gap) -> None:
        self._service._events.gap(gap)

    def on_verification_failed(self, reason: str) -> None:
        self._service.verification_failures += 1
        self._service._events.verification_failed(reason)

    def on_event_skipped(self, event_id: str, reason: str) -> None:
        self._service.skipped_events += 1
        self._service._events.event_skipped(event_id, reason)

    def on_test_alert(self, received: ReceivedEvent) -> None:
        self._service._events.test_alert(received)

    def on_config(self, conversation_url: str) -> None:
        self._service._events.config_received(conversation_url)

    def on_cases(self, snapshot: Snapshot) -> None:
        self._service._events.cases_received(snapshot)
