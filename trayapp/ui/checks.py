"""The agent's own checks: *Send me a test alert* and *Test connection*.

:class:`AlertCheck` asks the bridge for a signed test alert to this app's own connection, pops it up when it arrives
(also when quiet: the agent asked for it) and says so — or that it did not arrive within
:data:`TEST_ALERT_WAIT_MS` — in the settings dialog and the demo's first screen. :class:`ConnectionCheck` proves a
pasted link (or the stored connection) off the GUI thread; signal ``finished(object)`` — a ``ProbeResult``, from a
worker thread (delivered queued).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from trayapp.client.proof import Outcome, ProbeResult
from trayapp.core.event import ReceivedEvent
from trayapp.settings import Settings
from trayapp.ui.client_service import ClientFace
from trayapp.ui.list_window import ListWindow
from trayapp.ui.notifier_control import NotifierControl
from trayapp.ui.notify import LIST_TARGET, Notification
from trayapp.ui.sound import SoundPlayer

log = logging.getLogger(__name__)

TEST_ALERT_KEY = "test-alert"
TEST_ALERT_WAIT_MS = 15_000


def probe_connection(link: str | None) -> ProbeResult:
    """*Test connection*: open the stream and check the key (``client.connect.prove``). Blocking: off the GUI
    thread. ``None``: the stored connection."""
    from trayapp.client.connect import prove

    return prove(link)


class AlertCheck(QObject):
    def __init__(self, client: ClientFace, notifiers: NotifierControl, sound: SoundPlayer, window: ListWindow,
                 settings: Callable[[], Settings], dialog: Callable[[], Any], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._client = client
        self._notifiers = notifiers
        self._sound = sound
        self._window = window
        self._settings = settings
        self._dialog = dialog  # the open settings dialog, or None
        self._arrived = False
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(TEST_ALERT_WAIT_MS)
        self.timer.timeout.connect(self.missing)

    @Slot()
    def send(self) -> None:
        """*Send me a test alert* (Settings, the demo's first screen): the bridge sends a signed test alert to this
        app's own connection; it pops up when it arrives (:meth:`on_arrived`)."""
        log.info("test alert requested")
        self._arrived = False
        self._client.send_test_alert()

    @Slot(bool, str, str)
    def on_sent(self, ok: bool, words: str, detail: str) -> None:
        if ok and self._arrived:
            return  # the alert itself was faster than the bridge's answer: "arrived" stands
        if ok:
            self.timer.start()
        else:
            log.warning("test alert: %s (%s)", words, detail)
        self._say(ok, words, detail)

    @Slot(object)
    def on_arrived(self, received: ReceivedEvent) -> None:
        """A verified test alert arrived on the stream: pop it up (also when quiet: the agent asked for it)."""
        self.timer.stop()
        self._arrived = True
        self._notifiers.show(Notification(
            key=TEST_ALERT_KEY, title="Test alert — alerts reach you",
            body="Case alerts from your team's alert server pop up here like this one.", target=LIST_TARGET))
        settings = self._settings()
        if settings.sound_enabled:
            self._sound.play(settings.sound_volume)
        self._say(True, "The test alert arrived: alerts reach this computer.", f"test alert {received.id}")

    @Slot()
    def missing(self) -> None:
        self.timer.stop()
        log.warning("test alert: sent, but nothing arrived within %d s", TEST_ALERT_WAIT_MS // 1000)
        self._say(False, "The test alert was sent but did not arrive. Use Reconnect now in the tray menu "
                  "and try again; if it still does not arrive, tell your admin.", "")

    def _say(self, ok: bool, words: str, detail: str) -> None:
        dialog = self._dialog()
        if dialog is not None:
            dialog.show_test_result(ok, words, detail)
        self._window.show_welcome_result(ok, words)


class ConnectionCheck(QObject):
    finished = Signal(object)

    def __init__(self, tester: Callable[[str | None], ProbeResult], dialog: Callable[[], Any],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tester = tester
        self._dialog = dialog  # the open settings dialog, or None
        self.finished.connect(self._show)

    @Slot(str)
    def run(self, link_text: str) -> None:
        """*Test connection* in the settings: the pasted link, or the stored connection (off the GUI thread)."""

        def work() -> None:
            try:
                result = self._tester(link_text or None)
            except Exception as exc:  # a bug: say so rather than leave the dialog waiting
                log.exception("connection test failed unexpectedly")
                result = ProbeResult(Outcome.BROKEN, "", type(exc).__name__)
            self.finished.emit(result)

        threading.Thread(target=work, name="trayapp-test-connection", daemon=True).start()

    @Slot(object)
    def _show(self, result: ProbeResult) -> None:
        if not result.ok:
            log.warning("connection test: %s (%s)", result.outcome.value, result.detail)
        dialog = self._dialog()
        if dialog is not None:
            dialog.show_test_result(result.ok, result.words, result.detail)

