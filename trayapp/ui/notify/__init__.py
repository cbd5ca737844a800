"""Native notifications: one :class:`Notifier` interface, one back-end per platform.

- :class:`~trayapp.ui.notify.freedesktop.FreedesktopNotifier` (Linux/BSD): org.freedesktop.Notifications through
  jeepney, with a default action, so a click opens *that* event. PySide6's QtDBus cannot call ``Notify`` (it
  cannot marshal the ``uint32 replaces_id``), and the server sends ``ActionInvoked`` only to the connection that
  called ``Notify`` — so one jeepney connection both sends and listens.
- :class:`~trayapp.ui.notify.native.NativeNotifier` (Windows, macOS): the platform's notification centre (WinRT
  toasts, UserNotifications) through desktop-notifier, run on an asyncio loop in its own thread; a click opens
  *that* event too.
- :class:`~trayapp.ui.notify.tray.TrayMessageNotifier`: ``QSystemTrayIcon.showMessage``; the fallback wherever the
  others cannot start. It has no per-notification action: a click opens the list.
"""

from trayapp.ui.notify.base import LIST_TARGET, Notification, Notifier, Urgency
from trayapp.ui.notify.factory import create_notifier

__all__ = ["LIST_TARGET", "Notification", "Notifier", "Urgency", "create_notifier"]
