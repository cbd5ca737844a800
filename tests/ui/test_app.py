from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from PySide6.QtCore import QCoreApplication, Qt, QUrl
from PySide6.QtGui import QFileOpenEvent
from PySide6.QtWidgets import QApplication

from tests.support.rows import make_row
from tests.ui.fakes import FakeClient, RecordingNotifier, UrlCatcher, catching_browser
from trayapp.app import TrayApp
from trayapp.core.link import Link
from trayapp.core.wire import Gap
from trayapp.model.alerts import CATCH_UP_TARGET
from trayapp.model.connection import ConnectionState, ConnectionStatus
from trayapp.settings import Settings
from trayapp.ui.notify import LIST_TARGET
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
    assert "retrying in 8 s" in app.tray.tooltip()
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


def app_storing_links(qtbot) -> tuple[TrayApp, list[Link]]:
    """An unconfigured app whose link saver records the links it is asked to store."""
    stored: list[Link] = []

    def saver(link: Link, current: Settings) -> Settings:
        stored.append(link)
        return current.replace(bridge_url=link.url, key=link.key)

    tray_app = TrayApp(FakeClient(), Settings(), use_tray=False, notifier=RecordingNotifier(),
                       save_settings=lambda _s: None, link_saver=saver)
    qtbot.addWidget(tray_app.window)
    return tray_app, stored


def test_pasted_link_is_stored_off_the_gui_thread(qtbot) -> None:
    tray_app, stored = app_storing_links(qtbot)
    with qtbot.waitSignal(tray_app.link_stored):
        tray_app.handle_arguments(["connect", f"trayapp://connect?url=https://b.example.com&token=t0k&key={KEY}"])
    assert stored[0].token == "t0k"
    assert tray_app.settings.bridge_url == "https://b.example.com"
    assert client(tray_app).calls[-1] == ("apply_settings", tray_app.settings)
    tray_app.quit()


def test_link_opened_by_the_os_while_running_is_used(qtbot) -> None:
    """macOS hands a clicked trayapp:// link to the running app as a QFileOpenEvent."""
    tray_app, stored = app_storing_links(qtbot)
    link = f"trayapp://connect?url=https%3A%2F%2Fb.example.com&token=t0k&key={KEY}"
    with qtbot.waitSignal(tray_app.link_stored):
        assert QCoreApplication.sendEvent(QApplication.instance(), QFileOpenEvent(QUrl(link)))
    assert stored[0].token == "t0k"
    other = QFileOpenEvent(QUrl("file:///tmp/report.pdf"))
    assert not tray_app.link_events.eventFilter(tray_app, other)
    tray_app.quit()


def test_bad_link_is_explained(app: TrayApp) -> None:
    app.use_link("https://not-a-link")
    assert "not a trayapp connection link" in app.window.statusBar().currentMessage()


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
    import trayapp.app as app_module

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
