from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.support.rows import make_event, make_row
from trayapp.model.alerts import CATCH_UP_TARGET
from trayapp.settings import Settings
from trayapp.ui.notify import Urgency
from trayapp.ui.presenter import Presenter, tomorrow_morning


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_defaults_route_the_right_kinds(qtbot) -> None:
    clock = Clock()
    presenter = Presenter(clock=clock)
    shown = []
    presenter.notify.connect(shown.append)
    presenter.on_event(make_row(1, kind="case.new", status="pending"), False)
    for seq, status in enumerate(("pending", "queue", "active", "closed"), start=2):
        clock.now += timedelta(seconds=11)  # apart: no burst summary
        presenter.on_event(make_row(seq, kind="chat.status", status=status), False)
    presenter.on_event(make_row(10, kind="chat.message", status=None), False)
    presenter.on_event(make_row(11, kind="agent.status", status="available"), False)
    presenter.on_event(make_row(12, kind="other", status=None), False)
    assert [n.target for n in shown] == ["evt-1", "evt-2", "evt-3", "evt-4", "evt-5"]
    assert shown[0].title == "New case #5001 — Contact 1"
    assert shown[4].urgency is Urgency.LOW  # closed
    assert shown[0].key == "case:5001"


def test_settings_enable_whole_kinds_and_single_statuses(qtbot) -> None:
    presenter = Presenter(enabled={"chat.message", "chat.status/queue"})
    assert presenter.wants(make_event(1, kind="chat.message", status=None).event)
    assert presenter.wants(make_event(2, kind="chat.status", status="queue").event)
    assert not presenter.wants(make_event(3, kind="chat.status", status="active").event)
    assert not presenter.wants(make_event(4, kind="case.new").event)
    presenter.set_enabled({"chat.status"})
    assert presenter.wants(make_event(5, kind="chat.status", status="active").event)


def test_read_rows_do_not_notify(qtbot) -> None:
    presenter = Presenter()
    shown = []
    presenter.notify.connect(shown.append)
    presenter.on_event(make_row(1, read=True), False)
    presenter.on_event(make_event(2), False)  # a bare ReceivedEvent works too
    assert [n.target for n in shown] == ["evt-2"]


def test_catch_up_is_one_popup(qtbot) -> None:
    presenter = Presenter()
    shown = []
    presenter.notify.connect(shown.append)
    presenter.on_event(make_row(1), True)
    presenter.on_caught_up(1)
    assert [n.target for n in shown] == ["evt-1"]
    for seq in range(2, 7):
        presenter.on_event(make_row(seq), True)
    presenter.on_event(make_row(7, kind="chat.message", status=None), True)  # not enabled: not counted
    presenter.on_caught_up(6)
    summary = shown[-1]
    assert summary.title == "5 events while you were away"
    assert summary.target == CATCH_UP_TARGET
    assert presenter.catch_up_ids == [f"evt-{seq}" for seq in range(2, 7)]
    assert summary.body.splitlines()[0] == "New case #5006 — Contact 6"
    assert summary.body.splitlines()[-1] == "and 2 more"
    presenter.on_caught_up(0)
    assert len(shown) == 2


def test_dnd_silences_until_it_ends(qtbot) -> None:
    clock = Clock()
    presenter = Presenter(clock=clock)
    shown = []
    presenter.notify.connect(shown.append)
    with qtbot.waitSignal(presenter.dnd_changed) as changed:
        presenter.dnd_for(timedelta(hours=1))
    assert changed.args == [clock.now + timedelta(hours=1)]
    presenter.on_event(make_row(1), False)
    presenter.on_event(make_row(2), True)
    presenter.on_caught_up(1)
    assert shown == []
    clock.now += timedelta(hours=1, seconds=1)  # time driven by the test
    with qtbot.waitSignal(presenter.dnd_changed) as ended:
        presenter._check_dnd()
    assert ended.args == [None]
    presenter.on_event(make_row(3), False)
    assert [n.target for n in shown] == ["evt-3"]


def test_dnd_timer_ends_it(qtbot) -> None:
    presenter = Presenter()
    presenter.set_dnd_until(datetime.now(UTC) + timedelta(milliseconds=150))
    assert presenter.dnd_active
    with qtbot.waitSignal(presenter.dnd_changed, timeout=5000) as ended:
        pass
    assert ended.args == [None]
    assert not presenter.dnd_active


def test_dnd_in_the_past_is_off_and_tomorrow_is_the_next_work_start(qtbot) -> None:
    clock = Clock()
    presenter = Presenter(clock=clock)
    presenter.set_dnd_until(clock.now - timedelta(minutes=1))
    assert not presenter.dnd_active
    presenter.dnd_until_tomorrow()
    assert clock.now.weekday() == 2  # a Wednesday: the next start is Thursday at the working hours' start
    assert presenter.dnd_until == datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    presenter.apply_settings(Settings(working_start="07:30", working_days=(0,)))
    presenter.dnd_until_tomorrow()
    assert presenter.dnd_until == datetime(2026, 11, 30, 7, 30, tzinfo=UTC)  # the next Monday
    assert tomorrow_morning(datetime(2026, 12, 31, 23, 0, tzinfo=UTC)) == datetime(2027, 1, 1, 8, 0, tzinfo=UTC)


def test_presenter_arms_its_timer_for_the_policys_next_deadline(qtbot) -> None:
    clock = Clock()
    presenter = Presenter(clock=clock)
    shown, sounds, quiet = [], [], []
    presenter.notify.connect(shown.append)
    presenter.play_sound.connect(sounds.append)
    presenter.quiet_changed.connect(lambda until, reason: quiet.append((until, reason)))
    assert not presenter.timer.isActive()
    presenter.on_event(make_row(1, kind="chat.status", status="queue", case_id="3"), False)
    assert presenter.timer.isActive() and abs(presenter.timer.interval() - 60_000) <= 100
    assert sounds == [70]
    clock.now += timedelta(seconds=60)
    presenter.timer.timeout.emit()  # the interval is up
    assert [n.key for n in shown] == ["case:3", "case:3"]
    presenter.dnd_until_off()
    assert quiet[-1][1] == "do not disturb" and quiet[-1][0].year == 9999
    clock.now += timedelta(seconds=60)
    presenter.tick()
    assert len(shown) == 2 and sounds == [70, 70]  # quiet: the waiting case does not call
    presenter.set_dnd_until(None)
    assert quiet[-1] == (None, "")
