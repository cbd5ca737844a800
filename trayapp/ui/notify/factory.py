"""Pick the best notification back-end for this platform and session."""

from __future__ import annotations

import logging
import os
import sys

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QSystemTrayIcon

from trayapp.ui.notify.base import Notifier

log = logging.getLogger(__name__)


def create_notifier(tray: QSystemTrayIcon | None, app_icon_path: str = "", icon: QIcon | None = None) -> Notifier:
    """org.freedesktop.Notifications where a session bus exists (Linux/BSD), else tray balloons.

    Windows and macOS use ``QSystemTrayIcon.showMessage`` for now: native toasts, but a click
    opens the list instead of the event.
    """
    if sys.platform not in ("win32", "darwin") and os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        try:
            from trayapp.ui.notify.freedesktop import FreedesktopNotifier

            return FreedesktopNotifier.open(app_icon=app_icon_path)
        except (OSError, ValueError, KeyError, ImportError) as exc:
            log.warning("no D-Bus notifications (%s); falling back to tray messages", exc)
    from trayapp.ui.notify.tray import TrayMessageNotifier

    return TrayMessageNotifier(tray, icon)
