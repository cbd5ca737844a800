from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from PySide6.QtCore import QCoreApplication, Qt, QUrl
from PySide6.QtGui import QFileOpenEvent
from PySide6.QtWidgets import QApplication

from tests.support.rows import make_row
from tests.ui.fakes import FakeClient, RecordingNotifier, UrlCatcher, catching_browser
from trayapp.client.proof import KEY_MISMATCH_WORDS, Outcome, ProbeResult
from trayapp.core.link import Link
from trayapp.core.wire import Gap
from trayapp.core.words import REVOKED_WORDS
from trayapp.model.alerts import CATCH_UP_TARGET
from trayapp.model.connection import ConnectionState, ConnectionStatus, Problem
from trayapp.settings import Settings
from trayapp.ui.app import TrayApp
from trayapp.ui.icons import TrayLook
from trayapp.ui.notify import LIST_TARGET, Urgency
from trayapp.ui.tray import DndChoice

TEMPLATE = "https://acme.example.com/inbox/case/{case_id}"


@pytest.fixture
def urls() -> Iterator[UrlCatcher]:
    with catching_browser() as catcher:
        yield catcher


@pytest.fixture
def app(qtbot) -> Iterator[TrayApp]:
    saved: list[Settings] = []
    settings = Settings(bridge_url="https://bridge.example.com", key="ed25519:x", url_template=TEMPLATE)
    tray_app = TrayApp(FakeClient(), settings, use_tray=False, notifier=RecordingNotifier(),
                       save_settings=saved.append)
    tray_app.saved = saved  # type: ignore[attr-defined]
    qtbot.addWidget(tray_app.window)
    yield tray_app
    tray_app.window.close()


def client(app: TrayApp) -> FakeClient:
    assert isinstance(app.client, FakeClient)
    return app.client


def notifier(app: TrayApp) -> RecordingNotifier:
    assert isinstance(app.notifier, RecordingNotifier)
    return app.notifier


def test_without_tray_the_list_is_the_main_window(app: TrayApp, qtbot) -> None:
    app.start()
    qtbot.waitExposed(app.window)
    assert app.window.main_window_mode
    assert "No system tray" in app.window.no_tray_banner.label.text()
    assert ("start", None) in client(app).calls
    with qtbot.waitSignal(app.window.quit_requested):
        app.window.close()
    assert ("stop", None) in client(app).calls
    assert notifier(app).closed


def test_event_notifies_and_click_opens_that_conversation(app: TrayApp, qtbot, urls: UrlCatcher) -> None:
    app.start()
    client(app).event_received.emit(make_row(121, case_id="5121", contact_name="Maria Lopez"), False)
    client(app).event_received.emit(make_row(122, kind="chat.message", status=None), False)  # off by default
    qtbot.waitUntil(lambda: app.model.rowCount() == 2)  # rows reach the list in batches
    assert [n.title for n in notifier(app).shown] == ["New case #5121 — Maria Lopez"]
    assert app.tray.tooltip().count("2 unread") == 1
    with qtbot.waitSignal(urls.opened) as opened:
        notifier(app).activated.emit(notifier(app).shown[0].target)
    assert opened.args == ["https://acme.example.com/inbox/case/5121"]
    assert ("mark_read", ["evt-121"]) in client(app).calls
    assert not app.model.is_unread("evt-121")


def test_list_open_and_summary_click(app: TrayApp, qtbot, urls: UrlCatcher) -> None:
    app.start()
    client(app).history_loaded.emit([make_row(2), make_row(1, read=True)])
    with qtbot.waitSignal(urls.opened):
        app.window.open_requested.emit("evt-1")
    assert urls.urls == ["https://acme.example.com/inbox/case/5001"]
    notifier(app).activated.emit(LIST_TARGET)
    assert app.window.isVisible()


def test_event_without_case_opens_nothing(app: TrayApp, urls: UrlCatcher) -> None:
    app.start()
    client(app).event_received.emit(make_row(7, kind="agent.status", status="available", case_id=None), False)
    app.open_event("evt-7")
    assert urls.urls == []
    assert "no conversation address" in app.window.statusBar().currentMessage()


