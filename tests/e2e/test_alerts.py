"""Issue 4's alerts against the real notification server (dunst) on a real session bus: the whole app with a fake
client (events injected) and a fake clock (the re-alert timer is fired by the test)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication, QEvent

from tests.e2e.conftest import displayed, dunstctl, history
from tests.ui.fakes import FakeClient
from trayapp.core.event import Event, ReceivedEvent
from trayapp.model.rows import HistoryRow

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("clean_dunst")]


def make_row(seq: int, kind: str, status: str, case_id: str, contact_name: str = "Contact") -> HistoryRow:
    event = Event(kind=kind, acquire_event=f"{kind}.{status}", status=status, case_id=case_id,
                  contact_name=contact_name, channel="chat", title="Question", account="acme")
    return HistoryRow(ReceivedEvent(seq=seq, id=f"evt-{seq}", received_at="2026-11-25T10:00:00Z", body="{}",
                                    event=event), False)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def running(qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple]:
    monkeypatch.setenv("TRAYAPP_CONFIG_DIR", str(tmp_path / "config"))
    from trayapp.settings import Settings
    from trayapp.ui.app import TrayApp
    from trayapp.ui.notify.freedesktop import FreedesktopNotifier
    from trayapp.ui.sound import SoundPlayer

    clock = Clock()
    settings = Settings(bridge_url="https://bridge.example.com", key="ed25519:x", account_id="acme")
    app = TrayApp(FakeClient(), settings, save_settings=lambda _s: None, clock=clock,
                  sound=SoundPlayer(method=("beep",), beeper=lambda: None))
    assert isinstance(app.notifier, FreedesktopNotifier)
    with qtbot.waitSignal(app.notifier.capabilities_known, timeout=10_000):
        pass
    app.start()
    try:
        yield app, clock
    finally:
        app.quit()
        # Destroy the Qt objects here, in the GUI thread: left to the garbage collector they may be collected in
        # a worker thread of a later test (QtDBus/timer objects destroyed off their thread crash the process).
        for obj in (app.window, app.tray, app):
            obj.deleteLater()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        gc.collect()


def test_a_realert_replaces_the_same_popup(running: tuple, qtbot) -> None:
    app, clock = running
    notifier = app.notifier
    before = len(history())
    with qtbot.waitSignal(notifier._shown, timeout=10_000) as first:
        app.client.event_received.emit(make_row(1, kind="chat.status", status="pending", case_id="5121",
                                                contact_name="Maria Lopez"), False)
    qtbot.waitUntil(lambda: displayed() == 1, timeout=10_000)
    clock.now += timedelta(seconds=60)
    with qtbot.waitSignal(notifier._shown, timeout=10_000) as again:
        app.presenter.timer.timeout.emit()  # the 60 s are up
    assert again.args[1] == first.args[1], "the re-alert reuses the notification id (replaces_id)"
    assert displayed() == 1, "still one popup on screen"
    dunstctl("close-all")
    qtbot.waitUntil(lambda: displayed() == 0, timeout=10_000)
    new = history()[: len(history()) - before]
    assert [n["summary"] for n in new] == ["Chat #5121 is waiting — Maria Lopez (waiting 1 min)"]


def test_a_closed_case_withdraws_its_popup(running: tuple, qtbot) -> None:
    app, _clock = running
    with qtbot.waitSignal(app.notifier._shown, timeout=10_000):
        app.client.event_received.emit(make_row(1, kind="chat.status", status="queue", case_id="77"), False)
    qtbot.waitUntil(lambda: displayed() == 1, timeout=10_000)
    with qtbot.waitSignal(app.notifier.dismissed, timeout=10_000) as gone:
        app.client.event_received.emit(make_row(2, kind="chat.status", status="closed", case_id="77"), False)
    assert gone.args == ["case:77"]
    qtbot.waitUntil(lambda: displayed() == 0, timeout=10_000)
    assert app.presenter.policy.waiting_keys == []
