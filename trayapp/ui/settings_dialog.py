"""The one settings dialog."""

from __future__ import annotations

from dataclasses import dataclass, fields

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from trayapp.core.errors import CoreError
from trayapp.core.event import Event
from trayapp.core.link import parse_link
from trayapp.core.urls import DEFAULT_TEMPLATE, conversation_url, template_problem
from trayapp.settings import DEFAULT_NOTIFY, Settings
from trayapp.ui.describe import NOTIFY_KEYS

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@dataclass
class SettingsValues:
    """What the dialog edits: the :class:`trayapp.settings.Settings` fields of the same names, plus
    ``link``, a newly pasted connection link (``""``: keep the current connection)."""

    notify: frozenset[str] = DEFAULT_NOTIFY
    url_template: str = DEFAULT_TEMPLATE
    account_id: str = ""
    retention_days: int = 30
    log_level: str = "INFO"
    start_at_login: bool = False
    link: str = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> SettingsValues:
        return cls(notify=frozenset(settings.notify), url_template=settings.url_template,
                   account_id=settings.account_id, retention_days=settings.retention_days,
                   log_level=settings.log_level, start_at_login=settings.start_at_login)

    def changes(self) -> dict[str, object]:
        """The settings fields to ``Settings.replace`` with (everything but ``link``)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "link"}


class SettingsDialog(QDialog):
    """Connection, notifications, conversation links, history, start-up, logging.

    Signals:
        values_accepted(object): OK was pressed; a :class:`SettingsValues`.
        test_requested(str): *Test connection*; the pasted link, or ``""`` for the current connection.
    """

    values_accepted = Signal(object)
    test_requested = Signal(str)

    def __init__(self, values: SettingsValues, bridge_url: str = "", login_problem: str | None = None,
                 parent: QWidget | None = None) -> None:
        """``login_problem``: why *Start at login* cannot be changed here (the box is then disabled)."""
        super().__init__(parent)
        self.setWindowTitle("trayapp settings")
        self.setObjectName("SettingsDialog")
        self.setMinimumWidth(620)
        self._original = values
        layout = QVBoxLayout(self)

        # Connection
        conn = QGroupBox("Connection", self)
        conn_form = QFormLayout(conn)
        self.bridge_label = QLabel(bridge_url or "not set up", conn)
        self.bridge_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        conn_form.addRow("Bridge:", self.bridge_label)
        self.state_label = QLabel("", conn)
        self.state_label.setWordWrap(True)
        self.state_label.setAccessibleName("Connection state")
        conn_form.addRow("State:", self.state_label)
        self.link_edit = QLineEdit(conn)
        self.link_edit.setPlaceholderText("trayapp://connect?url=…  (paste a new link from your admin)")
        self.link_edit.setEchoMode(QLineEdit.EchoMode.PasswordEchoOnEdit)
        self.link_edit.setAccessibleName("New connection link")
        self.link_edit.textChanged.connect(self._validate)
        conn_form.addRow("New link:", self.link_edit)
        test_row = QHBoxLayout()
        self.test_button = QPushButton("&Test connection", conn)
        self.test_button.clicked.connect(self._on_test)
        self.test_result = QLabel("", conn)
        self.test_result.setWordWrap(True)
        self.test_result.setAccessibleName("Connection test result")
        test_row.addWidget(self.test_button)
        test_row.addWidget(self.test_result, 1)
        conn_form.addRow(test_row)
        layout.addWidget(conn)

        # Notifications
        notif = QGroupBox("Pop up a notification for", self)
        grid = QGridLayout(notif)
        self.notify_boxes: dict[str, QCheckBox] = {}
        for i, (key, label) in enumerate(NOTIFY_KEYS.items()):
            box = QCheckBox(label, notif)
            box.setChecked(key in values.notify)
            box.setAccessibleName(f"Notify for {label}")
            self.notify_boxes[key] = box
            grid.addWidget(box, i // 2, i % 2)
        layout.addWidget(notif)

        # Links and history
        other = QGroupBox("Conversations and history", self)
        form = QFormLayout(other)
        self.template_edit = QLineEdit(values.url_template, other)
        self.template_edit.setAccessibleName("Conversation address template")
        self.template_edit.setToolTip("{case_id} and {account} are filled in; only http(s) on this host is opened.")
        self.template_edit.textChanged.connect(self._validate)
        form.addRow("Conversation address:", self.template_edit)
        self.account_edit = QLineEdit(values.account_id, other)
        self.account_edit.setPlaceholderText("your Acquire account id, e.g. acme")
        self.account_edit.setAccessibleName("Account id")
        self.account_edit.textChanged.connect(self._validate)
        form.addRow("Account id:", self.account_edit)
        self.preview_label = QLabel("", other)
        self.preview_label.setWordWrap(True)
        self.preview_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow("", self.preview_label)
        self.retention_spin = QSpinBox(other)
        self.retention_spin.setRange(1, 3650)
        self.retention_spin.setSuffix(" days")
        self.retention_spin.setValue(values.retention_days)
        self.retention_spin.setAccessibleName("Keep history for days")
        form.addRow("Keep history for:", self.retention_spin)
        layout.addWidget(other)

        # App
        app = QGroupBox("App", self)
        app_form = QFormLayout(app)
        self.login_box = QCheckBox("Start at login", app)
        self.login_box.setChecked(values.start_at_login)
        self.login_box.setAccessibleName("Start trayapp at login")
        login_row = QHBoxLayout()
        login_row.addWidget(self.login_box)
        self.login_note = QLabel(f"({login_problem})" if login_problem else "", app)
        self.login_note.setEnabled(False)
        self.login_note.setWordWrap(True)
        login_row.addWidget(self.login_note, 1)
        if login_problem:
            self.login_box.setEnabled(False)
            self.login_box.setToolTip(login_problem)
        app_form.addRow(login_row)
        self.log_combo = QComboBox(app)
        self.log_combo.addItems(LOG_LEVELS)
        self.log_combo.setCurrentText(values.log_level.upper() if values.log_level.upper() in LOG_LEVELS else "INFO")
        self.log_combo.setAccessibleName("Log level")
        app_form.addRow("Log level:", self.log_combo)
        layout.addWidget(app)

        self.error_label = QLabel("", self)
        self.error_label.setStyleSheet("color:#c42b1c;")
        self.error_label.setWordWrap(True)
        layout.addWidget(self.error_label)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self._validate()

    # --- state from outside ------------------------------------------------------------------

    @Slot(str)
    def set_state_text(self, text: str) -> None:
        self.state_label.setText(text)

    @Slot(bool, str)
    def show_test_result(self, ok: bool, message: str) -> None:
        self.test_button.setEnabled(True)
        self.test_result.setStyleSheet("color:#107c10;" if ok else "color:#c42b1c;")
        self.test_result.setText(("✔ " if ok else "✘ ") + message)

    # --- values ------------------------------------------------------------------------------

    def values(self) -> SettingsValues:
        return SettingsValues(
            notify=self._notify_keys(),
            url_template=self.template_edit.text().strip(),
            account_id=self.account_edit.text().strip(),
            retention_days=self.retention_spin.value(),
            log_level=self.log_combo.currentText(),
            start_at_login=self.login_box.isChecked(),
            link=self.link_edit.text().strip(),
        )

    def _notify_keys(self) -> frozenset[str]:
        """The ticked keys, keeping enabled keys this dialog has no box for (e.g. ``case.new/pending``)."""
        ticked = {k for k, box in self.notify_boxes.items() if box.isChecked()}
        return frozenset(ticked | (self._original.notify - self.notify_boxes.keys()))

    def problems(self) -> list[str]:
        """What keeps OK from being pressed, in words."""
        found = []
        link = self.link_edit.text().strip()
        if link:
            try:
                parse_link(link)
            except CoreError as exc:
                found.append(f"Connection link: {exc}")
        problem = template_problem(self.template_edit.text().strip())
        if problem:
            found.append(f"Conversation address: {problem}")
        return found

    @Slot()
    def _validate(self) -> None:
        found = self.problems()
        self.error_label.setText("\n".join(found))
        self.error_label.setVisible(bool(found))
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(not found)
        template = self.template_edit.text().strip()
        if not template_problem(template):
            sample = Event(kind="case.new", acquire_event="case.new", case_id="5121")
            url = conversation_url(template, sample, self.account_edit.text().strip() or None)
            self.preview_label.setText(f"Case #5121 opens {url}" if url else
                                       "Set the account id: the address needs it.")

    @Slot()
    def _on_test(self) -> None:
        self.test_button.setEnabled(False)
        self.test_result.setStyleSheet("")
        self.test_result.setText("Testing…")
        self.test_requested.emit(self.link_edit.text().strip())

    def accept(self) -> None:
        if self.problems():
            return
        self.values_accepted.emit(self.values())
        super().accept()