def test_state_gap_and_verification_are_shown(app: TrayApp) -> None:
    app.start()
    since = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    client(app).state_changed.emit(ConnectionStatus(ConnectionState.OFFLINE, since, "retrying in 8 s"))
    assert "Offline" in app.window.state_label.text()
    assert "keeps trying" in app.tray.tooltip() and "retrying in 8 s" not in app.tray.tooltip()
    assert app.tray.detail == "retrying in 8 s"  # the technical words: Settings → Details
    client(app).gap.emit(Gap(3, 9, "retention"))
    assert "could not be recovered" in app.window.warning_banner.label.text()
    assert notifier(app).shown[-1].title == "Some alerts could not be recovered"
    assert notifier(app).shown[-1].target == LIST_TARGET
    client(app).verification_failed.emit("bad signature")
    assert "failed verification" in app.window.warning_banner.label.text()
    assert "1 alert failed verification" in app.tray.tooltip()


def test_backlog_becomes_one_summary(app: TrayApp) -> None:
    app.start()
    for seq in range(1, 6):
        client(app).event_received.emit(make_row(seq), True)
    assert notifier(app).shown == []
    client(app).caught_up.emit(5)
    assert [n.title for n in notifier(app).shown] == ["5 events while you were away"]
    assert notifier(app).shown[0].target == CATCH_UP_TARGET
    client(app).event_received.emit(make_row(6), False)  # a live one arrives after the summary
    app.flush_rows()
    notifier(app).activated.emit(CATCH_UP_TARGET)  # the click shows the list filtered to the backlog
    assert app.window.isVisible()
    assert app.window.proxy.rowCount() == 5
    assert "5 events that arrived while you were away" in app.window.only_label.text()
    app.window.show_all_button.click()
    assert app.window.proxy.rowCount() == 6


def test_dnd_silences_and_is_saved(app: TrayApp, qtbot) -> None:
    app.start()
    app.tray.dnd_requested.emit(DndChoice.HOUR)
    assert app.presenter.dnd_active
    assert app.settings.dnd_until is not None
    client(app).event_received.emit(make_row(1), False)
    assert notifier(app).shown == []
    qtbot.waitUntil(lambda: app.model.unread_count == 1)  # still in the list, unread
    app.tray.dnd_requested.emit(DndChoice.OFF)
    assert app.settings.dnd_until is None
    client(app).event_received.emit(make_row(2), False)
    assert len(notifier(app).shown) == 1


def test_mark_all_and_reconnect(app: TrayApp) -> None:
    app.start()
    client(app).history_loaded.emit([make_row(2), make_row(1)])
    app.window.mark_all_read_requested.emit()
    assert app.model.unread_count == 0
    assert ("mark_all_read", None) in client(app).calls
    app.tray.reconnect_requested.emit()
    assert ("reconnect_now", None) in client(app).calls


def test_settings_dialog_applies_and_saves(app: TrayApp, qtbot) -> None:
    app.start()
    app.show_settings()
    dialog = app._settings_dialog
    assert dialog is not None
    dialog.notify_boxes["chat.message"].setChecked(True)
    dialog.account_edit.setText("acme")
    dialog.accept()
    assert "chat.message" in app.settings.notify
    assert app.settings.account_id == "acme"
    assert app.saved[-1] == app.settings  # type: ignore[attr-defined]
    assert ("apply_settings", app.settings) in client(app).calls
    client(app).event_received.emit(make_row(3, kind="chat.message", status=None), False)
    assert len(notifier(app).shown) == 1


KEY = "ed25519:" + "A" * 43 + "="


class LinkRecorder:
    """The link flow's prover and saver, recording what they are asked (the prover answers ``result``)."""

    def __init__(self, outcome: Outcome = Outcome.OK) -> None:
        self.outcome = outcome
        self.proved: list[Link] = []
        self.stored: list[tuple[Link, bool]] = []

    def prover(self, link: Link, current: Settings) -> ProbeResult:
        self.proved.append(link)
        return ProbeResult(self.outcome, "b.example.com", f"probe said {self.outcome.value}",
                           key_proven=self.outcome is Outcome.OK)

    def saver(self, link: Link, forget_old: bool) -> Settings:
        self.stored.append((link, forget_old))
        return Settings(bridge_url=link.url, key=link.key)


def app_storing_links(qtbot, settings: Settings | None = None,
                      outcome: Outcome = Outcome.OK) -> tuple[TrayApp, LinkRecorder]:
    recorder = LinkRecorder(outcome)
    tray_app = TrayApp(FakeClient(), settings or Settings(), use_tray=False, notifier=RecordingNotifier(),
                       save_settings=lambda _s: None, link_saver=recorder.saver, prover=recorder.prover)
    qtbot.addWidget(tray_app.window)
    return tray_app, recorder


