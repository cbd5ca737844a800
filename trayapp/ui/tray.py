"""The tray icon: state at a glance, unread count, the app menu."""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import datetime, timedelta

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QAction, QActionGroup, QFont, QIcon
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from trayapp.core.words import NEEDS_A_LINK
from trayapp.model.connection import ConnectionState, ConnectionStatus, Problem
from trayapp.ui.icons import TrayLook, tray_icon

_WORDS = {  # (head, what it means for the agent)
    ConnectionState.NOT_CONFIGURED: ("Not set up", "paste the link from your admin (Settings → New link…)"),
    ConnectionState.CONNECTING: ("Connecting…", ""),
    ConnectionState.CONNECTED: ("Connected", "alerts are flowing"),
    ConnectionState.OFFLINE: ("Offline", "not receiving alerts; trayapp keeps trying"),
    ConnectionState.ERROR: ("Not receiving alerts", "see Details in Settings"),
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
        self._problem: Problem | None = None
        self._unread = 0
        self._dnd_until: datetime | None = None
        self._dnd_reason = ""
        self._manual_until: datetime | None = None
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
        self.dnd_menu.aboutToShow.connect(self.label_dnd_menu)
        self.dnd_state_action = self.dnd_menu.addAction("Now: off")
        self.dnd_state_action.setEnabled(False)
        self.dnd_menu.addSeparator()
        #: When "until work starts" would end (set by the app: the next working-hours start).
        self.next_work_start: Callable[[], datetime] | None = None
        self._dnd_group = QActionGroup(self)
        self.dnd_actions: dict[DndChoice, QAction] = {}
        for choice, label in ((DndChoice.HOUR, "For 1 &hour"), (DndChoice.TOMORROW, "Until work &starts"),
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

    @Slot()
    def label_dnd_menu(self) -> None:
        """Say until when each choice lasts, and whether do not disturb is on now (as the menu opens)."""
        now = datetime.now().astimezone()
        self.dnd_actions[DndChoice.HOUR].setText(f"For 1 &hour (until {_clock(now + timedelta(hours=1))})")
        if self.next_work_start is not None:
            self.dnd_actions[DndChoice.TOMORROW].setText(f"Until work &starts ({_clock(self.next_work_start())})")
        manual = self._manual_until
        self.dnd_state_action.setText("Now: off" if manual is None else f"Now: on {until_words(manual)}")

    def show(self) -> None:
        if self.icon is not None:
            self.icon.show()

    def hide(self) -> None:
        if self.icon is not None:
            self.icon.hide()

    # --- inputs ------------------------------------------------------------------------------

    def set_connection(self, state: ConnectionState, since: datetime | None = None, detail: str = "",
                       problem: Problem | None = None) -> None:
        """The connection state, since when, technical details, and the :class:`Problem` behind an error."""
        self._state = state
        self._since = since
        self._detail = detail
        self._problem = problem
        self._refresh()

    @Slot(object)
    def set_status(self, status: ConnectionStatus) -> None:
        self.set_connection(status.state, status.since, status.detail, status.problem)

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
        self._manual_until = until
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
    def needs_a_link(self) -> str:
        """What the agent must do when the connection needs a new link (wrong key, revoked, refused), else ``""``."""
        if self._state is not ConnectionState.ERROR or self._problem is None:
            return ""
        return NEEDS_A_LINK.get(self._problem.value, "")

    @property
    def look(self) -> TrayLook:
        if self._state is ConnectionState.ERROR:  # needs the agent: red, its own shape, even during do not disturb
            return TrayLook.ERROR
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
        """The connection state in agent words (one line), for the tooltip, the list and Settings; the technical
        reason is :attr:`detail`."""
        head, meaning = _WORDS[self._state]
        if self.needs_a_link:
            since = f" since {_clock(self._since)}" if self._since is not None else ""
            return f"Not receiving alerts{since}: {self.needs_a_link}"
        text = f"{head} — {meaning}" if meaning else head
        if self._since is not None and self._state is not ConnectionState.NOT_CONFIGURED:
            text += f" (since {_clock(self._since)})"
        return text

    @property
    def detail(self) -> str:
        """The technical reason behind the state (Settings → Details, the log), e.g. "cannot reach host: …"."""
        return self._detail

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
