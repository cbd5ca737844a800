"""Visitors' text is plain everywhere in the UI: popups (jeepney marshalling), the tray fallback, list cells and
tooltips, banners. Offscreen; the same corpus goes through dunst in tests/e2e/test_notifier.py."""

from __future__ import annotations

import re

import pytest
from PySide6 import QtGui
from PySide6.QtCore import Qt
from PySide6.QtGui import QIcon, QTextDocument
from PySide6.QtWidgets import QSystemTrayIcon

from tests.support.rows import make_row
from tests.ui.hostile import HOSTILE, LONG, has_forbidden
from trayapp.ui.list_model import Column, HistoryModel
from trayapp.ui.list_window import Banner
from trayapp.ui.notify.base import Notification
from trayapp.ui.notify.freedesktop import notify_message
from trayapp.ui.notify.tray import TrayMessageNotifier
from trayapp.ui.plain import (
    BODY_CHARS,
    CELL_CHARS,
    TITLE_CHARS,
    TOOLTIP_CHARS,
    clean,
    inert,
    markup_escaped,
    rich_plain,
)

CAPS_MARKUP = frozenset({"actions", "body", "body-markup"})


@pytest.mark.parametrize(("text", "newlines", "limit", "expected"), [
    ("Maria \ud800 Lopez", True, None, "Maria \ufffd Lopez"),
    ("\ud83d\ude00 a pair held as two code points", True, None, "\U0001f600 a pair held as two code points"),
    ("\ude00\ud83d reversed", True, None, "\ufffd\ufffd reversed"),
    ("Ma\x00ria", True, None, "Maria"),
    ("a\x01b\x1bc\x7fd\x85e\x9f", True, None, "abcde"),
    ("\u202eexe.txt\u202c \u2066x\u2069 \u202a\u202b\u202d\u2067\u2068!", True, None, "exe.txt x !"),
    ("one\ntwo\tthree", True, None, "one\ntwo\tthree"),
    ("one\n\ntwo\tthree\r\n", False, None, "one two three"),
    ("abcdefghij", True, 5, "abcd…"),
    ("abcd", True, 4, "abcd"),
    ("<b>&</b>", True, None, "<b>&</b>"),
    ("", True, 3, ""),
    (None, True, None, ""),
])
def test_clean(text: str | None, newlines: bool, limit: int | None, expected: str) -> None:
    assert clean(text, limit, newlines) == expected


def test_escaping_and_inert_text() -> None:
    assert markup_escaped('<a href="x">&</a>\x00') == '&lt;a href="x"&gt;&amp;&lt;/a&gt;'
    assert inert('<a href="x">&</a>\x00') == '\u2039a href="x"\u203a\uff06\u2039/a\u203a'
    assert rich_plain("") is None
    assert rich_plain("<h1>x</h1>\nnext") == "<qt>&lt;h1&gt;x&lt;/h1&gt;<br>next</qt>"


def words(text: str) -> str:
    """Text with its white space normalised (rich text collapses runs of spaces and tabs)."""
    return re.sub(r"\s+", " ", text.replace("\u2028", "\n").replace("\u00a0", " ")).strip()


def shown_as(tooltip: str | None) -> str:
    """What Qt renders for a tooltip (it guesses rich text): the document's plain text."""
    assert tooltip is not None
    doc = QTextDocument()
    if QtGui.Qt.mightBeRichText(tooltip):
        doc.setHtml(tooltip)
    else:
        doc.setPlainText(tooltip)
    return doc.toPlainText()


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_list_cells_and_tooltips_are_plain(name: str, qtbot) -> None:
    text = HOSTILE[name]
    model = HistoryModel()
    model.set_rows([make_row(1, contact_name=text, title=text, text=text, channel=text)])
    for column in Column:
        index = model.index(0, column)
        cell = model.data(index, Qt.ItemDataRole.DisplayRole)
        assert not has_forbidden(cell) and "\n" not in cell and len(cell) <= CELL_CHARS
        tooltip = model.data(index, Qt.ItemDataRole.ToolTipRole)
        assert tooltip is None or not has_forbidden(tooltip)
    title_tip = model.data(model.index(0, Column.TITLE), Qt.ItemDataRole.ToolTipRole)
    # The tooltip shows the visitor's characters literally: no tag became a heading, link, image or table.
    assert words(shown_as(title_tip)) == words(clean("\n".join([text, text, text]), TOOLTIP_CHARS))
    contact_tip = model.data(model.index(0, Column.CONTACT), Qt.ItemDataRole.ToolTipRole)
    assert words(shown_as(contact_tip)) == words(clean(text, TOOLTIP_CHARS))


