from __future__ import annotations

from datetime import UTC, datetime, timedelta

from PySide6.QtWidgets import QSystemTrayIcon

from trayapp.core.words import KEY_MISMATCH_WORDS, REVOKED_WORDS
from trayapp.model.connection import ConnectionState, ConnectionStatus, Problem
from trayapp.ui.icons import TrayLook, badge_text, tray_icon
from trayapp.ui.tray import DndChoice, TrayController


def test_offscreen_has_no_tray_but_a_menu(qtbot) -> None:
    assert not QSystemTrayIcon.isSystemTrayAvailable()
    tray = TrayController()
    assert not tray.available
    assert tray.icon is None
    labels = [a.text() for a in tray.menu.actions() if a.text()]
    assert labels == ["&Open list", "&Do not disturb", "&Settings…", "&Reconnect now", "&Quit"]
    assert [a.text() for a in tray.dnd_menu.actions() if a.text()] == [
        "Now: off", "For 1 &hour", "Until work &starts", "&Until I turn it off", "O&ff"]


def test_dnd_menu_says_until_when(qtbot) -> None:
    from trayapp.ui.tray import _clock

    tray = TrayController(use_tray=False)
    start = datetime.now().astimezone() + timedelta(days=3)
    tray.next_work_start = lambda: start
    before = datetime.now().astimezone() + timedelta(hours=1)
    tray.label_dnd_menu()  # what opening the menu does
    after = datetime.now().astimezone() + timedelta(hours=1)
    assert tray.dnd_actions[DndChoice.HOUR].text() in {f"For 1 &hour (until {_clock(t)})" for t in (before, after)}
    assert tray.dnd_actions[DndChoice.TOMORROW].text() == f"Until work &starts ({start:%a %H:%M})"
    assert tray.dnd_state_action.text() == "Now: off"
    assert not tray.dnd_state_action.isEnabled()
    until = start - timedelta(days=2)
    tray.set_manual_dnd(until)
    tray.label_dnd_menu()
    assert tray.dnd_state_action.text() == f"Now: on until {_clock(until)}"


def test_state_machine_looks_and_words(qtbot) -> None:
    tray = TrayController(use_tray=False)
    assert tray.look is TrayLook.CONNECTING
    since = datetime.now(UTC) - timedelta(minutes=3)
    tray.set_status(ConnectionStatus(ConnectionState.CONNECTED, since, "connected to bridge.example.com"))
    assert tray.state is ConnectionState.CONNECTED
    assert tray.look is TrayLook.CONNECTED
    assert "Connected — alerts are flowing (since " in tray.tooltip()
    assert "bridge.example.com" not in tray.tooltip() and tray.detail == "connected to bridge.example.com"
    tray.set_status(ConnectionStatus(ConnectionState.OFFLINE, since, "cannot reach 10.0.0.7:443: connection refused"))
    assert tray.look is TrayLook.OFFLINE
    assert "Offline — not receiving alerts; trayapp keeps trying" in tray.tooltip()
    assert "10.0.0.7" not in tray.tooltip() and "refused" not in tray.tooltip()  # agent words; the rest is Details
    for problem, words in ((Problem.KEY_MISMATCH, KEY_MISMATCH_WORDS), (Problem.REVOKED, REVOKED_WORDS),
                           (Problem.TOKEN_REFUSED, REVOKED_WORDS)):  # a running token the server stopped knowing
        tray.set_status(ConnectionStatus(ConnectionState.ERROR, since, "technical", problem))
        assert tray.look is TrayLook.ERROR  # red, and its own shape
        assert tray.needs_a_link == words and words in tray.tooltip()
        assert "Connected" not in tray.tooltip()
    tray.set_dnd(datetime.now(UTC) + timedelta(hours=1))
    assert tray.look is TrayLook.ERROR  # an error beats do not disturb
    tray.set_dnd(None)
    tray.set_status(ConnectionStatus(ConnectionState.ERROR, since, "disk full", Problem.INTERNAL))
    assert tray.look is TrayLook.ERROR and tray.needs_a_link == ""
    tray.set_connection(ConnectionState.NOT_CONFIGURED)
    assert "paste the link from your admin" in tray.tooltip()
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
