"""Test doubles: a client that records (a ``ClientFace``, like ``ClientService``), a notifier that records."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from PySide6.QtCore import QObject, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices

from trayapp.model.rows import RowFilter
from trayapp.settings import Settings
from trayapp.ui.client_service import ClientFace
from trayapp.ui.notify.base import Notification, Notifier


class FakeClient(ClientFace):
    """Records what the app asks of its client; the test emits the signals."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, object]] = []

    def start(self) -> None:
        self.calls.append(("start", None))

    def stop(self) -> None:
        self.calls.append(("stop", None))

    def reconnect_now(self) -> None:
        self.calls.append(("reconnect_now", None))

    def mark_read(self, ids: list[str]) -> None:
        self.calls.append(("mark_read", list(ids)))

    def mark_unread(self, ids: list[str]) -> None:
        self.calls.append(("mark_unread", list(ids)))

    def mark_all_read(self) -> None:
        self.calls.append(("mark_all_read", None))

    def apply_settings(self, settings: Settings) -> None:
        self.calls.append(("apply_settings", settings))

    def load_older(self, before_id: str, limit: int) -> None:
        self.calls.append(("load_older", (before_id, limit)))

    def load_event(self, event_id: str) -> None:
        self.calls.append(("load_event", event_id))

    def search(self, request: int, row_filter: RowFilter, limit: int) -> None:
        self.calls.append(("search", (request, row_filter, limit)))

    def send_test_alert(self) -> None:
        self.calls.append(("send_test_alert", None))


class RecordingNotifier(Notifier):
    name = "recording"

    def __init__(self) -> None:
        super().__init__()
        self.shown: list[Notification] = []
        self.withdrawn: list[str] = []
        self.closed = False

    @property
    def supports_actions(self) -> bool:
        return True

    def show(self, notification: Notification) -> None:
        self.shown.append(notification)

    def withdraw(self, key: str) -> None:
        self.withdrawn.append(key)

    def shutdown(self) -> None:
        self.closed = True


class UrlCatcher(QObject):
    """Registered with QDesktopServices.setUrlHandler: the browser is the only thing faked."""

    opened = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.urls.append(url.toString())
        self.opened.emit(url.toString())


@contextlib.contextmanager
def catching_browser() -> Iterator[UrlCatcher]:
    """While inside, every http(s) URL the app opens lands in the yielded catcher instead of a browser."""
    catcher = UrlCatcher()
    for scheme in ("http", "https"):
        QDesktopServices.setUrlHandler(scheme, catcher, "open")  # type: ignore[arg-type]  # the stub says bytes; the runtime wants str
    try:
        yield catcher
    finally:
        for scheme in ("http", "https"):
            QDesktopServices.unsetUrlHandler(scheme)