def test_a_ten_thousand_character_title_is_capped_in_cells_and_tooltips(qtbot) -> None:
    model = HistoryModel()
    model.set_rows([make_row(1, title=LONG)])
    assert len(model.data(model.index(0, Column.TITLE), Qt.ItemDataRole.DisplayRole)) == CELL_CHARS
    assert len(shown_as(model.data(model.index(0, Column.TITLE), Qt.ItemDataRole.ToolTipRole))) <= TOOLTIP_CHARS


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_the_notify_call_always_marshals_and_carries_no_markup_or_nul(name: str) -> None:
    text = HOSTILE[name]
    n = Notification(key="case:1", title=f"New case #1 — {text}", body=f"chat · {text}", target="evt-1",
                     category=text, extra_hints={text: text})
    for caps in (CAPS_MARKUP, frozenset({"actions", "body"}), frozenset()):
        msg = notify_message(n, caps, 0, "/icon.png")
        msg.serialise(serial=1)  # real jeepney marshalling: a lone surrogate used to raise here
        _app, _replaces, _icon, title, body, _actions, hints, _timeout = msg.body
        for value in (title, body, *hints, *(v for _sig, v in hints.values() if isinstance(v, str))):
            assert not has_forbidden(value), "no NUL (dbus-daemon drops the connection), no surrogate, no control"
        assert len(title) <= TITLE_CHARS and "\n" not in title
        if "body-markup" in caps:
            assert "<" not in body and ">" not in body, "the body is escaped for a markup server"
            doc = QTextDocument()
            doc.setHtml(body.replace("\n", "<br>"))
            assert words(doc.toPlainText()) == words(clean(n.body, BODY_CHARS))
        else:
            assert body == clean(n.body, BODY_CHARS)


class RecordingTray(QSystemTrayIcon):
    """A real QSystemTrayIcon that records what would have gone to the platform (offscreen has no tray)."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[tuple[str, str]] = []

    def isVisible(self) -> bool:
        return True

    def showMessage(self, title: str, msg: str, *args: object) -> None:  # type: ignore[override]
        self.messages.append((title, msg))


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_the_tray_fallback_text_is_inert(name: str, qtbot) -> None:
    text = HOSTILE[name]
    tray = RecordingTray()
    notifier = TrayMessageNotifier(tray, QIcon())
    notifier.show(Notification(key="case:1", title=f"New case — {text}", body=f"chat · {text}", target="evt-1"))
    ((title, body),) = tray.messages
    for value in (title, body):
        assert not has_forbidden(value)
        assert not {"<", ">", "&"} & set(value), "Qt forwards it unescaped: nothing a markup parser acts on"
        assert not QtGui.Qt.mightBeRichText(value)
    assert len(title) <= TITLE_CHARS and len(body) <= BODY_CHARS and "\n" not in title


def test_banners_show_reasons_as_plain_text(qtbot) -> None:
    banner = Banner()
    qtbot.addWidget(banner)
    banner.show_message(HOSTILE["link"])
    assert banner.label.textFormat() == Qt.TextFormat.PlainText
    assert banner.label.text() == HOSTILE["link"]


def test_dialog_labels_that_show_outside_words_are_plain_text(qtbot) -> None:
    from PySide6.QtWidgets import QLabel

    from trayapp.settings import Settings
    from trayapp.ui.first_run import FirstRunDialog
    from trayapp.ui.list_window import ListWindow
    from trayapp.ui.settings_dialog import SettingsDialog, SettingsValues

    markup = HOSTILE["image"]
    settings = SettingsDialog(SettingsValues.from_settings(Settings()), f"https://bridge.example.com/{markup}",
                              login_problem=markup)
    first = FirstRunDialog()
    window = ListWindow(HistoryModel())
    for widget in (settings, first, window):
        qtbot.addWidget(widget)
    settings.set_state_text(markup)
    settings.show_test_result(False, markup)
    first.link_edit.setText(markup)
    window.show_only(["evt-1"], markup)
    shown = [label for widget in (settings, first, window) for label in widget.findChildren(QLabel)
             if "<img" in label.text()]
    assert len(shown) >= 5, [label.accessibleName() for label in shown]
    for label in shown:
        assert label.textFormat() == Qt.TextFormat.PlainText, label.accessibleName() or label.objectName()
