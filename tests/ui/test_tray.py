from __future__ import annotations

from datetime import UTC, datetime, timedelta

from PySide6.QtWidgets import QSystemTrayIcon

from trayapp.model.connection import ConnectionState, ConnectionStatus
from trayapp.ui.icons import TrayLook, badge_text, tray_icon
from trayapp.ui.tray import DndChoice, TrayController


def test_offscreen_has_no_tray_but_a_menu(qtbot) -> None:
    assert not QSystemTrayIcon.isSystemTrayAvailable()
    tray = TrayController()
    assert not tray.available
    assert tray.icon is None
    labels = [a.text() for a in tray.menu.actions() if a.text()]
    assert labels == ["&Open list", "&Do not disturb", "&Settings…", "&Reconnect now", "&Quit"]
    assert [a.text() for a in tray.dnd_menu.actions()] == ["For 1 &hour", "Until &tomorrow (08:00)",
                                                         "&Until I turn it off", "O&ff"]


def test_state_machine_looks_and_words(qtbot) -> None:
    tray = TrayController(use_tray=False)
    assert tray.look is TrayLook.CONNECTING
    since = datetime.now(UTC) - timedelta(minutes=3)
    tray.set_status(ConnectionStatus(ConnectionState.CONNECTED, since, "connected to bridge.example.com"))
    assert tray.state is ConnectionState.CONNECTED
    assert tray.look is TrayLook.CONNECTED
    assert "Connected to bridge.example.com — alerts are flowing (since " in tray.tooltip()
    assert "bridge.example.com" in tray.tooltip()
    tray.set_status(ConnectionStatus(ConnectionState.OFFLINE, since, "retrying in 4 s"))
    assert tray.look is TrayLook.OFFLINE
    assert "Offline — not receiving alerts" in tray.tooltip()
    tray.set_status(ConnectionStatus(ConnectionState.ERROR, since, "token refused"))
    assert tray.look is TrayLook.OFFLINE
    tray.set_connection(ConnectionState.NOT_CONFIGURED)
    assert "paste a connection link" in tray.tooltip()
    assert not tray.reconnect_action.isEnabled()
    tray.set_dnd(datetime.now(UTC) + timedelta(hours=1))
    assert tray.look is TrayLook.DND
    assert "Do not disturb until" in tray.tooltip()
    tray.set_dnd(None)
    assert tray.dnd_actions[DndChoice.OFF].isChecked()


def test_unread_and_warning_in_words_and_on_the_icon(qtbot) -> None:
    tray = TrayController(use_tray=False)
    tray.set_unread(3)
    assert "3 unread alerts" in tray.tooltip()
    tray.set_warning("2 alerts failed verification")
    assert "Warning: 2 alerts failed verification" in tray.tooltip()
    icon = tray.current_icon()
    assert not icon.isNull()
    assert icon.cacheKey() != tray_icon(tray.look).cacheKey()
    assert badge_text(0) == "" and badge_text(7) == "7" and badge_text(250) == "99+"


def test_menu_actions_emit(qtbot) -> None:
    tray = TrayController(use_tray=False)
    with qtbot.waitSignal(tray.open_list_requested):
        tray.open_action.trigger()
    with qtbot.waitSignal(tray.reconnect_requested):
        tray.reconnect_action.trigger()
    with qtbot.waitSignal(tray.settings_requested):
        tray.settings_action.trigger()
    with qtbot.waitSignal(tray.dnd_requested) as dnd:
        tray.dnd_actions[DndChoice.TOMORROW].trigger()
    assert dnd.args == [DndChoice.TOMORROW]
    with qtbot.waitSignal(tray.quit_requested):
        tray.quit_action.trigger()


def test_icons_render_at_every_size(qtbot) -> None:
    for look in TrayLook:
        for unread in (0, 5, 120):
            icon = tray_icon(look, unread, unread == 5)
            for size in (16, 22, 32, 64):
                image = icon.pixmap(size, size).toImage()
                assert image.width() == size
                # not blank: the centre has some opaque pixel
                assert image.pixelColor(size // 2, size // 2).alpha() > 0
