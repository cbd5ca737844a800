"""create_notifier's choice per platform, its fallbacks, and the native back-end's plumbing (offscreen, no server).

The native back-end against a real notification server: tests/e2e/test_native_notifier.py.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest
from desktop_notifier import Capability

from trayapp.ui.notify import factory
from trayapp.ui.notify.base import Notification, Notifier, Urgency
from trayapp.ui.notify.native import NativeNotifier, NativeUnavailable
from trayapp.ui.notify.tray import TrayMessageNotifier


class Picked(Notifier):
    def __init__(self, which: str) -> None:
        super().__init__()
        self.which = which


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Stub the two native openers; record which one create_notifier tried."""
    calls: list[str] = []

    def opener(which: str) -> Any:
        def open_(app_icon_path: str) -> Notifier:
            calls.append(which)
            return Picked(which)
        return open_

    monkeypatch.setattr(factory, "_open_native", opener("native"))
    monkeypatch.setattr(factory, "_open_freedesktop", opener("freedesktop"))
    return calls


@pytest.mark.parametrize("platform", ["win32", "darwin"])
def test_windows_and_macos_use_the_native_back_end(monkeypatch, opened, platform, qtbot) -> None:
    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")  # irrelevant there
    n = factory.create_notifier(None, "icon.png")
    assert isinstance(n, Picked) and n.which == "native"
    assert opened == ["native"]


def test_linux_keeps_the_jeepney_back_end(monkeypatch, opened, qtbot) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
    n = factory.create_notifier(None, "icon.png")
    assert isinstance(n, Picked) and n.which == "freedesktop"
    assert opened == ["freedesktop"]


def test_linux_without_a_session_bus_uses_tray_messages(monkeypatch, opened, qtbot) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    assert isinstance(factory.create_notifier(None), TrayMessageNotifier)
    assert opened == []


@pytest.mark.parametrize("error", [ImportError("No module named 'desktop_notifier'"), NativeUnavailable("dummy"),
                                   OSError("registry"), RuntimeError("Could not get ToastNotifier")])
@pytest.mark.parametrize("platform", ["win32", "darwin"])
def test_a_native_back_end_that_fails_to_start_falls_back_to_tray_messages(monkeypatch, platform, error,
                                                                           qtbot) -> None:
    monkeypatch.setattr(sys, "platform", platform)

    def fail(app_icon_path: str) -> Notifier:
        raise error

    monkeypatch.setattr(factory, "_open_native", fail)
    assert isinstance(factory.create_notifier(None), TrayMessageNotifier)


def test_linux_bus_failure_falls_back_to_tray_messages(monkeypatch, qtbot) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
    assert isinstance(factory.create_notifier(None), TrayMessageNotifier)  # the real jeepney open fails


def test_macos_outside_an_app_bundle_falls_back(monkeypatch, qtbot) -> None:
    """desktop-notifier's dummy back-end (macOS without a bundle, old Windows) shows nothing: not native."""
    from desktop_notifier import main
    from desktop_notifier.backends.dummy import DummyNotificationCenter

    monkeypatch.setattr(main, "get_backend_class", lambda: DummyNotificationCenter)
    with pytest.raises(NativeUnavailable):
        NativeNotifier.open()
    monkeypatch.setattr(sys, "platform", "darwin")
    assert isinstance(factory.create_notifier(None), TrayMessageNotifier)


# --- the native back-end's threads and bookkeeping, on a fake desktop-notifier ---------------------------------------


class FakeDesktopNotifier:
    """desktop-notifier's public API as the adapter uses it; keeps its "screen" in a dict."""

    def __init__(self, fail_send: bool = False, authorised: bool = True) -> None:
        self.fail_send = fail_send
        self.authorised = authorised
        self.screen: dict[str, Any] = {}
        self.sent: list[Any] = []
        self.cleared: list[str] = []

    async def request_authorisation(self) -> bool:
        return self.authorised

    async def get_capabilities(self) -> frozenset[Capability]:
        return frozenset({Capability.ON_CLICKED, Capability.ON_DISMISSED})

    async def send_notification(self, note: Any) -> str:
        if not self.fail_send:  # like the real one: a failure is logged, not raised; no on_dispatched
            self.sent.append(note)
            self.screen[note.identifier] = note
            note.on_dispatched()
        return note.identifier

    async def get_current_notifications(self) -> list[str]:
        return list(self.screen)

    async def clear(self, identifier: str) -> None:
        self.cleared.append(identifier)
        del self.screen[identifier]

    # what the platform does when the user acts (called from a foreign thread in real life)
    def click(self, identifier: str) -> None:
        self.screen.pop(identifier).on_clicked()

    def close(self, identifier: str) -> None:
        self.screen.pop(identifier).on_dismissed()


