"""The desktop-notifier back-end (Windows/macOS in the app) against a real server here: dunst over dbus-fast.

desktop-notifier's Linux back-end drives org.freedesktop.Notifications, so our adapter — its loop thread, the
replace-by-key, the click → ``activated(target)`` path, withdraw — runs for real; only the platform layer under it
differs on Windows (WinRT) and macOS (UserNotifications).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import displayed, dunstctl, history
from trayapp.ui.icons import app_icon_path
from trayapp.ui.notify.base import Notification
from trayapp.ui.notify.native import NativeNotifier

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("clean_dunst")]


@pytest.fixture
def notifier(qtbot) -> Iterator[NativeNotifier]:
    n = NativeNotifier.open(app_icon=app_icon_path())
    failures: list[str] = []
    n.failed.connect(failures.append)
    with qtbot.waitSignal(n.capabilities_known, timeout=10_000):
        pass
    yield n
    n.shutdown()
    assert not failures


def case_note(target: str = "evt-1", title: str = "New case #5121 — Maria Lopez") -> Notification:
    return Notification(key="case:5121", title=title, body="chat · Chat with visitor & <friends>", target=target)


def close_clicked_popup(qtbot) -> None:
    """``dunstctl action`` (unlike a real left click in dunst: do_action, close_current) leaves the popup up, and
    desktop-notifier forgets a clicked popup's server id, so our adapter cannot close it as the jeepney back-end
    does. On Windows and macOS the system itself removes a clicked toast/notification. Close it like the user."""
    dunstctl("close")
    qtbot.waitUntil(lambda: displayed() == 0, timeout=10_000)


def test_click_reports_the_notifications_target(notifier: NativeNotifier, qtbot) -> None:
    assert notifier.supports_actions
    notifier.show(case_note())
    qtbot.waitUntil(lambda: displayed() == 1, timeout=10_000)
    qtbot.waitUntil(lambda: "case:5121" in notifier._by_key, timeout=10_000)
    with qtbot.waitSignal(notifier.activated, timeout=10_000) as activated:
        dunstctl("action", "0")
    assert activated.args == ["evt-1"]
    close_clicked_popup(qtbot)
    shown = history()[0]
    assert shown["summary"] == "New case #5121 — Maria Lopez"
    assert shown["appname"] == "trayapp"
    # Sent escaped (dunst reads the body as markup), so the popup shows "& <friends>" as written.
    assert shown["body"] == "chat · Chat with visitor &amp; &lt;friends&gt;"


def test_same_key_replaces_then_click_and_withdraw(notifier: NativeNotifier, qtbot) -> None:
    notifier.show(case_note("evt-1"))
    qtbot.waitUntil(lambda: displayed() == 1, timeout=10_000)
    qtbot.waitUntil(lambda: "case:5121" in notifier._by_key, timeout=10_000)
    first = notifier._by_key["case:5121"]
    notifier.show(case_note("evt-2", "Chat #5121 is now active — Maria Lopez"))
    qtbot.waitUntil(lambda: notifier._by_key.get("case:5121", first) != first, timeout=10_000)
    assert displayed() == 1, "a second event of the case replaces its popup"
    assert history()[0]["summary"] == "New case #5121 — Maria Lopez", "the first popup was taken away"
    with qtbot.waitSignal(notifier.activated, timeout=10_000) as activated:
        dunstctl("action", "0")
    assert activated.args == ["evt-2"], "the click opens the newest event of the case"
    assert "case:5121" not in notifier._by_key
    close_clicked_popup(qtbot)

    notifier.show(case_note("evt-3"))
    qtbot.waitUntil(lambda: displayed() == 1, timeout=10_000)
    qtbot.waitUntil(lambda: "case:5121" in notifier._by_key, timeout=10_000)
    with qtbot.waitSignal(notifier.dismissed, timeout=10_000) as dismissed:
        notifier.withdraw("case:5121")
    assert dismissed.args == ["case:5121"]
    qtbot.waitUntil(lambda: displayed() == 0, timeout=10_000)


def test_user_close_is_reported(notifier: NativeNotifier, qtbot) -> None:
    notifier.show(case_note())
    qtbot.waitUntil(lambda: displayed() == 1, timeout=10_000)
    qtbot.waitUntil(lambda: "case:5121" in notifier._by_key, timeout=10_000)
    with qtbot.waitSignal(notifier.dismissed, timeout=10_000) as dismissed:
        dunstctl("close")
    assert dismissed.args == ["case:5121"]