LINK = f"trayapp://connect?url=https://b.example.com&token=t0k&key={KEY}"


def test_first_run_link_is_proven_then_stored(qtbot) -> None:
    tray_app, links = app_storing_links(qtbot)
    tray_app.start()
    dialog = tray_app._first_run
    assert dialog is not None and dialog.windowTitle() == "Set up trayapp"
    dialog.link_edit.setText(LINK)
    with qtbot.waitSignal(tray_app.link_stored):
        dialog.connect_button.click()
    assert [link.token for link in links.proved] == ["t0k"]
    assert links.stored[0][0].token == "t0k" and links.stored[0][1] is True  # proven: the old token may go
    assert tray_app.settings.bridge_url == "https://b.example.com"
    assert client(tray_app).calls[-1] == ("apply_settings", tray_app.settings)
    qtbot.waitUntil(lambda: tray_app._first_run is None)
    tray_app.quit()


def test_new_link_from_settings_updates_them(qtbot) -> None:
    tray_app, _links = app_storing_links(qtbot, Settings(bridge_url="https://old.example.com", key=KEY))
    tray_app.show_settings()
    settings = tray_app._settings_dialog
    assert settings is not None and settings.bridge_label.text() == "old.example.com"
    settings.new_link_button.click()
    dialog = tray_app._first_run
    assert dialog is not None and dialog.windowTitle() == "New link"
    dialog.link_edit.setText(LINK)
    with qtbot.waitSignal(tray_app.link_stored):
        dialog.connect_button.click()
    assert settings.bridge_label.text() == "b.example.com"
    assert settings.address_label.text() == "https://b.example.com"
    tray_app.quit()


def test_unreachable_link_changes_nothing_until_save_anyway(qtbot) -> None:
    tray_app, links = app_storing_links(qtbot, outcome=Outcome.UNREACHABLE)
    tray_app.show_first_run()
    dialog = tray_app._first_run
    assert dialog is not None
    dialog.link_edit.setText(LINK)
    dialog.connect_button.click()
    qtbot.waitUntil(lambda: dialog.connect_button.text() == "&Retry")
    assert links.stored == []
    assert "cannot be reached right now" in dialog.message_label.text()
    assert not tray_app.settings.configured
    with qtbot.waitSignal(tray_app.link_stored):
        dialog.save_anyway_button.click()
    assert links.stored[0][1] is False  # not proven: the old token is kept until the new connection works
    tray_app.quit()


def test_link_from_outside_waits_for_the_agent(qtbot, caplog: pytest.LogCaptureFixture) -> None:
    """A second launch brings another link: nothing changes unless the agent confirms it."""
    current = Settings(bridge_url="https://bridge.example.com", key="ed25519:" + "B" * 43 + "=")
    tray_app, links = app_storing_links(qtbot, current)
    tray_app.handle_arguments(["connect", LINK])
    dialog = tray_app._first_run
    assert dialog is not None and dialog.windowTitle() == "Use this link?"
    assert "b.example.com" in dialog.change_label.text() and "different signing key" in dialog.change_label.text()
    assert links.proved == [] and links.stored == []
    dialog.reject()  # nobody confirms
    qtbot.waitUntil(lambda: tray_app._first_run is None)
    assert tray_app.settings == current
    assert not any(call[0] == "apply_settings" for call in client(tray_app).calls)
    tray_app.quit()


def test_wrong_key_link_is_explained_and_not_stored(qtbot, caplog: pytest.LogCaptureFixture) -> None:
    tray_app, links = app_storing_links(qtbot, outcome=Outcome.KEY_MISMATCH)
    tray_app.use_link(LINK)
    dialog = tray_app._first_run
    assert dialog is not None
    dialog.connect_button.click()
    qtbot.waitUntil(lambda: dialog.connect_button.text() == "&Retry")
    assert dialog.message_label.text() == KEY_MISMATCH_WORDS
    assert dialog.save_anyway_button.isHidden()
    assert links.stored == []
    assert "rejected (from outside, key_mismatch" in caplog.text
    assert "t0k" not in caplog.text
    tray_app.quit()


def test_link_opened_by_the_os_while_running_is_shown(qtbot) -> None:
    """macOS hands a clicked trayapp:// link to the running app as a QFileOpenEvent."""
    tray_app, _links = app_storing_links(qtbot)
    link = f"trayapp://connect?url=https%3A%2F%2Fb.example.com&token=t0k&key={KEY}"
    assert QCoreApplication.sendEvent(QApplication.instance(), QFileOpenEvent(QUrl(link)))
    assert tray_app._first_run is not None and tray_app._first_run.text() == link
    other = QFileOpenEvent(QUrl("file:///tmp/report.pdf"))
    assert not tray_app.link_events.eventFilter(tray_app, other)
    tray_app.quit()


