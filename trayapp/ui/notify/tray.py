"""``QSystemTrayIcon.showMessage``: the fallback back-end.

Used where the native back-end cannot run: no org.freedesktop.Notifications on Linux, or
desktop-notifier failing on Windows / macOS (``native.py``). It has no per-notification action:
a click (``messageClicked``, when the platform reports it) opens the list.
"""

from __future__ import annotations

from PySide6.QtCore import Slot
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QSystemTrayIcon

from trayapp.ui.notify.base import LIST_TARGET, Notification, Notifier, Urgency
from trayapp.ui.plain import BODY_CHARS, TITLE_CHARS, inert


class TrayMessageNotifier(Notifier):
    """Shows balloons through a tray icon; without one (no tray) it only records the last message.

    Signals:
        activated(str): always :data:`LIST_TARGET` (the balloon cannot tell which event it was).
        dismissed(str): never emitted.
        failed(str): never emitted.
    """

    name = "tray-message"

    def __init__(self, tray: QSystemTrayIcon | None, icon: QIcon | None = None) -> None:
        super().__init__()
        self._tray = tray
        self._icon = icon
        self.last: Notification | None = None
        if tray is not None:
            tray.messageClicked.connect(self._on_clicked)

    def show(self, notification: Notification) -> None:
        self.last = notification
        if self._tray is None or not self._tray.isVisible():
            return
        # Qt forwards both unescaped: to org.freedesktop.Notifications (markup body) through an SNI host, to a
        # label that guesses rich text in its own balloon, as plain text on Windows. Inert text is plain in all.
        title = inert(notification.title, TITLE_CHARS, newlines=False)
        body = inert(notification.body, BODY_CHARS)
        if self._icon is not None:
            self._tray.showMessage(title, body, self._icon, 10_000)
        else:
            kind = (QSystemTrayIcon.MessageIcon.Warning if notification.urgency is Urgency.CRITICAL
                    else QSystemTrayIcon.MessageIcon.Information)
            self._tray.showMessage(title, body, kind, 10_000)

    @Slot()
    def _on_clicked(self) -> None:
        self.activated.emit(LIST_TARGET)
