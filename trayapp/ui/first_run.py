"""The link dialog: paste (or review) the connection link your admin sent; it connects before anything is saved.

One dialog for the three ways a link arrives (:class:`LinkMode`): the first run, *New link…* in Settings, and a link
opened from outside trayapp (a clicked ``trayapp://`` link, ``trayapp connect``, a second launch). When trayapp is
already set up, it names the alert server the link points to and whether its signing key differs from the current
one; nothing changes until the agent presses *Connect* and the link has proven itself.
"""

from __future__ import annotations

import enum
from urllib.parse import urlsplit

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from trayapp.core.errors import CoreError
from trayapp.core.link import Link, is_loopback, parse_link

ERROR_STYLE = "color:#c42b1c;"
OK_STYLE = "color:#107c10;"


class LinkMode(enum.Enum):
    FIRST_RUN = "first run"
    NEW_LINK = "new link"
    FROM_OUTSIDE = "from outside"


def server_words(url: str) -> str:
    """The alert server as an agent reads it: its host name, or "this computer" (the demo, a local test)."""
    host = urlsplit(url).hostname or url
    return "this computer" if is_loopback(host) else host


def change_words(link: Link, current_url: str, current_key: str) -> str:
    """What using ``link`` changes, for an app that is set up (``""`` when it is not)."""
    if not current_url:
        return ""
    new, old = server_words(link.url), server_words(current_url)
    if link.url == current_url and link.key == current_key:
        return f"This link connects to {new}, the alert server you use now, with the same signing key."
    where = f"the alert server {new}" if new != old else f"{new} (the same computer, another address)"
    key = ("a different signing key than your current connection — only use it if your admin sent it to you"
           if link.key != current_key else "the same signing key as your current connection")
    return f"Alerts now come from {old}. This link switches to {where}, with {key}."


