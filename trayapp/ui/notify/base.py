"""The notification interface every back-end implements."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from trayapp.model.notification import LIST_TARGET, Notification, Urgency

__all__ = ["LIST_TARGET", "Notification", "Notifier", "Urgency"]

class Notifier(QObject):
    """Shows notifications and reports what the user did with them.

    Methods never block on I/O; a back-end that talks to a server does so off the GUI thread.

    Signals:
        activated(str): the user clicked a notification (its default action); the argument is
            the notification's ``target``.
        dismissed(str): a notification went away without a click (closed, expired or replaced
            by the server); the argument is its ``key``.
        failed(str): the back-end cannot show notifications (no server, the connection cannot be made again);
            words for the log. The app then uses tray messages for a while and tries this back-end again.
        not_shown(object, str): this one :class:`Notification` could not be shown (the server refused it, it could
            not be sent even on a new connection); words for the log. The back-end keeps working.
    """

    activated = Signal(str)
    dismissed = Signal(str)
    failed = Signal(str)
    not_shown = Signal(object, str)

    #: A short name for logs and the settings dialog.
    name = "none"

    def __init__(self) -> None:
        super().__init__()
        #: Notifications accepted but not shown because the back-end went down (``failed``): the app shows them
        #: another way. Appended to from the back-end's thread before ``failed`` is emitted.
        self.unsent: list[Notification] = []

    @property
    def supports_actions(self) -> bool:
        """Whether a click on a popup can open that popup's event (else it opens the list)."""
        return False

    def show(self, notification: Notification) -> None:
        """Show a notification, replacing the one with the same key if it is still shown."""
        raise NotImplementedError

    def withdraw(self, key: str) -> None:
        """Take a shown notification away (e.g. the case was closed). Unknown keys are ignored."""

    def shutdown(self) -> None:
        """Release connections and threads; the notifier is unusable afterwards."""
