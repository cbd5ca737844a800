"""The freedesktop notifier against a real notification server (dunst) on a real session bus."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from jeepney import new_method_call

from tests.e2e.conftest import displayed, dunstctl, history
from tests.ui.hostile import HOSTILE, has_forbidden
from trayapp.ui.icons import app_icon_path
from trayapp.ui.notify.base import Notification
from trayapp.ui.notify.freedesktop import NOTIFICATIONS, FreedesktopNotifier
from trayapp.ui.plain import BODY_CHARS, TITLE_CHARS, clean, markup_escaped

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


# --- hostile text and broken connections (issue 10) -------------------------------------------------------------


def no_failures(notifier: FreedesktopNotifier) -> list[str]:
    failures: list[str] = []
    notifier.failed.connect(failures.append)
    notifier.not_shown.connect(lambda n, reason: failures.append(f"{n.key}: {reason}"))
    return failures


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_text_pops_up_plain_and_the_next_popup_still_pops(
        notifier: FreedesktopNotifier, qtbot, name: str) -> None:
    text = HOSTILE[name]
    failures = no_failures(notifier)
    notifier.show(Notification(key="case:1", title=f"New case #1 — {text}", body=f"chat · {text}", target="evt-1"))
    qtbot.waitUntil(lambda: "case:1" in notifier._by_key, timeout=10_000)
    notifier.show(case_note("evt-2"))
    qtbot.waitUntil(lambda: displayed() == 2, timeout=10_000)
    dunstctl("close-all")
    qtbot.waitUntil(lambda: len(history()) >= 2, timeout=10_000)
    hostile = next(h for h in history() if h["summary"].startswith("New case #1"))
    # The summary is plain text for every server (the spec); the body is markup for this dunst ("markup = full", as
    # GNOME Shell, Plasma and xfce4-notifyd read it), so it arrives escaped: dunst renders the visitor's characters
    # literally (the screenshot test shows it).
    assert "body-markup" in (notifier.capabilities or ())
    assert hostile["summary"] == clean(f"New case #1 — {text}", TITLE_CHARS, newlines=False)
    assert hostile["body"] == markup_escaped(f"chat · {text}", BODY_CHARS)
    assert not has_forbidden(hostile["summary"] + hostile["body"])
    assert failures == []


def test_a_nul_that_used_to_drop_the_connection_no_longer_downgrades_anything(
        notifier: FreedesktopNotifier, qtbot) -> None:
    failures = no_failures(notifier)
    router = notifier._router
    notifier.show(Notification(key="case:1", title="Ma\x00ria", body="a\x00b", target="evt-1"))
    notifier.show(case_note("evt-2"))
    qtbot.waitUntil(lambda: displayed() == 2, timeout=10_000)
    assert notifier._router is router, "the same connection: nothing was dropped"
    assert failures == []


def test_a_connection_the_bus_drops_is_made_again_and_clicks_still_arrive(
        notifier: FreedesktopNotifier, qtbot) -> None:
    failures = no_failures(notifier)
    old = notifier._router
    assert old is not None
    # What an unsanitised NUL did: dbus-daemon closes the connection of whoever sends one in a string.
    raw = new_method_call(NOTIFICATIONS, "Notify", "susssasa{sv}i",
                          ("trayapp", 0, "", "Ma\x00ria", "", [], {}, -1))
    old.send(raw)
    qtbot.waitUntil(lambda: old.conn.lost is not None, timeout=10_000)
    notifier.show(case_note("evt-7"))
    qtbot.waitUntil(lambda: displayed() == 1, timeout=10_000)
    assert notifier._router is not old
    with qtbot.waitSignal(notifier.activated, timeout=10_000) as activated:
        dunstctl("action", "0")
    assert activated.args == ["evt-7"], "the new connection listens for the click"
    assert failures == []
