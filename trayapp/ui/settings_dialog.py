"""The one settings dialog."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from PySide6.QtCore import Qt, QTime, Signal, Slot
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
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QTabWidget,
    QTimeEdit,
    QVBoxLayout,
    QWidget,
)

from trayapp.core.event import Event
from trayapp.core.urls import DEFAULT_TEMPLATE, conversation_url, template_problem
from trayapp.model.describe import NOTIFY_KEYS
from trayapp.settings import DEFAULT_NOTIFY, Settings
from trayapp.settings import bounds as settings_bounds
from trayapp.settings import choices as settings_choices
from trayapp.ui.first_run import server_words

LOG_LEVELS = settings_choices("log_level")
DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_DEFAULTS = Settings()


@dataclass
class SettingsValues:
    """What the dialog edits: the :class:`trayapp.settings.Settings` fields of the same names."""

    notify: frozenset[str] = DEFAULT_NOTIFY
    url_template: str = ""  # the agent's override ("": the admin's)
    account_id: str = ""
    retention_days: int = _DEFAULTS.retention_days
    log_level: str = _DEFAULTS.log_level
    start_at_login: bool = _DEFAULTS.start_at_login
    # --- the Alerts tab (defaults: those of Settings) ---
    realert_interval_s: int = _DEFAULTS.realert_interval_s
    realert_max: int = _DEFAULTS.realert_max
    burst_size: int = _DEFAULTS.burst_size
    burst_window_s: int = _DEFAULTS.burst_window_s
    catch_up_summary: bool = _DEFAULTS.catch_up_summary
    working_hours_enabled: bool = _DEFAULTS.working_hours_enabled
    working_days: tuple[int, ...] = _DEFAULTS.working_days
    working_start: str = _DEFAULTS.working_start
    working_end: str = _DEFAULTS.working_end
    dnd_allow_new_cases: bool = _DEFAULTS.dnd_allow_new_cases
    sound_enabled: bool = _DEFAULTS.sound_enabled
    sound_kinds: frozenset[str] = field(default_factory=lambda: _DEFAULTS.sound_kinds)
    sound_volume: int = _DEFAULTS.sound_volume
    only_mine: bool = _DEFAULTS.only_mine
    my_agent_id: str = _DEFAULTS.my_agent_id
    my_departments: tuple[str, ...] = _DEFAULTS.my_departments
    offline_alarm_s: int = _DEFAULTS.offline_alarm_s

    @classmethod
    def from_settings(cls, settings: Settings) -> SettingsValues:
        values = cls(**{f.name: getattr(settings, f.name) for f in fields(cls)})
        if values.url_template == DEFAULT_TEMPLATE:  # older settings files stored the default: no override
            values.url_template = ""
        return values

    def changes(self) -> dict[str, object]:
        """The settings fields to ``Settings.replace`` with."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


