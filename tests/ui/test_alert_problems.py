"""Alerts that could not be shown are told, and a failed notification back-end is a temporary, visible downgrade."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tests.support.rows import make_row
from tests.ui.fakes import FakeClient, RecordingNotifier
from trayapp.settings import Settings
from trayapp.ui.app import TrayApp
from trayapp.ui.notifier_control import NOTIFIER_RETRY_S
from trayapp.ui.notify.base import Notification, Notifier
from trayapp.ui.notify.tray import TrayMessageNotifier


class Factory:
    """Opens the preferred back-end again: fails while ``down``, else a new recording notifier."""

    def __init__(self) -> None:
        self.down = True
        self.opened: list[RecordingNotifier] = []

    def __call__(self) -> Notifier:
        if self.down:
            raise OSError("no session bus")
        self.opened.append(RecordingNotifier())
        return self.opened[-1]


@pytest.fixture
def factory() -> Factory:
    return Factory()


@pytest.fixture
def app(qtbot, factory: Factory) -> Iterator[TrayApp]:
    settings = Settings(bridge_url="https://bridge.example.com", key="ed25519:x")
    tray_app = TrayApp(FakeClient(), settings, use_tray=False, notifier=RecordingNotifier(),
                       save_settings=lambda _s: None, notifier_factory=factory)
    qtbot.addWidget(tray_app.window)
    tray_app.start()
    yield tray_app
    tray_app.notifiers.retry_timer.stop()
    tray_app.window.close()


def client(app: TrayApp) -> FakeClient:
    assert isinstance(app.client, FakeClient)
    return app.client


def test_a_downgrade_is_visible_temporary_and_retried_with_growing_pauses(app: TrayApp, factory: Factory) -> None:
    native = app.notifier
    assert isinstance(native, RecordingNotifier)
    pending = Notification(key="case:1", title="New case #1", body="", target="evt-1")
    native.unsent.append(pending)
    native.failed.emit("org.freedesktop.Notifications unavailable")
    assert isinstance(app.notifier, TrayMessageNotifier) and native.closed
    assert app.notifier.last == pending, "what the failed back-end had accepted is shown another way"
    assert "popups are limited" in app.tray.tooltip()
    assert "Popups are limited" in app.window.state_label.text()
    assert app.notifiers.retry_timer.isActive() and app.notifiers.retry_timer.interval() == NOTIFIER_RETRY_S[0] * 1000

    app.notifiers.retry_timer.timeout.emit()  # still down: the next try waits longer
    assert isinstance(app.notifier, TrayMessageNotifier)
    assert app.notifiers.retry_timer.interval() == NOTIFIER_RETRY_S[1] * 1000

    factory.down = False
    app.notifiers.retry_timer.timeout.emit()
    assert app.notifier is factory.opened[0]
    assert "popups are limited" not in app.tray.tooltip() and "Popups are limited" not in app.window.state_label.text()
    client(app).event_received.emit(make_row(1), False)
    assert [n.title for n in factory.opened[0].shown] == ["New case #5001 — Contact 1"]

    factory.opened[0].failed.emit("lost again")  # down again: tray messages again, retried again
    assert isinstance(app.notifier, TrayMessageNotifier) and app.notifiers.retry_timer.isActive()


def test_a_popup_that_could_not_be_shown_is_counted_and_logged(app: TrayApp, caplog) -> None:
    native = app.notifier
    with caplog.at_level(logging.WARNING):
        native.not_shown.emit(Notification(key="case:1", title="t", body="", target="evt-1"), "InvalidArgs")
        native.not_shown.emit(Notification(key="case:2", title="t", body="", target="evt-2"), "InvalidArgs")
    assert app.notifier is native, "one refused popup does not downgrade anything"
    assert "2 alerts could not be shown" in app.tray.tooltip()
    assert "2 alerts could not be shown as a popup" in app.window.warning_banner.label.text()
    assert "popup case:1 failed (InvalidArgs)" in caplog.text


def test_an_event_the_client_dropped_is_told_in_plain_words(app: TrayApp, caplog) -> None:
    with caplog.at_level(logging.WARNING):
        client(app).event_skipped.emit("e-7", "store failed: UnicodeEncodeError")
    assert "1 alert could not be shown" in app.tray.tooltip()
    banner = app.window.warning_banner.label.text()
    assert "1 alert could not be shown: it arrived but could not be read or saved" in banner
    assert "UnicodeEncodeError" not in banner, "agent words; the log has the reason"
    assert "store failed: UnicodeEncodeError" in caplog.text


def test_an_event_whose_alert_cannot_be_prepared_is_still_listed_and_the_next_one_pops(
        app: TrayApp, monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    real = app.presenter.policy.on_event

    def explode_once(received, now):
        if received.id == "evt-1":
            raise ValueError("cannot format")
        return real(received, now)

    monkeypatch.setattr(app.presenter.policy, "on_event", explode_once)
    with caplog.at_level(logging.ERROR):
        client(app).event_received.emit(make_row(1), False)
        client(app).event_received.emit(make_row(2), False)
    app.flush_rows()
    assert app.model.find("evt-1") is not None, "still in the list"
    notifier = app.notifier
    assert isinstance(notifier, RecordingNotifier)
    assert [n.target for n in notifier.shown] == ["evt-2"]
    assert "1 alert could not be shown" in app.tray.tooltip()
    assert "could not be prepared" in caplog.text


def test_without_native_notifications_at_start_they_are_tried_again(
        qtbot, factory: Factory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)  # nothing native here: tray messages at first
    app = TrayApp(FakeClient(), Settings(), use_tray=False, save_settings=lambda _s: None, notifier_factory=factory)
    qtbot.addWidget(app.window)
    try:
        assert isinstance(app.notifier, TrayMessageNotifier)
        assert "popups are limited" in app.tray.tooltip() and app.notifiers.retry_timer.isActive()
        factory.down = False
        app.notifiers.retry_timer.timeout.emit()
        assert app.notifier is factory.opened[0] and "popups are limited" not in app.tray.tooltip()
    finally:
        app.notifiers.retry_timer.stop()
        app.window.close()
