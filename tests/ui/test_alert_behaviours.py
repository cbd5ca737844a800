"""Issue 4's behaviours through the whole app (fake client, recording notifier, fake clock, timers fired by the
test): nothing sleeps through real seconds."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PySide6.QtWidgets import QDialogButtonBox

from tests.support.rows import make_row
from tests.ui.fakes import FakeClient, RecordingNotifier, UrlCatcher, catching_browser
from trayapp.model.alerts import BURST_KEY, OFFLINE_KEY
from trayapp.model.connection import ConnectionState, ConnectionStatus
from trayapp.settings import Settings
from trayapp.ui.app import TrayApp
from trayapp.ui.icons import TrayLook
from trayapp.ui.sound import SoundPlayer
from trayapp.ui.tray import DndChoice

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)  # Wednesday 10:00


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Env:
    def __init__(self, app: TrayApp, clock: Clock, started: list[tuple[str, list[str]]]) -> None:
        self.app, self.clock, self.started = app, clock, started
        assert isinstance(app.client, FakeClient) and isinstance(app.notifier, RecordingNotifier)
        self.client: FakeClient = app.client
        self.notifier: RecordingNotifier = app.notifier

    def fire_timer(self) -> None:
        """What the presenter's QTimer does when its interval is up (the clock was moved by the test)."""
        timer = self.app.presenter.timer
        assert timer.isActive()
        timer.timeout.emit()

    def titles(self) -> list[str]:
        return [n.title for n in self.notifier.shown]


def build(qtbot, tmp_path: Path, **changes: object) -> Env:
    clock = Clock()
    started: list[tuple[str, list[str]]] = []
    sound = SoundPlayer(method=("command", "/usr/bin/paplay"), starter=lambda p, a: started.append((p, a)) or True,
                        beeper=lambda: started.append(("beep", [])), cache_dir=tmp_path / "sounds")
    settings = Settings(bridge_url="https://bridge.example.com", key="ed25519:x",
                        url_template="https://acme.example.com/inbox/case/{case_id}").replace(**changes)
    app = TrayApp(FakeClient(), settings, use_tray=False, notifier=RecordingNotifier(),
                  save_settings=lambda _s: None, sound=sound, clock=clock)
    qtbot.addWidget(app.window)
    app.start()
    return Env(app, clock, started)


@pytest.fixture(autouse=True)
def browser() -> Iterator[UrlCatcher]:
    with catching_browser() as catcher:
        yield catcher


@pytest.fixture
def env(qtbot, tmp_path: Path) -> Iterator[Env]:
    e = build(qtbot, tmp_path)
    yield e
    e.app.window.close()


def test_1_waiting_customer_realerts_replacing_its_popup_until_opened(env: Env) -> None:
    env.client.event_received.emit(make_row(1, kind="chat.status", status="pending", case_id="77"), False)
    assert [n.key for n in env.notifier.shown] == ["case:77"]
    assert env.app.presenter.timer.interval() == pytest.approx(60_000, abs=100)  # the timer waits 60 s
    env.clock.advance(60)
    env.fire_timer()
    assert [n.key for n in env.notifier.shown] == ["case:77", "case:77"]  # same key: replaces (replaces_id)
    assert env.titles()[-1].endswith("(waiting 1 min)")
    env.app.flush_rows()
    env.app.open_event("evt-1")  # the agent opens it
    assert "case:77" in env.notifier.withdrawn
    env.clock.advance(60)
    assert not env.app.presenter.timer.isActive()
    assert len(env.notifier.shown) == 2


def test_1_max_five_repeats_then_active_stops(env: Env) -> None:
    env.client.event_received.emit(make_row(1, kind="case.new", status="pending", case_id="5"), False)
    for _ in range(7):
        env.clock.advance(60)
        if env.app.presenter.timer.isActive():
            env.fire_timer()
    assert len(env.notifier.shown) == 1 + 5
    env.client.event_received.emit(make_row(2, kind="case.new", status="pending", case_id="6"), False)
    env.client.event_received.emit(make_row(3, kind="chat.status", status="active", case_id="6"), False)
    assert [n.key for n in env.notifier.shown[-2:]] == ["case:6", "case:6"]
    assert env.app.presenter.policy.waiting_keys == []


