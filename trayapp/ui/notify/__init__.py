"""Native notifications: one :class:`Notifier` interface, one back-end per platform.

- :class:`~trayapp.ui.notify.freedesktop.FreedesktopNotifier` (Linux/BSD): org.freedesktop.Notifications through
  jeepney, with a default action, so a click opens *that* event. PySide6's QtDBus cannot call ``Notify`` (it
  cannot marshal the ``uint32 replaces_id``), and the server sends ``ActionInvoked`` only to the connection that
  called ``Notify`` — so one jeepney connection both sends and listens.
- :class:`~trayapp.ui.notify.tray.TrayMessageNotifier`: ``QSystemTrayIcon.showMessage``; used where D-Bus is missing
  and, for now, on Windows and macOS. It has no per-notification action: a click opens the list.
"""

from trayapp.ui.notify.base import LIST_TARGET, Notification, Notifier, Urgency
from trayapp.ui.notify.factory import create_notifier

__all__ = ["LIST_TARGET", "Notification", "Notifier", "Urgency", "create_notifier"]
