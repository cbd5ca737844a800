"""The tray icon: state at a glance, unread count, the app menu."""

from __future__ import annotations

import enum
from datetime import datetime

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QAction, QActionGroup, QFont, QIcon
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from trayapp.model.connection import ConnectionState, ConnectionStatus
from trayapp.ui.icons import TrayLook, tray_icon

_WORDS = {  # (head, what it means for the agent)
    ConnectionState.NOT_CONFIGURED: ("Not set up", "paste a connection link in Settings"),
    ConnectionState.CONNECTING: ("Connecting…", ""),
    ConnectionState.CONNECTED: ("Connected", "alerts are flowing"),
    ConnectionState.OFFLINE: ("Offline", "not receiving alerts"),
    ConnectionState.ERROR: ("Error", "not receiving alerts"),
}


class DndChoice(enum.Enum):
    HOUR = "hour"
    TOMORROW = "tomorrow"
    UNTIL_OFF = "until_off"
    OFF = "off"


def _clock(value: datetime) -> str:
    now = datetime.now(value.tzinfo)
    return value.strftime("%H:%M") if value.date() == now.date() else value.strftime("%a %H:%M")


def until_words(value: datetime) -> str:
    """``until 17:00``, ``until Mon 09:00`` or ``until turned off``."""
    return "until turned off" if value.year >= 9999 else f"until {_clock(value)}"