def test_2_closed_case_withdraws_its_popup(env: Env) -> None:
    env.client.event_received.emit(make_row(1, kind="chat.status", status="queue", case_id="9"), False)
    env.clock.advance(3)
    env.client.event_received.emit(make_row(2, kind="chat.status", status="closed", case_id="9"), False)
    assert env.notifier.withdrawn == ["case:9"]
    assert len(env.notifier.shown) == 1
    env.app.flush_rows()
    assert env.app.model.total == 2  # both are in the list


def test_3_a_burst_is_one_summary_that_opens_the_list(env: Env) -> None:
    for seq in range(1, 6):
        env.client.event_received.emit(make_row(seq), False)
        env.clock.advance(1)
    assert env.titles()[-1] == "5 new cases"
    assert env.notifier.shown[-1].key == BURST_KEY
    assert env.notifier.withdrawn == ["case:5001", "case:5002", "case:5003"]
    env.notifier.activated.emit(env.notifier.shown[-1].target)
    assert env.app.window.isVisible()
    env.app.flush_rows()
    assert env.app.model.total == 5


def test_5_dnd_until_off_working_hours_and_new_cases_exception(qtbot, tmp_path: Path) -> None:
    e = build(qtbot, tmp_path)
    e.app.tray.dnd_requested.emit(DndChoice.UNTIL_OFF)
    assert e.app.settings.dnd_until is not None and e.app.settings.dnd_until.startswith("9999")
    assert e.app.tray.look is TrayLook.DND
    assert "Do not disturb until turned off" in e.app.tray.tooltip()
    e.client.event_received.emit(make_row(1), False)
    assert e.notifier.shown == [] and e.started == []  # no popup, no sound
    e.app.flush_rows()
    assert e.app.model.unread_count == 1  # but in the list, unread
    e.app.tray.dnd_requested.emit(DndChoice.OFF)
    assert e.app.tray.look is not TrayLook.DND
    e.app.window.close()

    # working hours: Wednesday 10:00 is inside; 17:00 is outside, until Thursday 09:00
    w = build(qtbot, tmp_path, working_hours_enabled=True, dnd_allow_new_cases=True)
    assert w.app.tray.look is not TrayLook.DND
    w.clock.now = T0.replace(hour=17)
    w.app.presenter.tick()
    assert w.app.tray.look is TrayLook.DND
    assert "Outside working hours" in w.app.tray.tooltip()
    assert "Outside working hours" in w.app.window.state_label.text()
    w.client.event_received.emit(make_row(2, kind="chat.status", status="pending", case_id="3"), False)
    assert w.notifier.shown == []
    w.client.event_received.emit(make_row(3), False)  # "still alert for new cases"
    assert w.titles() == ["New case #5003 — Contact 3"] and w.started == []  # silent in quiet time
    w.clock.now = T0.replace(day=26, hour=9)
    w.app.presenter.tick()
    assert w.app.tray.look is not TrayLook.DND
    w.app.window.close()


def test_6_sound_for_sound_kinds_at_the_volume(env: Env) -> None:
    env.client.event_received.emit(make_row(1), False)
    assert len(env.started) == 1
    program, args = env.started[0]
    assert program == "/usr/bin/paplay" and args[-1].endswith("alert-70.wav")
    env.clock.advance(20)
    env.client.event_received.emit(make_row(2, kind="chat.status", status="active", case_id="2"), False)
    assert len(env.started) == 1  # active: not a sound kind by default
    env.app._replace_settings(env.app.settings.replace(sound_volume=30))
    env.clock.advance(20)
    env.client.event_received.emit(make_row(3), False)
    assert env.started[-1][1][-1].endswith("alert-30.wav")