class FirstRunDialog(QDialog):
    """Asks for a link (or shows the one that arrived), connects with it, and says what went wrong.

    The dialog only asks; the app does the work and answers with :meth:`show_result` / :meth:`show_problem`.

    Signals:
        prove_requested(str): *Connect* / *Retry*: check this link (connect, prove the key).
        save_requested(str): *Save anyway*: store this link without a successful check.
    """

    prove_requested = Signal(str)
    save_requested = Signal(str)

    def __init__(self, mode: LinkMode = LinkMode.FIRST_RUN, text: str = "", current_url: str = "",
                 current_key: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.mode = mode
        self._current = (current_url, current_key)
        titles = {LinkMode.FIRST_RUN: "Set up trayapp", LinkMode.NEW_LINK: "New link",
                  LinkMode.FROM_OUTSIDE: "Use this link?"}
        self.setWindowTitle(titles[mode])
        self.setObjectName("FirstRunDialog")
        self.setMinimumWidth(560)
        layout = QVBoxLayout(self)
        intros = {
            LinkMode.FIRST_RUN: (
                "<b>Get Acquire case alerts on this computer.</b><br><br>Paste the link your admin sent you. "
                "It starts with <span style='white-space:nowrap'>trayapp://connect?</span> — trayapp connects "
                "with it before saving it, and keeps its secret in your system keyring.<br><br>"
                "Just looking? Close this and run <i>trayapp demo</i>."),
            LinkMode.NEW_LINK: (
                "<b>Paste the new link your admin sent you.</b><br><br>Your current connection stays as it is "
                "until the new link has connected."),
            LinkMode.FROM_OUTSIDE: (
                "<b>A link was opened from outside trayapp.</b><br><br>It wants to set where your case alerts "
                "come from. Nothing changes unless you choose Connect and the link works."),
        }
        intro = QLabel(intros[mode], self)
        intro.setTextFormat(Qt.TextFormat.RichText)  # our own words only; nothing pasted goes into it
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.link_edit = QLineEdit(self)
        self.link_edit.setPlaceholderText("trayapp://connect?url=…&token=…&key=…")
        self.link_edit.setAccessibleName("Connection link")
        if mode is LinkMode.FROM_OUTSIDE:
            self.link_edit.setEchoMode(QLineEdit.EchoMode.PasswordEchoOnEdit)  # it carries a secret
        self.link_edit.setText(text)
        self.link_edit.textChanged.connect(self._validate)
        layout.addWidget(self.link_edit)
        self.change_label = self._label("What this link changes")
        layout.addWidget(self.change_label)
        self.message_label = self._label("Link check result")
        layout.addWidget(self.message_label)
        self.details_button = QPushButton("&Details", self)
        self.details_button.setCheckable(True)
        self.details_button.setAccessibleName("Show technical details")
        self.details_button.toggled.connect(self._toggle_details)
        self.details_button.hide()
        layout.addWidget(self.details_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.details_text = QPlainTextEdit(self)
        self.details_text.setReadOnly(True)
        self.details_text.setMaximumHeight(90)
        self.details_text.setAccessibleName("Technical details")
        self.details_text.hide()
        layout.addWidget(self.details_text)

        self.buttons = QDialogButtonBox(self)
        self.connect_button = self.buttons.addButton("&Connect", QDialogButtonBox.ButtonRole.AcceptRole)
        self.connect_button.setAccessibleName("Connect with this link")
        self.save_anyway_button = self.buttons.addButton("&Save anyway", QDialogButtonBox.ButtonRole.ActionRole)
        self.save_anyway_button.setAccessibleName("Save the link without a working connection")
        self.save_anyway_button.hide()
        later = "&Later" if mode is LinkMode.FIRST_RUN else "&Cancel"
        self.cancel_button = self.buttons.addButton(later, QDialogButtonBox.ButtonRole.RejectRole)
        self.cancel_button.setAccessibleName("Keep things as they are" if mode is not LinkMode.FIRST_RUN
                                             else "Later: set up the connection another time")
        self.connect_button.clicked.connect(self.request_proof)
        self.save_anyway_button.clicked.connect(lambda: self.save_requested.emit(self.text()))
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.busy = False
        self._validate()

    def _label(self, name: str) -> QLabel:
        label = QLabel("", self)
        label.setWordWrap(True)
        label.setTextFormat(Qt.TextFormat.PlainText)
        label.setAccessibleName(name)
        label.hide()
        return label

    def text(self) -> str:
        return self.link_edit.text().strip()

    def problem(self) -> str | None:
        """Why the text is not a usable link (``""``: nothing typed yet; ``None``: it is a link)."""
        text = self.text()
        if not text:
            return ""
        try:
            parse_link(text)
        except CoreError as exc:
            return f"This is not a usable link: {exc}"
        return None

    def _say(self, label: QLabel, text: str, style: str = "") -> None:
        label.setText(text)
        label.setStyleSheet(style)
        label.setVisible(bool(text))

    @Slot()
    def _validate(self) -> None:
        """The text changed: earlier results no longer apply."""
        problem = self.problem()
        self._say(self.message_label, problem or "", ERROR_STYLE)
        self._set_details("")
        self.save_anyway_button.hide()
        self.connect_button.setText("&Connect")
        change = ""
        if problem is None:
            change = change_words(parse_link(self.text()), *self._current)
        self._say(self.change_label, change)
        self.connect_button.setEnabled(problem is None and not self.busy)

    def _set_details(self, text: str) -> None:
        self.details_text.setPlainText(text)
        self.details_button.setVisible(bool(text))
        if not text:
            self.details_button.setChecked(False)
        self.details_text.setVisible(bool(text) and self.details_button.isChecked())

    @Slot(bool)
    def _toggle_details(self, shown: bool) -> None:
        self.details_text.setVisible(shown and bool(self.details_text.toPlainText()))

    def _set_busy(self, busy: bool) -> None:
        self.busy = busy
        self.link_edit.setReadOnly(busy)
        self.connect_button.setEnabled(not busy and self.problem() is None)
        self.save_anyway_button.setEnabled(not busy)

    @Slot()
    def request_proof(self) -> None:
        """*Connect* / *Retry*."""
        if self.busy or self.problem() is not None:
            return
        link = parse_link(self.text())
        self._say(self.message_label, f"Connecting to {server_words(link.url)} and checking the link…")
        self._set_details("")
        self.save_anyway_button.hide()
        self._set_busy(True)
        self.prove_requested.emit(self.text())

    def show_result(self, ok: bool, words: str, detail: str = "", retry_helps: bool = False) -> None:
        """The check ended (a ``client.proof.ProbeResult``'s parts). OK: the app saves the link and closes the
        dialog; otherwise say what to do, with *Retry*, and *Save anyway* when the server was not reached."""
        self._set_busy(False)
        self._say(self.message_label, words, OK_STYLE if ok else ERROR_STYLE)
        self._set_details("" if ok else detail)
        if not ok:
            self.connect_button.setText("&Retry")
            self.save_anyway_button.setVisible(retry_helps)

    def show_problem(self, words: str, detail: str = "") -> None:
        """Saving failed (e.g. no keyring): nothing was changed."""
        self._set_busy(False)
        self._say(self.message_label, words, ERROR_STYLE)
        self._set_details(detail)

    def accept(self) -> None:  # Enter in the field: Connect (the dialog closes when the app has saved)
        self.request_proof()