class TrayController(QObject):
    """Owns the tray icon (when a system tray exists) and the app menu (always).

    Without a system tray (``available`` is False) the menu is still built, so the list window can
    put it in its menu bar.

    Signals:
        open_list_requested(): left click on the icon, or *Open list*.
        settings_requested(): *Settings…*.
        reconnect_requested(): *Reconnect now*.
        quit_requested(): *Quit*.
        dnd_requested(object): a :class:`DndChoice`.
    """

    open_list_requested = Signal()
    settings_requested = Signal()
    reconnect_requested = Signal()
    quit_requested = Signal()
    dnd_requested = Signal(object)

    def __init__(self, parent: QObject | None = None, use_tray: bool | None = None) -> None:
        super().__init__(parent)
        self.available = QSystemTrayIcon.isSystemTrayAvailable() if use_tray is None else use_tray
        self._state = ConnectionState.CONNECTING
        self._since: datetime | None = None
        self._detail = ""
        self._unread = 0
        self._dnd_until: datetime | None = None
        self._dnd_reason = ""
        self._offline_since: datetime | None = None
        self._warning = ""

        self.menu = QMenu("&trayapp")
        self.open_action = self.menu.addAction("&Open list")
        bold = QFont(self.open_action.font())
        bold.setBold(True)
        self.open_action.setFont(bold)
        self.open_action.triggered.connect(self.open_list_requested)
        self.menu.addSeparator()
        self.dnd_menu = self.menu.addMenu("&Do not disturb")
        self._dnd_group = QActionGroup(self)
        self.dnd_actions: dict[DndChoice, QAction] = {}
        for choice, label in ((DndChoice.HOUR, "For 1 &hour"), (DndChoice.TOMORROW, "Until &tomorrow (08:00)"),
                              (DndChoice.UNTIL_OFF, "&Until I turn it off"), (DndChoice.OFF, "O&ff")):
            action = self.dnd_menu.addAction(label)
            action.setCheckable(True)
            self._dnd_group.addAction(action)
            action.triggered.connect(lambda _checked=False, c=choice: self.dnd_requested.emit(c))
            self.dnd_actions[choice] = action
        self.dnd_actions[DndChoice.OFF].setChecked(True)
        self.settings_action = self.menu.addAction("&Settings…")
        self.settings_action.triggered.connect(self.settings_requested)
        self.reconnect_action = self.menu.addAction("&Reconnect now")
        self.reconnect_action.triggered.connect(self.reconnect_requested)
        self.menu.addSeparator()
        self.quit_action = self.menu.addAction("&Quit")
        self.quit_action.triggered.connect(self.quit_requested)

        self.icon: QSystemTrayIcon | None = None
        if self.available:
            self.icon = QSystemTrayIcon(self)
            self.icon.setContextMenu(self.menu)
            self.icon.activated.connect(self._on_activated)
        self._refresh()

    def show(self) -> None:
        if self.icon is not None:
            self.icon.show()

    def hide(self) -> None:
        if self.icon is not None:
            self.icon.hide()

    # --- inputs ------------------------------------------------------------------------------

    def set_connection(self, state: ConnectionState, since: datetime | None = None, detail: str = "") -> None:
        """The connection state, since when, and details."""
        self._state = state
        self._since = since
        self._detail = detail
        self._refresh()

    @Slot(object)
    def set_status(self, status: ConnectionStatus) -> None:
        self.set_connection(status.state, status.since, status.detail)

    @Slot(int)
    def set_unread(self, count: int) -> None:
        self._unread = count
        self._refresh()

    @Slot(object)
    def set_dnd(self, until: datetime | None, reason: str = "") -> None:
        """Quiet time (manual do-not-disturb or outside working hours) until ``until``; ``None``: off."""
        self._dnd_until = until
        self._dnd_reason = reason
        if until is None:
            self.dnd_actions[DndChoice.OFF].setChecked(True)
        self._refresh()

    @Slot(object, str)
    def set_quiet(self, until: datetime | None, reason: str) -> None:
        self.set_dnd(until, reason)

    @Slot(object)
    def set_manual_dnd(self, until: datetime | None) -> None:
        """Tick the menu entry of the manual do-not-disturb (``None``: *Off*)."""
        if until is None:
            self.dnd_actions[DndChoice.OFF].setChecked(True)
        elif until.year >= 9999:
            self.dnd_actions[DndChoice.UNTIL_OFF].setChecked(True)

    @Slot(object)
    def set_offline_alarm(self, since: datetime | None) -> None:
        """The connection has been down too long since ``since`` (``None``: alerts flow again)."""
        self._offline_since = since
        self._refresh()

    @Slot(str)
    def set_warning(self, text: str) -> None:
        """Words for a problem that is not the connection (e.g. dropped events); "" clears it."""
        self._warning = text
        self._refresh()

    # --- outputs -----------------------------------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def offline_since(self) -> datetime | None:
        return self._offline_since

    @property
    def look(self) -> TrayLook:
        if self._offline_since is not None:  # the alarm beats do-not-disturb: no alerts are arriving at all
            return TrayLook.OFFLINE
        if self._dnd_until is not None:
            return TrayLook.DND
        if self._state is ConnectionState.CONNECTED:
            return TrayLook.CONNECTED
        if self._state is ConnectionState.CONNECTING:
            return TrayLook.CONNECTING
        return TrayLook.OFFLINE

    def state_text(self) -> str:
        """The connection state in words (one line), for the tooltip and the list's status bar."""
        head, meaning = _WORDS[self._state]
        detail = self._detail
        if detail and detail.lower().startswith(head.lower().rstrip("…")):
            head, detail = detail[0].upper() + detail[1:], ""  # "connected to host" says it better
        text = f"{head} — {meaning}" if meaning else head
        if self._since is not None and self._state is not ConnectionState.NOT_CONFIGURED:
            text += f" (since {_clock(self._since)})"
        if detail:
            text += f": {detail}"
        return text

    def tooltip(self) -> str:
        lines = ["trayapp", self.state_text()]
        if self._offline_since is not None:
            lines.append(f"Not receiving case alerts since {_clock(self._offline_since)}")
        if self._unread:
            lines.append(f"{self._unread} unread alert{'s' if self._unread != 1 else ''}")
        if self._dnd_until is not None:
            words = "Outside working hours: quiet" if self._dnd_reason == "outside working hours" else "Do not disturb"
            lines.append(f"{words} {until_words(self._dnd_until)}")
        if self._warning:
            lines.append(f"Warning: {self._warning}")
        return "\n".join(lines)

    def current_icon(self) -> QIcon:
        return tray_icon(self.look, self._unread, bool(self._warning))

    def _refresh(self) -> None:
        self.reconnect_action.setEnabled(self._state is not ConnectionState.NOT_CONFIGURED)
        if self.icon is not None:
            self.icon.setIcon(self.current_icon())
            self.icon.setToolTip(self.tooltip())

    @Slot(QSystemTrayIcon.ActivationReason)
    def _on_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (QSystemTrayIcon.ActivationReason.Trigger, QSystemTrayIcon.ActivationReason.DoubleClick):
            self.open_list_requested.emit()
