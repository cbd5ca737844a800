"""Events from the client into popups and the list, and opening them: a click on a popup or a row opens that
conversation in the browser (built from the conversation address template, never from the payload) and marks it read.

:class:`EventControl` hands each received event to the presenter (the popup decision, at once) and to the list feed
(in batches); it opens events the list does not hold by asking the client's history first. Signals:
``list_requested()``, ``settings_requested()`` — a popup asks for that window; ``alert_failed()`` — an alert could not
be prepared (the event is still listed); ``url_opened(str)`` — a conversation URL was handed to the browser.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices

from trayapp.core.event import ReceivedEvent
from trayapp.core.urls import conversation_url
from trayapp.model.alerts import CATCH_UP_TARGET
from trayapp.model.describe import notification_text
from trayapp.settings import Settings
from trayapp.ui.client_service import ClientFace
from trayapp.ui.list_feed import ListFeed
from trayapp.ui.list_model import HistoryModel
from trayapp.ui.list_window import ListWindow
from trayapp.ui.notify import LIST_TARGET
from trayapp.ui.status_control import SETTINGS_TARGET

log = logging.getLogger(__name__)


class EventControl(QObject):
    list_requested = Signal()
    settings_requested = Signal()
    alert_failed = Signal()
    url_opened = Signal(str)

    def __init__(self, client: ClientFace, model: HistoryModel, feed: ListFeed, window: ListWindow, presenter: Any,
                 settings: Callable[[], Settings], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._client = client
        self._model = model
        self._feed = feed
        self._window = window
        self._presenter = presenter
        self._settings = settings
        self._loading: set[str] = set()  # events to open once the client has loaded them

    @Slot(object, bool)
    def on_event(self, row: Any, replaying: bool) -> None:
        # The popup decision is immediate; rows reach the list in batches (one insertion per turn of the
        # event loop), so a backlog of thousands does not repaint the list thousands of times.
        try:
            self._presenter.on_event(row, replaying)
        except Exception:  # one event must not stop the others: it is still listed, and counted as not shown
            event_id = getattr(getattr(row, "event", row), "id", "?")
            log.exception("the alert for event %s could not be prepared", event_id)
            self.alert_failed.emit()
        self._feed.add(row)

    @Slot()
    def flush_rows(self) -> None:
        """Put the events received so far into the list now (:class:`ListFeed`)."""
        self._feed.flush()

    def link_for(self, received: ReceivedEvent) -> str | None:
        """The conversation URL of an event, built from the template (the agent's override, else the admin's from
        the bridge's signed config frame; never from the payload); only http(s) on the template's own host."""
        settings = self._settings()
        return conversation_url(settings.conversation_template, received.event, settings.account_id or None)

    @Slot(str)
    def open_target(self, target: str) -> None:
        """A notification was clicked."""
        if target == CATCH_UP_TARGET:
            self.flush_rows()
            ids = self._presenter.catch_up_ids
            self._window.show_only(ids, f"the {len(ids)} events that arrived while you were away")
            self.list_requested.emit()
        elif target == SETTINGS_TARGET:
            self.settings_requested.emit()
        elif target == LIST_TARGET or target.startswith("list"):
            self.list_requested.emit()
        else:
            self.open_event(target)

    @Slot(str)
    def open_event(self, event_id: str) -> None:
        """Open an event's conversation in the browser and mark it read."""
        self.flush_rows()
        received = self._model.find(event_id)
        if received is None:  # older than the rows the list holds: ask the history
            self._loading.add(event_id)
            self._client.load_event(event_id)
            return
        self._open(received)

    @Slot(str, object)
    def on_event_loaded(self, event_id: str, row: Any) -> None:
        if event_id not in self._loading:
            return
        self._loading.discard(event_id)
        if row is None:
            log.warning("open: unknown event %s", event_id)
            self.list_requested.emit()
            return
        self._open(row.event, unread=not row.read)

    def _open(self, received: ReceivedEvent, unread: bool | None = None) -> None:
        event_id = received.id
        url = self.link_for(received)
        self._presenter.acknowledge([received])  # the case stops calling, its popup goes
        if self._model.is_unread(event_id) if unread is None else unread:
            self.mark_read([event_id])
        if url is None:
            title, _ = notification_text(received.event)
            self.list_requested.emit()
            self._window.statusBar().showMessage(f"“{title}” has no conversation address to open", 8000)
            return
        log.info("opening conversation of event %s", event_id)
        if not QDesktopServices.openUrl(QUrl(url)):
            self._window.statusBar().showMessage(f"Could not open a browser for {url}", 8000)
        self.url_opened.emit(url)

    @Slot(list)
    def mark_read(self, ids: list[str]) -> None:
        self.flush_rows()
        self._presenter.acknowledge([r for r in map(self._model.find, ids) if r is not None])
        self._model.set_read(ids, True)  # at once; the client confirms with read_changed
        self._client.mark_read(ids)

    @Slot()
    def mark_all_read(self) -> None:
        self.flush_rows()
        self._presenter.acknowledge_all()
        self._model.set_all_read()
        self._client.mark_all_read()
