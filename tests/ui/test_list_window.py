from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from tests.support.rows import make_row
from trayapp.core.wire import Gap
from trayapp.ui.list_model import BATCH, HistoryModel
from trayapp.ui.list_window import ListWindow


def window_with(qtbot, rows) -> ListWindow:
    model = HistoryModel()
    model.set_rows(rows)
    window = ListWindow(model)
    window.set_link_builder(lambda r: f"https://desk.example.com/c/{r.event.case_id}" if r.event.case_id else None)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def test_enter_and_double_click_open(qtbot) -> None:
    window = window_with(qtbot, [make_row(2), make_row(1)])
    window.table.setFocus()
    window.table.setCurrentIndex(window.proxy.index(1, 0))
    with qtbot.waitSignal(window.open_requested) as opened:
        qtbot.keyClick(window.table, Qt.Key.Key_Return)
    assert opened.args == ["evt-1"]
    rect = window.table.visualRect(window.proxy.index(0, 2))
    qtbot.mouseClick(window.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    with qtbot.waitSignal(window.open_requested) as opened:
        qtbot.mouseDClick(window.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert opened.args == ["evt-2"]


def test_context_menu_actions(qtbot) -> None:
    window = window_with(qtbot, [make_row(2), make_row(1, case_id=None)])
    window.table.setCurrentIndex(window.proxy.index(0, 0))
    window.table.selectRow(0)
    menu = window.context_menu()
    labels = [a.text() for a in menu.actions() if a.text()]
    assert labels == ["&Open conversation", "&Copy link", "&Mark read", "Mark a&ll read"]
    window.copy_link()
    assert QGuiApplication.clipboard().text() == "https://desk.example.com/c/5002"
    with qtbot.waitSignal(window.mark_read_requested) as marked:
        window.mark_read_action.trigger()
    assert marked.args == [["evt-2"]]
    window.table.setCurrentIndex(window.proxy.index(1, 0))
    window.table.selectRow(1)
    menu = window.context_menu()
    copy = next(a for a in menu.actions() if a.text() == "&Copy link")
    assert not copy.isEnabled()


def test_filter_search_and_counts(qtbot) -> None:
    window = window_with(qtbot, [make_row(3, kind="chat.status", status="queue"), make_row(2), make_row(1, read=True)])
    assert window.windowTitle() == "2 unread"
    assert window.count_label.text() == "3 events, 2 unread"
    window.filter_combo.setCurrentText("Chat in queue")
    assert window.proxy.rowCount() == 1
    window.filter_combo.setCurrentText("All kinds")
    assert window.search_action.shortcut().toString() == "Ctrl+F"
    window.search_action.trigger()  # offscreen windows are not reliably active: trigger the shortcut's action
    assert QApplication.focusWidget() is window.search or not window.isActiveWindow()
    qtbot.keyClicks(window.search, "Question 2")
    qtbot.waitUntil(lambda: window.proxy.rowCount() == 1)
    window.search.clear()
    window.apply_search()
    window.unread_only.setChecked(True)
    assert window.proxy.rowCount() == 2


def test_polish_title_escape_empty_search_and_kind_column(qtbot) -> None:
    window = window_with(qtbot, [make_row(2), make_row(1, kind="agent.status", status="unavailable")])
    assert "trayapp" not in window.windowTitle()  # the desktop appends " — trayapp" (the display name) itself
    model = window._model
    model.search_requested.connect(lambda request, _filter, _limit: model.add_search_results(request, [], False))
    window.search.setText("no such thing")
    window.apply_search()
    qtbot.waitUntil(lambda: window.proxy.rowCount() == 0)
    assert not window.empty_label.isHidden()
    assert "No events match “no such thing”" in window.empty_label.text()
    window.search.clear()
    window.apply_search()
    qtbot.waitUntil(lambda: window.empty_label.isHidden())
    metrics = window.fontMetrics()
    kind = window.table.horizontalHeader().sectionSize(1)
    assert kind > metrics.horizontalAdvance("Agent unavailable") and kind > metrics.horizontalAdvance("Kind / status")
    window.show()
    assert Qt.Key.Key_Escape in [k[0].key() for k in window.close_action.shortcuts()]
    window.close_action.trigger()  # Escape
    assert not window.isVisible()
    window.set_main_window_mode("No system tray was found.")
    window.show()
    window.close_action.trigger()  # the main window does not quit on Escape
    assert window.isVisible()


def test_banners_and_empty_state(qtbot) -> None:
    window = window_with(qtbot, [])
    assert window.empty_label.isVisible()
    assert not window.warning_banner.isVisible()
    window.show_gap(Gap(1, 5, "retention"))
    assert window.warning_banner.isVisible()
    assert "some alerts could not be recovered" in window.warning_banner.label.text().lower()
    window.show_verification_failed("bad signature")
    assert "1 alert failed verification" in window.warning_banner.label.text()
    window.warning_banner._dismiss()
    assert not window.warning_banner.isVisible()
    window.set_state_text("Connected — alerts are flowing", "connected")
    assert "#17874f" in window.state_label.text()
    window.set_main_window_mode("No system tray was found.")
    assert window.no_tray_banner.isVisible()
    with qtbot.waitSignal(window.quit_requested):
        window.close()


def test_live_rows_keep_the_selection(qtbot) -> None:
    window = window_with(qtbot, [make_row(2), make_row(1)])
    window.table.setCurrentIndex(window.proxy.index(1, 0))
    window._model.add_row(make_row(3))
    assert window.table.currentIndex().data(Qt.ItemDataRole.UserRole + 1) == "evt-1"
    assert not window.empty_label.isVisible()


def test_search_and_filters_see_the_whole_history(qtbot) -> None:
    rows = [make_row(i, title=f"Question {i}") for i in range(2 * BATCH + 10, 0, -1)]
    window = window_with(qtbot, rows)
    assert window._model.rowCount() == BATCH  # lazily exposed
    window.search.setText("Question 3")
    window.apply_search()
    found = {window.proxy.index(r, 0).data(Qt.ItemDataRole.UserRole + 1) for r in range(window.proxy.rowCount())}
    assert "evt-3" in found  # the oldest rows are searched too
    window.search.clear()
    window.apply_search()
    assert window.proxy.rowCount() == 2 * BATCH + 10
