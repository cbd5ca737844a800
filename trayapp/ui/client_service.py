"""``ClientService``: the Qt face of the client (contract: ``docs/architecture.md``, "Desktop app contract").

A thin layer over :class:`trayapp.client.session.ClientSession`: created in the GUI thread, it runs the session's
asyncio loop in a worker ``QThread`` and turns what the session tells into Qt signals (emitted from the worker
thread, so Qt delivers them queued, in the GUI thread). Its methods only post work to that loop and return at once
(``stop()`` waits at most ~2 s, at quit only). It also reconnects at once on a network change
(``QNetworkInformation`` when a back-end exists).

Constructor: ``ClientService(settings, parent=None, *, data_dir=None, history_limit=HISTORY_WINDOW, token_loader=None,
connection_options=None)`` — see :class:`~trayapp.client.session.ClientSession`.

:class:`ClientFace` declares the signals and methods once: the app is written against it, and the tests' fake client
is one too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from PySide6.QtCore import QObject, QThread, Signal

from trayapp.client.events import EVENT_NAMES, SessionEvents
from trayapp.client.session import HISTORY_WINDOW, ClientSession
from trayapp.model.connection import ConnectionStatus
from trayapp.model.rows import RowFilter
from trayapp.settings import Settings

log = logging.getLogger(__name__)

__all__ = ["HISTORY_WINDOW", "ClientFace", "ClientService"]


class ClientFace(QObject):
    """The client as the app sees it: the signals of :class:`~trayapp.client.session.SessionEvents` and the methods
    that post work (docs/architecture.md)."""

    state_changed = Signal(object)
    history_loaded = Signal(list)
    event_received = Signal(object, bool)
    caught_up = Signal(int)
    gap = Signal(object)
    verification_failed = Signal(str)
    event_skipped = Signal(str, str)
    read_changed = Signal(list, bool)
    older_loaded = Signal(str, list)
    counts_changed = Signal(int, int)
    search_finished = Signal(int, list, bool)
    event_loaded = Signal(str, object)
    test_alert = Signal(object)
    test_alert_sent = Signal(bool, str, str)
    config_received = Signal(str)
    cases_received = Signal(object)

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def reconnect_now(self) -> None:
        raise NotImplementedError

    def mark_read(self, ids: list[str]) -> None:
        raise NotImplementedError

    def mark_unread(self, ids: list[str]) -> None:
        raise NotImplementedError

    def mark_all_read(self) -> None:
        raise NotImplementedError

    def apply_settings(self, settings: Settings) -> None:
        raise NotImplementedError

    def load_older(self, before_id: str, limit: int) -> None:
        raise NotImplementedError

    def load_event(self, event_id: str) -> None:
        raise NotImplementedError

    def search(self, request: int, row_filter: RowFilter, limit: int) -> None:
        raise NotImplementedError

    def send_test_alert(self) -> None:
        raise NotImplementedError

    def emitters(self) -> SessionEvents:
        """The :class:`SessionEvents` that emit these signals."""
        return cast(SessionEvents, SimpleNamespace(**{name: getattr(self, name).emit for name in EVENT_NAMES}))


class _Worker(QThread):
    def __init__(self, session: ClientSession) -> None:
        super().__init__()
        self.setObjectName("trayapp-client")
        self._session = session

    def run(self) -> None:
        self._session.run_in_thread()


class ClientService(ClientFace):
    """See the module doc."""

    def __init__(
        self,
        settings: Settings,
        parent: QObject | None = None,
        *,
        data_dir: Path | None = None,
        history_limit: int | None = HISTORY_WINDOW,
        token_loader: Callable[[str], str | None] | None = None,
        connection_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = ClientSession(settings, self.emitters(), data_dir=data_dir, history_limit=history_limit,
                                     token_loader=token_loader, connection_options=connection_options)
        self._thread: _Worker | None = None
        self._stuck: _Worker | None = None
        self._network: Any = None

    @property
    def status(self) -> ConnectionStatus:
        return self.session.status

    @property
    def verification_failures(self) -> int:
        return self.session.verification_failures

    @property
    def skipped_events(self) -> int:
        return self.session.skipped_events

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = _Worker(self.session)
        self._thread.start()
        self._watch_network()

    def stop(self) -> None:
        """Close the connection and the history; waits at most ~2 s (call at quit)."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self.session.stop()
        if not thread.wait(2000):
            log.warning("client: the worker did not stop within 2 s")
            self._stuck = thread  # never destroy a running QThread

    def reconnect_now(self) -> None:
        self.session.reconnect_now()

    def mark_read(self, ids: list[str]) -> None:
        self.session.mark_read(ids)

    def mark_unread(self, ids: list[str]) -> None:
        self.session.mark_unread(ids)

    def mark_all_read(self) -> None:
        self.session.mark_all_read()

    def apply_settings(self, settings: Settings) -> None:
        self.session.apply_settings(settings)

    def load_older(self, before_id: str, limit: int) -> None:
        self.session.load_older(before_id, limit)

    def load_event(self, event_id: str) -> None:
        self.session.load_event(event_id)

    def search(self, request: int, row_filter: RowFilter, limit: int) -> None:
        self.session.search(request, row_filter, limit)

    def send_test_alert(self) -> None:
        self.session.send_test_alert()

    # --- network changes (GUI thread) ---

    def _watch_network(self) -> None:
        from PySide6.QtNetwork import QNetworkInformation

        try:
            if QNetworkInformation.instance() is None:
                QNetworkInformation.loadDefaultBackend()
            info = QNetworkInformation.instance()
        except Exception as exc:  # pragma: no cover - platform specific
            log.info("client: no network information back-end (%s)", exc)
            return
        if info is None:
            log.info("client: no network information back-end; relying on keepalive pings")
            return
        self._network = info
        info.reachabilityChanged.connect(self._on_reachability)

    def _on_reachability(self, reachability: Any) -> None:
        from PySide6.QtNetwork import QNetworkInformation

        if reachability in (QNetworkInformation.Reachability.Online, QNetworkInformation.Reachability.Site):
            log.info("client: network changed (%s); reconnecting", reachability)
            self.reconnect_now()
