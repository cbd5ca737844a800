"""What the app says about itself: the connection's state, the warnings that are not the connection, and the popup
that says a connection needs a new link.

:class:`StatusControl` puts one line of words (state · offline since · quiet · warnings) in the list window's status
area and the open settings dialog, and the warnings in the tray's tooltip. It counts the alerts that failed
verification and those that could not be shown ("N alerts could not be shown": a popup failed, the alert could not
be prepared, or the client skipped the event). Signal: ``connected()`` — the connection is up (the link flow waits
for it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from trayapp.model.connection import ConnectionState, ConnectionStatus
from trayapp.ui.list_window import ListWindow, alerts
from trayapp.ui.notifier_control import NotifierControl
from trayapp.ui.notify import Notification, Urgency
from trayapp.ui.tray import TrayController, until_words

log = logging.getLogger(__name__)

ACCESS_KEY = "warning:access"  # the popup that says the connection needs a new link
SETTINGS_TARGET = "settings"


class StatusControl(QObject):
    connected = Signal()

    def __init__(self, tray: TrayController, presenter: Any, notifiers: NotifierControl, window: ListWindow,
                 dialog: Callable[[], Any], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tray = tray
        self._presenter = presenter
        self._notifiers = notifiers
        self._window = window
        self._dialog = dialog  # the open settings dialog, or None
        self.dropped = 0  # events that failed verification
        self.unshown = 0  # alerts that could not be shown (a popup failed, or the client dropped the event)
        self._announced = ""  # the words of the "needs a new link" popup on screen

    @Slot(object)
    def on_state(self, status: ConnectionStatus) -> None:
        self._tray.set_status(status)
        self._announce_problem()
        self.show()
        if self._tray.state is ConnectionState.CONNECTED:
            self.connected.emit()

    def _announce_problem(self) -> None:
        """A connection that needs a new link (wrong key, revoked, refused) pops up at once, saying what to do;
        the popup goes when the cause is gone."""
        words = self._tray.needs_a_link
        if words == self._announced:
            return
        self._announced = words
        if not words:
            self._notifiers.withdraw(ACCESS_KEY)
            return
        log.warning("connection needs a new link: %s (%s)", words, self._tray.detail)
        self._notifiers.show(Notification(
            key=ACCESS_KEY, title=words,
            body="No case alerts reach this computer until you use a new link (Settings → New link…).",
            target=SETTINGS_TARGET, urgency=Urgency.CRITICAL))

    @Slot()
    def show(self) -> None:
        """The state line, in the window and the open settings dialog."""
        tray = self._tray
        text = tray.state_text()
        down = tray.offline_since
        if down is not None and not tray.needs_a_link:  # (those words say it already)
            text += f" · Not receiving case alerts since {down.astimezone():%H:%M}"
        until = self._presenter.quiet_until
        if until is not None:
            working = self._presenter.quiet_reason == "outside working hours"
            quiet = "Outside working hours: quiet" if working else "Do not disturb"
            text += f" · {quiet} {until_words(until)}"
        warning = self.warning_text()
        if warning:
            text += f" · {warning[0].upper()}{warning[1:]}"
        self._window.set_state_text(text, tray.look.name.lower())
        dialog = self._dialog()
        if dialog is not None:
            dialog.set_state_text(text, tray.detail)

    @Slot(str)
    def on_verification_failed(self, reason: str) -> None:
        self.dropped += 1
        self._window.show_verification_failed(reason)
        self.show_warning()

    @Slot(str, str)
    def on_event_skipped(self, event_id: str, reason: str) -> None:
        """The client received an event it could not store or derive (it moved on past it)."""
        log.warning("an alert could not be shown: the client skipped event %s (%s)", event_id, reason)
        self.count_unshown()
        self._window.show_event_skipped(reason)

    @Slot(object, str)
    def on_not_shown(self, notification: Notification, reason: str) -> None:
        log.warning("an alert could not be shown: popup %s failed (%s)", notification.key, reason)
        self.count_unshown()
        self._window.show_not_popped()

    @Slot()
    def count_unshown(self) -> None:
        self.unshown += 1
        self.show_warning()

    def warning_text(self) -> str:
        """The problems that are not the connection, in words ("" when there are none)."""
        parts = []
        if self.dropped:
            parts.append(f"{alerts(self.dropped)} failed verification")
        if self.unshown:
            parts.append(f"{alerts(self.unshown)} could not be shown")
        if self._notifiers.degraded:
            parts.append("popups are limited: the desktop's notification service is not answering "
                         "(trying again)")
        return "; ".join(parts)

    @Slot()
    def show_warning(self) -> None:
        self._tray.set_warning(self.warning_text())
        self.show()

    def new_link(self) -> None:
        """A new link was stored: the old connection's problems are gone with it; connecting."""
        self.dropped = 0
        self._window.clear_warnings()
        self._tray.set_warning("")
        self._tray.set_connection(ConnectionState.CONNECTING)
        self.show()
