"""The one settings dialog."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
from trayapp.ui.describe import DEFAULT_NOTIFY, NOTIFY_KEYS

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@dataclass
class SettingsValues:
    """What the dialog edits. Read from any settings object with these attribute names;
    ``link`` is a newly pasted connection link (``""``: keep the current connection)."""

    notify_keys: frozenset[str] = DEFAULT_NOTIFY
    conversation_url_template: str = DEFAULT_TEMPLATE
    account: str = ""
    history_retention_days: int = 90
    log_level: str = "INFO"
    start_at_login: bool = False
    link: str = ""
    bridge_url: str = field(default="", compare=False)

    @classmethod
    def from_settings(cls, settings: Any) -> SettingsValues:
        defaults = cls()
        values = {name: getattr(settings, name, getattr(defaults, name))
                  for name in ("notify_keys", "conversation_url_template", "account", "history_retention_days",
                               "log_level", "start_at_login", "bridge_url")}
        values["notify_keys"] = frozenset(values["notify_keys"])
        values["account"] = values["account"] or ""
        values["bridge_url"] = values["bridge_url"] or ""
        return cls(**values)


class SettingsDialog(QDialog):
    """Connection, notifications, conversation links, history, start-up, logging.

    Signals:
        values_accepted(object): OK was pressed; a :class:`SettingsValues`.
        test_requested(str): *Test connection*; the pasted link, or ``""`` for the current connection.
    """

    values_accepted = Signal(object)
    test_requested = Signal(str)

    def __init__(self, values: SettingsValues, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("trayapp settings")
        self.setObjectName("SettingsDialog")
        self._original = values
        layout = QVBoxLayout(self)

        # Connection
        conn = QGroupBox("Connection", self)
        conn_form = QFormLayout(conn)
        self.bridge_label = QLabel(values.bridge_url or "not set up", conn)
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
            box.setChecked(key in values.notify_keys)
            box.setAccessibleName(f"Notify for {label}")
            self.notify_boxes[key] = box
            grid.addWidget(box, i // 2, i % 2)
        layout.addWidget(notif)

        # Links and history
        other = QGroupBox("Conversations and history", self)
        form = QFormLayout(other)
        self.template_edit = QLineEdit(values.conversation_url_template, other)
        self.template_edit.setAccessibleName("Conversation address template")
        self.template_edit.setToolTip("{case_id} and {account} are filled in; only http(s) on this host is opened.")
        self.template_edit.textChanged.connect(self._validate)
        form.addRow("Conversation address:", self.template_edit)
        self.account_edit = QLineEdit(values.account, other)
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
        self.retention_spin.setValue(values.history_retention_days)
        self.retention_spin.setAccessibleName("Keep history for days")
        form.addRow("Keep history for:", self.retention_spin)
        layout.addWidget(other)

        # App
        app = QGroupBox("App", self)
        app_form = QFormLayout(app)
        self.login_box = QCheckBox("Start at login", app)
        self.login_box.setChecked(values.start_at_login)
        self.login_box.setEnabled(False)
        self.login_box.setToolTip("Comes with packaging: the installers register the app to start at login.")
        login_row = QHBoxLayout()
        login_row.addWidget(self.login_box)
        login_note = QLabel("(comes with packaging)", app)
        login_note.setEnabled(False)
        login_row.addWidget(login_note, 1)
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
            notify_keys=frozenset(k for k, box in self.notify_boxes.items() if box.isChecked()),
            conversation_url_template=self.template_edit.text().strip(),
            account=self.account_edit.text().strip(),
            history_retention_days=self.retention_spin.value(),
            log_level=self.log_combo.currentText(),
            start_at_login=self.login_box.isChecked(),
            link=self.link_edit.text().strip(),
            bridge_url=self._original.bridge_url,
        )

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