def test_bad_link_from_outside_is_explained_and_logged(app: TrayApp, caplog: pytest.LogCaptureFixture) -> None:
    app.use_link("trayapp://connect?url=https://b.example.com&token=secret123")
    notice = app.links.notice
    assert notice is not None and notice.isVisible()
    assert notice.windowTitle() == "This link cannot be used"
    assert "nothing was changed" in notice.text() and "Ask your admin" in notice.text()
    assert "no key" in notice.detailedText()
    assert "link from outside rejected" in caplog.text and "secret123" not in caplog.text
    assert app._first_run is None
    notice.close()


def test_failed_native_notifications_fall_back_to_tray_messages(app: TrayApp) -> None:
    from trayapp.ui.notify.tray import TrayMessageNotifier

    app.start()
    old = notifier(app)
    old.failed.emit("org.freedesktop.Notifications unavailable")
    assert old.closed
    assert isinstance(app.notifier, TrayMessageNotifier)
    client(app).event_received.emit(make_row(1), False)
    assert app.notifier.last is not None and app.notifier.last.title.startswith("New case #5001")
    assert old.shown == []


def test_start_at_login_goes_through_autostart(app: TrayApp, monkeypatch: pytest.MonkeyPatch) -> None:
    import trayapp.ui.app as app_module

    calls: list[bool] = []
    monkeypatch.setattr(app_module.autostart, "is_enabled", lambda: False)
    monkeypatch.setattr(app_module.autostart, "set_enabled", lambda on, command=None: calls.append(on))
    app.start()
    app.show_settings()
    dialog = app._settings_dialog
    assert dialog is not None and dialog.login_box.isEnabled()
    dialog.login_box.setChecked(True)
    dialog.accept()
    assert calls == [True]
    assert app.settings.start_at_login


def test_a_backlog_reaches_the_list_in_one_insertion(app: TrayApp, qtbot) -> None:
    app.start()
    inserts: list[tuple[int, int]] = []
    app.model.rowsInserted.connect(lambda _parent, first, last: inserts.append((first, last)))
    for seq in range(1, 201):
        client(app).event_received.emit(make_row(seq), True)
    qtbot.waitUntil(lambda: app.model.total == 200)
    assert inserts == [(0, 199)]
    assert app.model.index(0, 0).data(Qt.ItemDataRole.UserRole + 1) == "evt-200"
    client(app).caught_up.emit(200)
    assert [n.title for n in notifier(app).shown] == ["200 events while you were away"]


def test_demo_links_open_the_bridges_own_page(qtbot) -> None:
    settings = Settings(bridge_url="http://127.0.0.1:8787", key="ed25519:x", account_id="demo",
                        url_template="http://127.0.0.1:8787/demo/case/{case_id}")
    tray_app = TrayApp(FakeClient(), settings, use_tray=False, notifier=RecordingNotifier(),
                       save_settings=lambda _s: None, demo=True)
    qtbot.addWidget(tray_app.window)
    assert tray_app.link_for(make_row(5121, case_id="5121").event) == "http://127.0.0.1:8787/demo/case/5121"
    evil = make_row(1, case_id="1@evil.example.com/x").event
    url = tray_app.link_for(evil)
    assert url is None or url.startswith("http://127.0.0.1:8787/")


def test_send_me_a_test_alert_pops_up_and_says_so(app: TrayApp, qtbot) -> None:
    app.show_settings()
    dialog = app._settings_dialog
    assert dialog is not None and dialog.test_alert_button.isEnabled()
    dialog.test_alert_button.click()
    assert client(app).calls[-1] == ("send_test_alert", None)
    client(app).test_alert_sent.emit(True, "Your team's alert server sent a test alert; it pops up in a moment.", "")
    assert app._test_alert_timer.isActive()
    client(app).test_alert.emit(make_row(1).event)
    assert not app._test_alert_timer.isActive()
    popup = notifier(app).shown[-1]
    assert popup.key == "test-alert" and popup.title == "Test alert — alerts reach you"
    assert dialog.test_result.text() == "✔ The test alert arrived: alerts reach this computer."
    assert app.model.total == 0  # not an event: the list is untouched
    client(app).test_alert_sent.emit(True, "sent", "")  # the bridge's answer after the alert itself: "arrived" stands
    assert dialog.test_result.text() == "✔ The test alert arrived: alerts reach this computer."
    assert not app._test_alert_timer.isActive()
    dialog.test_alert_button.click()
    client(app).test_alert_sent.emit(True, "sent", "")
    app._test_alert_missing()  # what the timer does when nothing arrives
    assert dialog.test_result.text().startswith("✘ The test alert was sent but did not arrive")
    client(app).test_alert_sent.emit(False, "This computer is not connected to your team's alert server right now",
                                     "no open stream")
    assert "not connected" in dialog.test_result.text()
    dialog.details_button.click()
    assert "no open stream" in dialog.details_text.toPlainText()


