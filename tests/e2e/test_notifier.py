"""The freedesktop notifier against a real notification server (dunst) on a real session bus."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import displayed, dunstctl, history
from trayapp.ui.icons import app_icon_path
from trayapp.ui.notify.base import Notification
from trayapp.ui.notify.freedesktop import FreedesktopNotifier

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("clean_dunst")]


@pytest.fixture
def notifier(qtbot) -> Iterator[FreedesktopNotifier]:
    n = FreedesktopNotifier.open(app_icon=app_icon_path())
    with qtbot.waitSignal(n.capabilities_known, timeout=10_000):
        pass
    yield n
    n.shutdown()


def case_note(target: str = "evt-1", title: str = "New case #5121 — Maria Lopez") -> Notification:
    return Notification(key="case:5121", title=title, body="chat · Chat with visitor & <friends>", target=target)


def test_server_supports_actions(notifier: FreedesktopNotifier) -> None:
    assert notifier.capabilities is not None and "actions" in notifier.capabilities
    assert notifier.supports_actions


def test_click_reports_the_notifications_target(notifier: FreedesktopNotifier, qtbot) -> None:
    notifier.show(case_note())
    qtbot.waitUntil(lambda: displayed() == 1, timeout=10_000)
    with qtbot.waitSignal(notifier.activated, timeout=10_000) as activated:
        dunstctl("action", "0")
    assert activated.args == ["evt-1"]
    qtbot.waitUntil(lambda: displayed() == 0, timeout=10_000)
    shown = history()[0]
    assert shown["summary"] == "New case #5121 — Maria Lopez"
    assert shown["appname"] == "trayapp"
    assert "Chat with visitor" in shown["body"]


def test_same_key_replaces_and_withdraw_closes(notifier: FreedesktopNotifier, qtbot) -> None:
    notifier.show(case_note("evt-1"))
    qtbot.waitUntil(lambda: displayed() == 1, timeout=10_000)
    qtbot.waitUntil(lambda: "case:5121" in notifier._by_key, timeout=10_000)
    notifier.show(case_note("evt-2", "Chat #5121 is now active — Maria Lopez"))
    qtbot.waitUntil(lambda: notifier._by_id.get(notifier._by_key["case:5121"], ("", ""))[1] == "evt-2",
                    timeout=10_000)
    assert displayed() == 1, "a second event of the case replaces its popup"
    with qtbot.waitSignal(notifier.dismissed, timeout=10_000) as dismissed:
        notifier.withdraw("case:5121")
    assert dismissed.args == ["case:5121"]
    assert displayed() == 0


def test_user_close_is_reported(notifier: FreedesktopNotifier, qtbot) -> None:
    notifier.show(case_note())
    qtbot.waitUntil(lambda: displayed() == 1, timeout=10_000)
    with qtbot.waitSignal(notifier.dismissed, timeout=10_000):
        dunstctl("close")
