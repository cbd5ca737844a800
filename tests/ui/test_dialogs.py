from __future__ import annotations

from PySide6.QtWidgets import QDialogButtonBox

from trayapp.settings import DEFAULT_NOTIFY, Settings
from trayapp.ui.first_run import FirstRunDialog
from trayapp.ui.settings_dialog import SettingsDialog, SettingsValues

KEY = "ed25519:" + "A" * 43 + "="
LINK = f"trayapp://connect?url=https://bridge.example.com&token=t0k&key={KEY}"


def test_settings_dialog_round_trip(qtbot) -> None:
    values = SettingsValues.from_settings(Settings(account_id="acme", retention_days=14, log_level="DEBUG"))
    dialog = SettingsDialog(values, "https://bridge.example.com")
    qtbot.addWidget(dialog)
    assert dialog.bridge_label.text() == "https://bridge.example.com"
    assert {k for k, box in dialog.notify_boxes.items() if box.isChecked()} == DEFAULT_NOTIFY
    assert dialog.values().changes() == values.changes()
    assert "Case #5121 opens https://acme.acquire.io/inbox/case/5121" in dialog.preview_label.text()
    dialog.notify_boxes["chat.status/closed"].setChecked(False)
    dialog.retention_spin.setValue(60)
    with qtbot.waitSignal(dialog.values_accepted) as accepted:
        dialog.accept()
    result = accepted.args[0]
    assert "chat.status/closed" not in result.notify
    assert result.retention_days == 60
    assert result.log_level == "DEBUG"
    assert Settings().replace(**result.changes()).retention_days == 60


def test_settings_dialog_keeps_keys_it_has_no_box_for(qtbot) -> None:
    values = SettingsValues(notify=frozenset({"case.new/pending"}))
    dialog = SettingsDialog(values)
    qtbot.addWidget(dialog)
    assert "case.new/pending" in dialog.values().notify


def test_settings_dialog_validates(qtbot) -> None:
    dialog = SettingsDialog(SettingsValues())
    qtbot.addWidget(dialog)
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    dialog.template_edit.setText("javascript:alert(1)")
    assert not ok.isEnabled()
    assert "Conversation address" in dialog.error_label.text()
    dialog.template_edit.setText("https://desk.example.com/c/{case_id}")
    assert ok.isEnabled()
    dialog.link_edit.setText("trayapp://connect?url=http://evil.example.com&token=x&key=" + KEY)
    assert not ok.isEnabled()
    assert "unencrypted" in dialog.error_label.text()
    dialog.link_edit.setText(LINK)
    assert ok.isEnabled()
    assert dialog.values().link == LINK


def test_settings_dialog_login_and_test(qtbot) -> None:
    dialog = SettingsDialog(SettingsValues(), login_problem="comes with packaging")
    qtbot.addWidget(dialog)
    assert not dialog.login_box.isEnabled()
    assert "comes with packaging" in dialog.login_note.text()
    with qtbot.waitSignal(dialog.test_requested) as test:
        dialog.test_button.click()
    assert test.args == [""]
    assert not dialog.test_button.isEnabled()
    dialog.show_test_result(False, "The bridge refused the token")
    assert dialog.test_button.isEnabled()
    assert "refused" in dialog.test_result.text()


def test_first_run_accepts_only_a_good_link(qtbot) -> None:
    dialog = FirstRunDialog()
    qtbot.addWidget(dialog)
    assert not dialog.connect_button.isEnabled()
    dialog.link_edit.setText("hello")
    assert "not a trayapp connection link" in dialog.error_label.text()
    assert not dialog.connect_button.isEnabled()
    dialog.link_edit.setText(LINK)
    assert dialog.connect_button.isEnabled()
    with qtbot.waitSignal(dialog.link_accepted) as accepted:
        dialog.connect_button.click()
    assert accepted.args == [LINK]


def test_settings_dialog_alerts_page_defaults_and_checks(qtbot) -> None:
    dialog = SettingsDialog(SettingsValues.from_settings(Settings()))
    qtbot.addWidget(dialog)
    assert dialog.values().changes() == SettingsValues.from_settings(Settings()).changes()
    assert not dialog.start_edit.isEnabled()  # working hours off: their fields are greyed
    assert not dialog.agent_edit.isEnabled()
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    dialog.working_box.setChecked(True)
    assert dialog.start_edit.isEnabled()
    for box in dialog.day_boxes:
        box.setChecked(False)
    assert not ok.isEnabled() and "working day" in dialog.error_label.text()
    dialog.day_boxes[0].setChecked(True)
    assert ok.isEnabled()
    dialog.end_edit.setTime(dialog.start_edit.time())
    assert not ok.isEnabled()
    dialog.sound_box.setChecked(False)
    assert not dialog.volume_slider.isEnabled()