def test_demo_first_screen_offers_a_test_alert(qtbot) -> None:
    demo = TrayApp(FakeClient(), Settings(bridge_url="http://127.0.0.1:9", key=KEY), use_tray=False,
                   notifier=RecordingNotifier(), save_settings=lambda _s: None, demo=True)
    qtbot.addWidget(demo.window)
    demo.start()
    assert demo._first_run is None
    assert demo.window.isVisible() and not demo.window.welcome_banner.isHidden()
    assert "trayapp demo" in demo.window.welcome_banner.label.text()
    demo.window.welcome_button.click()
    assert client(demo).calls[-1] == ("send_test_alert", None)
    client(demo).test_alert.emit(make_row(1).event)
    assert demo.window.welcome_result.text() == "✔ The test alert arrived: alerts reach this computer."
    demo.show_settings()
    assert demo._settings_dialog is not None and not demo._settings_dialog.new_link_button.isEnabled()
    demo.quit()


@pytest.mark.parametrize(("problem", "words"), [(Problem.KEY_MISMATCH, KEY_MISMATCH_WORDS),
                                                (Problem.REVOKED, REVOKED_WORDS),  # 403, close 4001
                                                (Problem.TOKEN_REFUSED, REVOKED_WORDS)])  # 401: token deleted
def test_a_connection_that_needs_a_new_link_says_so_at_once(app: TrayApp, problem: Problem, words: str) -> None:
    app.start()
    long_ago = datetime.now(UTC) - timedelta(minutes=10)  # down long enough for the generic offline alarm
    client(app).state_changed.emit(ConnectionStatus(ConnectionState.ERROR, long_ago, "technical reason", problem))
    titles = [n.title for n in notifier(app).shown]
    assert titles == [words]  # at once; and no "Not receiving case alerts … check your network"
    popup = notifier(app).shown[0]
    assert popup.key == "warning:access" and "New link" in popup.body and popup.urgency is Urgency.CRITICAL
    assert app.tray.look is TrayLook.ERROR
    assert app.window.state_label.accessibleDescription().startswith("Not receiving alerts since ")
    assert words in app.window.state_label.accessibleDescription() and "Connected" not in app.tray.tooltip()
    client(app).state_changed.emit(ConnectionStatus(ConnectionState.ERROR, long_ago, "technical reason", problem))
    assert len(notifier(app).shown) == 1  # said once
    app.open_target(popup.target)  # clicking it opens the settings (New link…)
    assert app._settings_dialog is not None and "technical reason" in app._settings_dialog.details_text.toPlainText()
    client(app).state_changed.emit(ConnectionStatus(ConnectionState.CONNECTED, datetime.now(UTC), "connected"))
    assert "warning:access" in notifier(app).withdrawn  # its cause is gone


def test_the_admins_conversation_address_is_used(app: TrayApp, urls: UrlCatcher) -> None:
    app.settings = app.settings.replace(url_template="")
    row = make_row(1)
    client(app).config_received.emit("https://desk.example.com/c/{case_id}")
    assert app.settings.admin_url_template == "https://desk.example.com/c/{case_id}"
    assert app.saved[-1].admin_url_template == "https://desk.example.com/c/{case_id}"  # type: ignore[attr-defined]
    assert app.link_for(row.event) == "https://desk.example.com/c/5001"
    client(app).config_received.emit("javascript:alert({case_id})")  # never a template that cannot be opened
    assert app.settings.admin_url_template == "https://desk.example.com/c/{case_id}"
    app.settings = app.settings.replace(url_template=TEMPLATE)  # the agent's override (Advanced) wins
    assert app.link_for(row.event) == "https://acme.example.com/inbox/case/5001"
