"""Keyboard and accessibility: every focusable widget has an accessible name (or a label buddy); the list works
from the keyboard."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QComboBox,
    QLabel,
    QTabWidget,
    QWidget,
)

from tests.support.rows import make_row
from trayapp.settings import Settings
from trayapp.ui.first_run import FirstRunDialog
from trayapp.ui.list_model import HistoryModel
from trayapp.ui.list_window import ListWindow
from trayapp.ui.settings_dialog import SettingsDialog, SettingsValues


def unnamed_focusable(root: QWidget) -> list[str]:
    """Focusable widgets that a screen reader could not name."""
    buddies = {id(label.buddy()) for label in root.findChildren(QLabel) if label.buddy() is not None}
    missing = []
    for widget in root.findChildren(QWidget):
        if widget.focusPolicy() == Qt.FocusPolicy.NoFocus or widget.window() is not root:
            continue  # (a combo box's popup list is its own window, named by the combo box)
        parent = widget.parentWidget()
        # the editors inside spin boxes / combo boxes are named through their owner; a tab widget's bar by it
        if isinstance(parent, (QAbstractSpinBox, QComboBox)) or (
                isinstance(parent, QTabWidget) and widget is parent.tabBar()):
            continue
        if not widget.accessibleName() and id(widget) not in buddies:
            missing.append(f"{type(widget).__name__} {widget.objectName() or ''}".strip())
    return missing


def test_every_focusable_widget_is_named(qtbot) -> None:
    model = HistoryModel()
    window = ListWindow(model)
    qtbot.addWidget(window)
    dialog = SettingsDialog(SettingsValues.from_settings(Settings()), "https://bridge.example.com")
    qtbot.addWidget(dialog)
    first = FirstRunDialog()
    qtbot.addWidget(first)
    for root in (window, dialog, first):
        assert unnamed_focusable(root) == [], type(root).__name__
    assert dialog.tabs.tabText(1) == "&Alerts"  # Alt+A reaches the page


def test_list_shortcuts_open_mark_read_and_search(qtbot) -> None:
    model = HistoryModel()
    window = ListWindow(model)
    qtbot.addWidget(window)
    model.set_rows([make_row(2), make_row(1)])
    window.show()
    qtbot.waitExposed(window)
    window.windowHandle().requestActivate()  # window shortcuts (Ctrl+M, Ctrl+F) need the active window
    qtbot.waitUntil(window.isActiveWindow)
    shortcuts = {a.text(): a.shortcut().toString() for a in window.view_menu.actions() if a.text()}
    assert shortcuts["&Mark read"] == "Ctrl+M"
    assert shortcuts["Mark a&ll read"] == "Ctrl+Shift+M"
    assert shortcuts["&Search"] == "Ctrl+F"
    assert shortcuts["&Open conversation"] == "Return"

    window.table.setFocus()
    window.table.selectRow(0)
    with qtbot.waitSignal(window.open_requested) as opened:
        qtbot.keyClick(window.table, Qt.Key.Key_Return)
    assert opened.args == ["evt-2"]
    with qtbot.waitSignal(window.mark_read_requested) as marked:
        qtbot.keyClick(window.table, Qt.Key.Key_M, Qt.KeyboardModifier.ControlModifier)
    assert marked.args == [["evt-2"]]
    qtbot.keyClick(window.table, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert window.search.hasFocus()
    assert window.mark_all_action.isEnabled()
    with qtbot.waitSignal(window.mark_all_read_requested):
        qtbot.keyClick(window.table, Qt.Key.Key_M,
                       Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