class SettingsDialog(QDialog):
    """Three pages: *General* (the agent's: connection state and tests, a new link, what pops up, history,
    start-up), *Alerts* (re-alerts, grouping, catch-up, quiet hours, sound, only what concerns me, offline warning)
    and *Advanced* (what an admin sets up: the conversation address, the account id, the log level, the alert
    server's address).

    Signals:
        values_accepted(object): OK was pressed; a :class:`SettingsValues`.
        test_requested(str): *Test connection* (``""``: the current connection).
        test_alert_requested(): *Send me a test alert*.
        new_link_requested(): *New link…*.
        sound_test_requested(int): *Play* on the Alerts page; the volume to play the alert sound at.
    """

    values_accepted = Signal(object)
    test_requested = Signal(str)
    test_alert_requested = Signal()
    new_link_requested = Signal()
    sound_test_requested = Signal(int)

    def __init__(self, values: SettingsValues, bridge_url: str = "", login_problem: str | None = None,
                 parent: QWidget | None = None, admin_template: str = "") -> None:
        """``login_problem``: why *Start at login* cannot be changed here (the box is then disabled);
        ``admin_template``: the admin's conversation address (from the alert server), used when the agent sets
        none."""
        super().__init__(parent)
        self.setWindowTitle("Settings")  # the desktop adds " — trayapp" (the application display name)
        self.setObjectName("SettingsDialog")
        self.setMinimumWidth(720)
        self._original = values
        self._admin_template = admin_template or DEFAULT_TEMPLATE
        self._test_alert_allowed = True
        outer = QVBoxLayout(self)
        self.tabs = QTabWidget(self)
        self.tabs.setAccessibleName("Settings pages")
        outer.addWidget(self.tabs)
        general = QWidget(self.tabs)
        general.setAccessibleName("General settings")
        layout = QVBoxLayout(general)
        self.tabs.addTab(general, "&General")

        # Connection (agent words; the technical address and reasons one click away)
        conn = QGroupBox("Connection", self)
        conn_form = QFormLayout(conn)
        self.bridge_label = QLabel(server_words(bridge_url) if bridge_url else "not set up yet", conn)
        self.bridge_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.bridge_label.setAccessibleName("Alert server")
        self.bridge_label.setTextFormat(Qt.TextFormat.PlainText)  # words from a link, a bridge or the system
        conn_form.addRow("Alert server:", self.bridge_label)
        self.state_label = QLabel("", conn)
        self.state_label.setWordWrap(True)
        self.state_label.setTextFormat(Qt.TextFormat.PlainText)
        self.state_label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        self.state_label.setAccessibleName("Connection state")
        conn_form.addRow("State:", self.state_label)
        buttons_row = QHBoxLayout()
        self.test_button = QPushButton("&Test connection", conn)
        self.test_button.setAccessibleName("Test connection")
        self.test_button.clicked.connect(self._on_test)
        self.test_alert_button = QPushButton("Send me a test al&ert", conn)
        self.test_alert_button.setAccessibleName("Send me a test alert")
        self.test_alert_button.setToolTip("Your team's alert server sends a test popup to this computer only.")
        self.test_alert_button.clicked.connect(self._on_test_alert)
        self.new_link_button = QPushButton("&New link…", conn)
        self.new_link_button.setAccessibleName("Use a new link from your admin")
        self.new_link_button.clicked.connect(self.new_link_requested)
        self.details_button = QPushButton("&Details", conn)
        self.details_button.setCheckable(True)
        self.details_button.setAccessibleName("Show technical details")
        self.details_button.toggled.connect(self._show_details)
        for button in (self.test_button, self.test_alert_button, self.new_link_button, self.details_button):
            buttons_row.addWidget(button)
        buttons_row.addStretch(1)
        conn_form.addRow(buttons_row)
        self.test_result = QLabel("", conn)
        self.test_result.setWordWrap(True)
        self.test_result.setTextFormat(Qt.TextFormat.PlainText)
        self.test_result.setAccessibleName("Connection test result")
        conn_form.addRow(self.test_result)
        self.details_text = QPlainTextEdit(conn)
        self.details_text.setReadOnly(True)
        self.details_text.setMaximumHeight(80)
        self.details_text.setAccessibleName("Technical details")
        self.details_text.hide()
        conn_form.addRow(self.details_text)
        self._bridge_url = bridge_url
        self._state_detail = ""
        self._test_detail = ""
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

        # App
        app = QGroupBox("App", self)
        app_form = QFormLayout(app)
        self.retention_spin = self._spin(app, "retention_days", values.retention_days)
        app_form.addRow("Keep history for:", self.retention_spin)
        self.login_box = QCheckBox("Start at login", app)
        self.login_box.setChecked(values.start_at_login)
        self.login_box.setAccessibleName("Start trayapp at login")
        login_row = QHBoxLayout()
        login_row.addWidget(self.login_box)
        self.login_note = QLabel(f"({login_problem})" if login_problem else "", app)
        self.login_note.setEnabled(False)
        self.login_note.setWordWrap(True)
        self.login_note.setTextFormat(Qt.TextFormat.PlainText)  # words from a link, a bridge or the system
        login_row.addWidget(self.login_note, 1)
        if login_problem:
            self.login_box.setEnabled(False)
            self.login_box.setToolTip(login_problem)
        app_form.addRow(login_row)
        layout.addWidget(app)
        layout.addStretch(1)

        self.alerts_page = self._build_alerts_page(values)
        self.tabs.addTab(self.alerts_page, "&Alerts")
        self.advanced_page = self._build_advanced_page(values)
        self.tabs.addTab(self.advanced_page, "Ad&vanced")

        self.error_label = QLabel("", self)
        self.error_label.setStyleSheet("color:#c42b1c;")
        self.error_label.setWordWrap(True)
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)  # words from a link, a bridge or the system
        outer.addWidget(self.error_label)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setAccessibleName("OK: save the settings")
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setAccessibleName("Cancel: discard changes")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        outer.addWidget(self.buttons)
        self._validate()
        self._update_enabled()

    # --- the Alerts page ---------------------------------------------------------------------

    def _spin(self, parent: QWidget, setting: str, value: int, special: str = "") -> QSpinBox:
        """A spin box for a whole-number setting: range, unit and accessible name from its declaration
        (``settings.bounds``)."""
        limit = settings_bounds(setting)
        spin = QSpinBox(parent)
        spin.setRange(limit.low, limit.high)
        spin.setSuffix(limit.unit)
        if special:
            spin.setSpecialValueText(special)
        spin.setValue(value)
        spin.setAccessibleName(limit.description)
        return spin

    def _build_alerts_page(self, values: SettingsValues) -> QWidget:
        page = QWidget(self.tabs)
        page.setAccessibleName("Alert settings")
        grid = QGridLayout(page)
        left, right = QVBoxLayout(), QVBoxLayout()
        grid.addLayout(left, 0, 0)
        grid.addLayout(right, 0, 1)

        waiting = QGroupBox("Waiting customers", page)
        form = QFormLayout(waiting)
        self.realert_spin = self._spin(waiting, "realert_interval_s", values.realert_interval_s, "never")
        self.realert_spin.setToolTip("A new case or a pending/queued chat pops up again until it is active, "
                                     "closed or opened.")
        form.addRow("Alert again every:", self.realert_spin)
        self.realert_max_spin = self._spin(waiting, "realert_max", values.realert_max)
        form.addRow("At most:", self.realert_max_spin)
        self.offline_spin = self._spin(waiting, "offline_alarm_s", values.offline_alarm_s)
        form.addRow("Warn when offline for:", self.offline_spin)
        left.addWidget(waiting)

        grouping = QGroupBox("Fewer popups", page)
        form = QFormLayout(grouping)
        self.burst_size_spin = self._spin(grouping, "burst_size", values.burst_size, "never")
        form.addRow("Group more than:", self.burst_size_spin)
        self.burst_window_spin = self._spin(grouping, "burst_window_s", values.burst_window_s)
        form.addRow("Arriving within:", self.burst_window_spin)
        self.catch_up_box = QCheckBox("Summarise what came in while I was away", grouping)
        self.catch_up_box.setChecked(values.catch_up_summary)
        self.catch_up_box.setAccessibleName("One summary for what came in while I was away")
        form.addRow(self.catch_up_box)
        left.addWidget(grouping)

        mine = QGroupBox("Only what concerns me", page)
        form = QFormLayout(mine)
        self.only_mine_box = QCheckBox("Only my chats and departments", mine)
        self.only_mine_box.setChecked(values.only_mine)
        self.only_mine_box.setAccessibleName("Only pop up for my chats and departments")
        self.only_mine_box.toggled.connect(self._update_enabled)
        form.addRow(self.only_mine_box)
        self.agent_edit = QLineEdit(values.my_agent_id, mine)
        self.agent_edit.setPlaceholderText("agent id or name in Acquire")
        self.agent_edit.setAccessibleName("My agent id or name")
        form.addRow("My agent id:", self.agent_edit)
        self.departments_edit = QLineEdit(", ".join(values.my_departments), mine)
        self.departments_edit.setPlaceholderText("e.g. Sales, Billing")
        self.departments_edit.setAccessibleName("My departments, separated by commas")
        form.addRow("My departments:", self.departments_edit)
        note = QLabel("New unassigned cases and waiting chats are always shown.", mine)
        note.setWordWrap(True)
        note.setEnabled(False)
        form.addRow(note)
        left.addWidget(mine)
        left.addStretch(1)

        quiet = QGroupBox("Quiet hours", page)
        form = QFormLayout(quiet)
        self.working_box = QCheckBox("Pop up only in working hours", quiet)
        self.working_box.setChecked(values.working_hours_enabled)
        self.working_box.setAccessibleName("Pop up only during working hours")
        self.working_box.toggled.connect(self._update_enabled)
        form.addRow(self.working_box)
        days = QGridLayout()
        days.setHorizontalSpacing(6)
        self.day_boxes: list[QCheckBox] = []
        for i, name in enumerate(DAY_NAMES):
            box = QCheckBox(name, quiet)
            box.setChecked(i in values.working_days)
            box.setAccessibleName(f"Working day {name}")
            box.toggled.connect(self._validate)
            self.day_boxes.append(box)
            days.addWidget(box, i // 4, i % 4)
        form.addRow(days)
        times = QHBoxLayout()
        self.start_edit = QTimeEdit(QTime.fromString(values.working_start, "HH:mm"), quiet)
        self.start_edit.setDisplayFormat("HH:mm")
        self.start_edit.setAccessibleName("Working hours start")
        self.end_edit = QTimeEdit(QTime.fromString(values.working_end, "HH:mm"), quiet)
        self.end_edit.setDisplayFormat("HH:mm")
        self.end_edit.setAccessibleName("Working hours end")
        self.start_edit.timeChanged.connect(self._validate)
        self.end_edit.timeChanged.connect(self._validate)
        to = QLabel("to", quiet)
        times.addWidget(self.start_edit)
        times.addWidget(to)
        times.addWidget(self.end_edit)
        times.addStretch(1)
        hours_label = QLabel("From:", quiet)
        hours_label.setBuddy(self.start_edit)
        form.addRow(hours_label, times)
        self.allow_new_box = QCheckBox("Still alert for new cases when quiet", quiet)
        self.allow_new_box.setChecked(values.dnd_allow_new_cases)
        self.allow_new_box.setAccessibleName("Still alert for new cases during do not disturb")
        form.addRow(self.allow_new_box)
        right.addWidget(quiet)

        sound = QGroupBox("Sound", page)
        form = QFormLayout(sound)
        self.sound_box = QCheckBox("Play a sound (never when quiet)", sound)
        self.sound_box.setChecked(values.sound_enabled)
        self.sound_box.setAccessibleName("Play a sound with alerts")
        self.sound_box.toggled.connect(self._update_enabled)
        form.addRow(self.sound_box)
        volume_row = QHBoxLayout()
        self.volume_slider = QSlider(Qt.Orientation.Horizontal, sound)
        self.volume_slider.setRange(settings_bounds("sound_volume").low, settings_bounds("sound_volume").high)
        self.volume_slider.setPageStep(10)
        self.volume_slider.setValue(values.sound_volume)
        self.volume_slider.setAccessibleName("Sound volume")
        self.volume_label = QLabel(f"{values.sound_volume} %", sound)
        self.volume_label.setMinimumWidth(40)
        self.volume_slider.valueChanged.connect(lambda v: self.volume_label.setText(f"{v} %"))
        self.sound_test_button = QPushButton("&Play", sound)
        self.sound_test_button.setAccessibleName("Play the alert sound")
        self.sound_test_button.clicked.connect(lambda: self.sound_test_requested.emit(self.volume_slider.value()))
        volume_row.addWidget(self.volume_slider, 1)
        volume_row.addWidget(self.volume_label)
        volume_row.addWidget(self.sound_test_button)
        volume_label = QLabel("&Volume:", sound)
        volume_label.setBuddy(self.volume_slider)
        form.addRow(volume_label, volume_row)
        kinds = QGridLayout()
        self.sound_boxes: dict[str, QCheckBox] = {}
        for i, (key, label) in enumerate(NOTIFY_KEYS.items()):
            box = QCheckBox(label, sound)
            box.setChecked(key in values.sound_kinds)
            box.setAccessibleName(f"Sound for {label}")
            self.sound_boxes[key] = box
            kinds.addWidget(box, i // 2, i % 2)
        form.addRow(kinds)
        right.addWidget(sound)
        right.addStretch(1)
        return page

    # --- the Advanced page (what an admin sets up) ----------------------------------------------

    def _build_advanced_page(self, values: SettingsValues) -> QWidget:
        page = QWidget(self.tabs)
        page.setAccessibleName("Advanced settings")
        layout = QVBoxLayout(page)
        note = QLabel("Your admin sets these up. Change them only if they asked you to.", page)
        note.setWordWrap(True)
        layout.addWidget(note)
        links = QGroupBox("Where a click on an alert goes", page)
        form = QFormLayout(links)
        self.template_edit = QLineEdit(values.url_template, links)
        self.template_edit.setPlaceholderText(f"from your admin: {self._admin_template}")
        self.template_edit.setAccessibleName("Conversation address template (empty: your admin's)")
        self.template_edit.setToolTip("{case_id} and {account} are filled in; only http(s) on this host is opened.")
        self.template_edit.textChanged.connect(self._validate)
        form.addRow("Conversation address:", self.template_edit)
        self.account_edit = QLineEdit(values.account_id, links)
        self.account_edit.setPlaceholderText("empty: each case's own account")
        self.account_edit.setAccessibleName("Account id")
        self.account_edit.textChanged.connect(self._validate)
        form.addRow("Account id:", self.account_edit)
        self.preview_label = QLabel("", links)
        self.preview_label.setWordWrap(True)
        self.preview_label.setTextFormat(Qt.TextFormat.PlainText)
        self.preview_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.preview_label.setAccessibleName("Conversation address preview")
        form.addRow("", self.preview_label)
        layout.addWidget(links)
        tech = QGroupBox("Troubleshooting", page)
        form = QFormLayout(tech)
        self.address_label = QLabel(self._bridge_url or "not set up yet", tech)
        self.address_label.setTextFormat(Qt.TextFormat.PlainText)
        self.address_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.address_label.setAccessibleName("Alert server address")
        form.addRow("Alert server address:", self.address_label)
        self.log_combo = QComboBox(tech)
        self.log_combo.addItems(LOG_LEVELS)
        self.log_combo.setCurrentText(values.log_level.upper() if values.log_level.upper() in LOG_LEVELS else "INFO")
        self.log_combo.setAccessibleName("Log level")
        form.addRow("Log level:", self.log_combo)
        layout.addWidget(tech)
        layout.addStretch(1)
        return page

    @Slot()
    def _update_enabled(self) -> None:
        working = self.working_box.isChecked()
        for widget in (*self.day_boxes, self.start_edit, self.end_edit):
            widget.setEnabled(working)
        sound = self.sound_box.isChecked()
        for widget in (self.volume_slider, self.sound_test_button, *self.sound_boxes.values()):
            widget.setEnabled(sound)
        mine = self.only_mine_box.isChecked()
        self.agent_edit.setEnabled(mine)
        self.departments_edit.setEnabled(mine)
        self._validate()

    # --- state from outside ------------------------------------------------------------------

    @Slot(str)
    def set_state_text(self, text: str, detail: str = "") -> None:
        """The connection state in agent words; ``detail`` (technical) goes behind *Details*."""
        self.state_label.setText(text)
        self._state_detail = detail
        self._refresh_details()

    @Slot(bool, str)
    def show_test_result(self, ok: bool, message: str, detail: str = "") -> None:
        """The end of *Test connection* or *Send me a test alert* (``detail``: technical, behind *Details*)."""
        self.test_button.setEnabled(True)
        self.test_alert_button.setEnabled(self._test_alert_allowed)
        self.test_result.setStyleSheet("color:#107c10;" if ok else "color:#c42b1c;")
        self.test_result.setText(("✔ " if ok else "✘ ") + message)
        self._test_detail = detail
        self._refresh_details()

    def set_bridge(self, bridge_url: str) -> None:
        """A new link is in use: name its alert server (and its address under Advanced / Details)."""
        self._bridge_url = bridge_url
        self.bridge_label.setText(server_words(bridge_url) if bridge_url else "not set up yet")
        self.address_label.setText(bridge_url or "not set up yet")
        self._test_alert_allowed = bool(bridge_url)
        self.test_alert_button.setEnabled(self._test_alert_allowed)
        self._refresh_details()

    def set_link_actions(self, new_link: bool, test_alert: bool, why: str = "") -> None:
        """Enable *New link…* / *Send me a test alert* (the demo has no link to change; nothing to test before
        a link is set up); ``why`` becomes their tooltip."""
        self._test_alert_allowed = test_alert
        self.new_link_button.setEnabled(new_link)
        self.test_alert_button.setEnabled(test_alert)
        if why:
            for button, allowed in ((self.new_link_button, new_link), (self.test_alert_button, test_alert)):
                if not allowed:
                    button.setToolTip(why)

    def _refresh_details(self) -> None:
        parts = [f"Address: {self._bridge_url}"] if self._bridge_url else []
        parts += [p for p in (self._state_detail, self._test_detail) if p]
        self.details_text.setPlainText("\n".join(parts))
        self.details_text.setVisible(self.details_button.isChecked())

    @Slot(bool)
    def _show_details(self, shown: bool) -> None:
        self._refresh_details()

    # --- values ------------------------------------------------------------------------------

    def values(self) -> SettingsValues:
        return SettingsValues(
            notify=self._notify_keys(),
            url_template=self.template_edit.text().strip(),
            account_id=self.account_edit.text().strip(),
            retention_days=self.retention_spin.value(),
            log_level=self.log_combo.currentText(),
            start_at_login=self.login_box.isChecked(),
            realert_interval_s=self.realert_spin.value(),
            realert_max=self.realert_max_spin.value(),
            burst_size=self.burst_size_spin.value(),
            burst_window_s=self.burst_window_spin.value(),
            catch_up_summary=self.catch_up_box.isChecked(),
            working_hours_enabled=self.working_box.isChecked(),
            working_days=tuple(i for i, box in enumerate(self.day_boxes) if box.isChecked()),
            working_start=self.start_edit.time().toString("HH:mm"),
            working_end=self.end_edit.time().toString("HH:mm"),
            dnd_allow_new_cases=self.allow_new_box.isChecked(),
            sound_enabled=self.sound_box.isChecked(),
            sound_kinds=frozenset(k for k, box in self.sound_boxes.items() if box.isChecked())
            | (self._original.sound_kinds - self.sound_boxes.keys()),
            sound_volume=self.volume_slider.value(),
            only_mine=self.only_mine_box.isChecked(),
            my_agent_id=self.agent_edit.text().strip(),
            my_departments=tuple(d.strip() for d in self.departments_edit.text().split(",") if d.strip()),
            offline_alarm_s=self.offline_spin.value(),
        )

    def _notify_keys(self) -> frozenset[str]:
        """The ticked keys, keeping enabled keys this dialog has no box for (e.g. ``case.new/pending``)."""
        ticked = {k for k, box in self.notify_boxes.items() if box.isChecked()}
        return frozenset(ticked | (self._original.notify - self.notify_boxes.keys()))

    def problems(self) -> list[str]:
        """What keeps OK from being pressed, in words."""
        found = []
        problem = template_problem(self.template_edit.text().strip()) if self.template_edit.text().strip() else None
        if problem:
            found.append(f"Conversation address: {problem}")
        if hasattr(self, "working_box") and self.working_box.isChecked():
            if not any(box.isChecked() for box in self.day_boxes):
                found.append("Working hours: tick at least one working day.")
            if self.start_edit.time() == self.end_edit.time():
                found.append("Working hours: the start and the end are the same time.")
        return found

    @Slot()
    def _validate(self) -> None:
        found = self.problems()
        self.error_label.setText("\n".join(found))
        self.error_label.setVisible(bool(found))
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(not found)
        template = self.template_edit.text().strip() or self._admin_template
        if not template_problem(template):
            account = self.account_edit.text().strip()
            sample = Event(kind="case.new", acquire_event="case.new", case_id="5121", account="your-account")
            url = conversation_url(template, sample, account or None)
            own = "" if account or "{account}" not in template else " ({account}: each case's own account)"
            self.preview_label.setText(f"Case #5121 opens {url}{own}" if url else
                                       "This address cannot be opened: check the template.")

    @Slot()
    def _on_test(self) -> None:
        self.test_button.setEnabled(False)
        self.test_result.setStyleSheet("")
        self.test_result.setText("Testing…")
        self.test_requested.emit("")

    @Slot()
    def _on_test_alert(self) -> None:
        self.test_alert_button.setEnabled(False)
        self.test_result.setStyleSheet("")
        self.test_result.setText("Asking your team's alert server for a test alert…")
        self.test_alert_requested.emit()

    def accept(self) -> None:
        if self.problems():
            return
        self.values_accepted.emit(self.values())
        super().accept()
