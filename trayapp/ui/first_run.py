"""The first-run dialog: paste the connection link your admin sent."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QLineEdit, QVBoxLayout, QWidget

from trayapp.core.errors import CoreError
from trayapp.core.link import parse_link


class FirstRunDialog(QDialog):
    """Asks for the connection link, checks it as it is typed.

    Signals:
        link_accepted(str): a link that parses; the app stores it and connects.
    """

    link_accepted = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Set up trayapp")
        self.setObjectName("FirstRunDialog")
        self.setMinimumWidth(520)
        layout = QVBoxLayout(self)
        intro = QLabel(
            "<b>Get Acquire case alerts on this computer.</b><br><br>"
            "Paste the connection link your admin sent you. It starts with "
            "<code style='white-space:nowrap'>trayapp://connect?</code> and its secret is kept in your "
            "system keyring.<br><br>"
            "Just looking? Close this and run <code>trayapp demo</code>.", self)
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.link_edit = QLineEdit(self)
        self.link_edit.setPlaceholderText("trayapp://connect?url=…&token=…&key=ed25519:…")
        self.link_edit.setAccessibleName("Connection link")
        self.link_edit.textChanged.connect(self._validate)
        layout.addWidget(self.link_edit)
        self.error_label = QLabel("", self)
        self.error_label.setWordWrap(True)
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)  # the problem may quote the pasted text
        self.error_label.setStyleSheet("color:#c42b1c;")
        layout.addWidget(self.error_label)
        self.buttons = QDialogButtonBox(self)
        self.connect_button = self.buttons.addButton("&Connect", QDialogButtonBox.ButtonRole.AcceptRole)
        self.connect_button.setAccessibleName("Connect with this link")
        later = self.buttons.addButton("&Later", QDialogButtonBox.ButtonRole.RejectRole)
        later.setAccessibleName("Later: set up the connection another time")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self._validate()

    def problem(self) -> str | None:
        text = self.link_edit.text().strip()
        if not text:
            return ""
        try:
            parse_link(text)
        except CoreError as exc:
            return str(exc)
        return None

    @Slot()
    def _validate(self) -> None:
        problem = self.problem()
        self.error_label.setText(problem or "")
        self.connect_button.setEnabled(problem is None)

    def accept(self) -> None:
        if self.problem() is not None:
            return
        self.link_accepted.emit(self.link_edit.text().strip())
        super().accept()