@pytest.fixture
def fake() -> FakeDesktopNotifier:
    return FakeDesktopNotifier()


@pytest.fixture
def native(fake, qtbot) -> Iterator[NativeNotifier]:
    n = NativeNotifier(fake)  # type: ignore[arg-type]
    with qtbot.waitSignal(n.capabilities_known, timeout=5_000):
        pass
    yield n
    n.shutdown()


def note(target: str = "evt-1", key: str = "case:5121") -> Notification:
    return Notification(key=key, title="New case #5121", body="a & b", target=target, urgency=Urgency.CRITICAL)


def test_show_replaces_by_key_and_a_click_activates_the_target(native, fake, qtbot) -> None:
    assert native.supports_actions
    native.show(note("evt-1"))
    native.show(note("evt-2"))
    qtbot.waitUntil(lambda: len(fake.sent) == 2 and native._by_key.get("case:5121") == fake.sent[1].identifier)
    assert list(fake.screen) == [fake.sent[1].identifier], "the first popup was cleared before the second"
    assert fake.sent[1].message == "a & b" and fake.sent[1].urgency.name == "Critical"
    with qtbot.waitSignal(native.activated, timeout=5_000) as activated:
        fake.click(fake.sent[1].identifier)
    assert activated.args == ["evt-2"]
    assert "case:5121" not in native._by_key


def test_withdraw_clears_and_reports_dismissed(native, fake, qtbot) -> None:
    native.show(note())
    qtbot.waitUntil(lambda: "case:5121" in native._by_key)
    with qtbot.waitSignal(native.dismissed, timeout=5_000) as dismissed:
        native.withdraw("case:5121")
    assert dismissed.args == ["case:5121"]
    assert fake.screen == {}
    native.withdraw("case:unknown")  # ignored


def test_user_close_reports_dismissed(native, fake, qtbot) -> None:
    native.show(note())
    qtbot.waitUntil(lambda: "case:5121" in native._by_key)
    with qtbot.waitSignal(native.dismissed, timeout=5_000) as dismissed:
        fake.close(fake.sent[0].identifier)
    assert dismissed.args == ["case:5121"]


def test_a_send_the_platform_refuses_is_not_shown_and_three_in_a_row_mean_it_is_down(qtbot) -> None:
    n = NativeNotifier(FakeDesktopNotifier(fail_send=True))  # type: ignore[arg-type]
    failed: list[str] = []
    n.failed.connect(failed.append)
    try:
        with qtbot.waitSignal(n.not_shown, timeout=5_000) as not_shown:
            n.show(note())
        assert not_shown.args[0].key == "case:5121" and "case:5121" in not_shown.args[1]
        assert failed == [], "one refused popup is about that popup"
        with qtbot.waitSignal(n.failed, timeout=5_000):
            n.show(note(key="case:2"))
            n.show(note(key="case:3"))
    finally:
        n.shutdown()


def test_refused_authorisation_is_reported_as_failed(qtbot) -> None:
    n = NativeNotifier(FakeDesktopNotifier(authorised=False))  # type: ignore[arg-type]
    try:
        # Signals from the loop thread arrive queued: connecting right after construction misses nothing.
        with qtbot.waitSignal(n.failed, timeout=5_000) as failed:
            pass
        assert "not allow" in failed.args[0]
    finally:
        n.shutdown()


def test_shutdown_stops_the_thread_and_later_calls_are_ignored(fake, qtbot) -> None:
    n = NativeNotifier(fake)  # type: ignore[arg-type]
    n.shutdown()
    assert not n._thread.is_alive() and n._loop.is_closed()
    n.show(note())
    n.withdraw("case:5121")
    n.shutdown()
    assert fake.sent == []
