"""Pick the best notification back-end for this platform and session."""

from __future__ import annotations

import logging
import os
import sys

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QSystemTrayIcon

from trayapp.ui.notify.base import Notifier

log = logging.getLogger(__name__)


def _open_freedesktop(app_icon_path: str) -> Notifier:
    from trayapp.ui.notify.freedesktop import FreedesktopNotifier

    return FreedesktopNotifier.open(app_icon=app_icon_path)


def _open_native(app_icon_path: str) -> Notifier:
    from trayapp.ui.notify.native import NativeNotifier

    return NativeNotifier.open(app_icon=app_icon_path)


def open_preferred(app_icon_path: str = "") -> Notifier:
    """The platform's native back-end (see :func:`create_notifier`); raises when it cannot start here and now
    (``OSError``, ``ValueError``, ``KeyError``, ``ImportError``, ``RuntimeError``...). The app calls it again
    later after a downgrade to tray messages."""
    if sys.platform in ("win32", "darwin"):
        return _open_native(app_icon_path)
    if not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        raise OSError("no session bus (DBUS_SESSION_BUS_ADDRESS is not set)")
    return _open_freedesktop(app_icon_path)


def create_notifier(tray: QSystemTrayIcon | None, app_icon_path: str = "", icon: QIcon | None = None) -> Notifier:
    """The platform's native notifications, each with a click that opens *that* event; else tray balloons.

    - Windows and macOS: the notification centre through desktop-notifier (:mod:`trayapp.ui.notify.native`).
    - Linux/BSD with a session bus: org.freedesktop.Notifications through jeepney (:mod:`.freedesktop`).
    - Anything that fails to start (no bus, no desktop-notifier, macOS outside an app bundle...):
      ``QSystemTrayIcon.showMessage``, where a click opens the list.
    """
    try:
        return open_preferred(app_icon_path)
    except Exception as exc:  # ImportError, NativeUnavailable, OSError/RuntimeError from WinRT, Cocoa or the bus
        log.warning("no native notifications (%r); falling back to tray messages", exc)
    from trayapp.ui.notify.tray import TrayMessageNotifier

    return TrayMessageNotifier(tray, icon)
