"""Connection links the OS hands to the running app as an event (macOS: a clicked ``trayapp://`` link)."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Signal
from PySide6.QtGui import QFileOpenEvent


class LinkOpenFilter(QObject):
    """An application-wide event filter for ``QFileOpenEvent`` carrying a ``trayapp://`` URL.

    On macOS a link clicked while the app runs does not start a second process: Qt delivers a
    ``QFileOpenEvent`` to the application instead. Other platforms start a second launch, which the
    single-instance channel forwards.

    Signals:
        link_opened(str): the link text, to be used like a pasted link.
    """

    link_opened = Signal(str)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.FileOpen and isinstance(event, QFileOpenEvent):
            url = event.url().toString()
            if url.startswith("trayapp://"):
                self.link_opened.emit(url)
                return True
        return False