def test_7_only_mine(qtbot, tmp_path: Path) -> None:
    e = build(qtbot, tmp_path, only_mine=True, my_agent_id="a-42")
    e.client.event_received.emit(make_row(1, kind="chat.status", status="active", agent_id="a-7"), False)
    e.clock.advance(20)
    e.client.event_received.emit(make_row(2, kind="chat.status", status="active", agent_id="a-42"), False)
    e.clock.advance(20)
    e.client.event_received.emit(make_row(3, kind="chat.status", status="pending", agent_id="a-7"), False)
    assert [n.target for n in e.notifier.shown] == ["evt-2", "evt-3"]
    e.app.flush_rows()
    assert e.app.model.total == 3
    e.app.window.close()


def test_8_offline_for_a_minute_alarms_and_recovers(env: Env) -> None:
    env.client.state_changed.emit(ConnectionStatus(ConnectionState.CONNECTED, T0))
    env.client.state_changed.emit(ConnectionStatus(ConnectionState.OFFLINE, T0, "retrying in 2 s"))
    assert env.notifier.shown == []
    assert env.app.presenter.timer.interval() == pytest.approx(60_000, abs=100)
    env.clock.advance(61)
    env.fire_timer()
    assert env.titles() == ["Not receiving case alerts"]
    assert env.app.tray.offline_since == T0
    assert "Not receiving case alerts since" in env.app.tray.tooltip()
    assert "Not receiving case alerts since" in env.app.window.state_label.text()
    env.app.tray.dnd_requested.emit(DndChoice.HOUR)
    assert env.app.tray.look is TrayLook.OFFLINE  # the alarm shows through do-not-disturb
    env.app.tray.dnd_requested.emit(DndChoice.OFF)
    env.client.state_changed.emit(ConnectionStatus(ConnectionState.CONNECTED, env.clock.now))
    assert env.titles()[-1] == "Receiving case alerts again"
    assert env.notifier.shown[-1].key == OFFLINE_KEY  # replaces the alarm
    assert env.app.tray.offline_since is None


def test_9_unread_count_open_marks_read_and_mark_all(env: Env) -> None:
    env.client.history_loaded.emit([make_row(3), make_row(2), make_row(1, read=True)])
    assert env.app.window.windowTitle() == "2 unread"
    assert "2 unread alerts" in env.app.tray.tooltip()
    env.app.open_event("evt-3")
    assert env.app.window.windowTitle() == "1 unread"
    env.app.window.mark_all_read_requested.emit()
    assert env.app.window.windowTitle() == "Alerts"
    assert ("mark_all_read", None) in env.client.calls
    assert "unread" not in env.app.tray.tooltip()


def test_settings_dialog_alerts_page_applies(env: Env, qtbot) -> None:
    env.app.show_settings()
    dialog = env.app._settings_dialog
    assert dialog is not None
    assert dialog.realert_spin.value() == 60 and dialog.realert_max_spin.value() == 5
    assert dialog.burst_size_spin.value() == 3 and dialog.burst_window_spin.value() == 10
    assert dialog.offline_spin.value() == 60 and dialog.volume_slider.value() == 70
    dialog.realert_spin.setValue(30)
    dialog.working_box.setChecked(True)
    dialog.day_boxes[5].setChecked(True)
    dialog.only_mine_box.setChecked(True)
    dialog.departments_edit.setText("Sales, Billing ,")
    with qtbot.waitSignal(dialog.sound_test_requested) as played:
        dialog.sound_test_button.click()
    assert played.args == [70]
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    s = env.app.settings
    assert s.realert_interval_s == 30 and s.working_hours_enabled and s.working_days == (0, 1, 2, 3, 4, 5)
    assert s.only_mine and s.my_departments == ("Sales", "Billing")
    assert env.app.presenter.policy.config.realert_interval_s == 30
