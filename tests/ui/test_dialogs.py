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
    assert dialog.bridge_label.text() == "bridge.example.com"  # agent words; the address is under Advanced
    assert dialog.address_label.text() == "https://bridge.example.com"
    assert dialog.tabs.indexOf(dialog.advanced_page) == 2
    for widget in (dialog.template_edit, dialog.account_edit, dialog.log_combo):
        assert dialog.advanced_page.isAncestorOf(widget)  # admin fields are not on the agent's General page
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
    dialog.template_edit.setText("https://{account}.acquire.io/inbox/case/{case_id}")
    assert dialog.preview_label.text() == ("Case #5121 opens https://your-account.acquire.io/inbox/case/5121 "
                                           "({account}: each case's own account)")


def test_settings_dialog_login_and_test(qtbot) -> None:
    dialog = SettingsDialog(SettingsValues(), login_problem="comes with packaging")
    qtbot.addWidget(dialog)
    assert not dialog.login_box.isEnabled()
    assert "comes with packaging" in dialog.login_note.text()
    with qtbot.waitSignal(dialog.test_requested) as test:
        dialog.test_button.click()
    assert test.args == [""]
    assert not dialog.test_button.isEnabled()
    dialog.show_test_result(False, "Your team's alert server does not accept this link", "HTTP 401")
    assert dialog.test_button.isEnabled()
    assert "does not accept" in dialog.test_result.text()
    assert dialog.details_text.isHidden()
    dialog.details_button.click()
    assert "HTTP 401" in dialog.details_text.toPlainText()
    with qtbot.waitSignal(dialog.test_alert_requested):
        dialog.test_alert_button.click()
    with qtbot.waitSignal(dialog.new_link_requested):
        dialog.new_link_button.click()
    dialog.set_link_actions(new_link=False, test_alert=False, why="not in the demo")
    assert not dialog.new_link_button.isEnabled() and dialog.new_link_button.toolTip() == "not in the demo"


def test_link_dialog_checks_before_anything_is_saved(qtbot) -> None:
    dialog = FirstRunDialog()
    qtbot.addWidget(dialog)
    assert not dialog.connect_button.isEnabled()
    dialog.link_edit.setText("hello")
    assert "not a trayapp connection link" in dialog.message_label.text()
    assert not dialog.connect_button.isEnabled()
    dialog.link_edit.setText(LINK)
    assert dialog.connect_button.isEnabled()
    assert dialog.change_label.isHidden()  # nothing set up yet: nothing changes
    with qtbot.waitSignal(dialog.prove_requested) as proving:
        dialog.connect_button.click()
    assert proving.args == [LINK]
    assert "Connecting to bridge.example.com" in dialog.message_label.text()
    assert not dialog.connect_button.isEnabled() and dialog.busy
    dialog.show_result(False, "Your team's alert server (bridge.example.com) cannot be reached right now.",
                       "cannot reach bridge.example.com: connection refused", retry_helps=True)
    assert dialog.connect_button.text() == "&Retry" and dialog.connect_button.isEnabled()
    assert not dialog.save_anyway_button.isHidden()
    assert "connection refused" not in dialog.message_label.text()  # the technical reason is behind Details
    dialog.details_button.click()
    assert "connection refused" in dialog.details_text.toPlainText()
    with qtbot.waitSignal(dialog.save_requested) as saving:
        dialog.save_anyway_button.click()
    assert saving.args == [LINK]
    dialog.show_result(False, "This link does not match your team's alert server — ask your admin for a new link.",
                       "not signed with the link's key", retry_helps=False)
    assert dialog.save_anyway_button.isHidden()  # saving a wrong key helps nobody


def test_link_dialog_names_what_a_link_changes(qtbot) -> None:
    from trayapp.ui.first_run import LinkMode

    other = "ed25519:" + "B" * 43 + "="
    dialog = FirstRunDialog(LinkMode.FROM_OUTSIDE, f"trayapp://connect?url=https://evil.example.net&token=t&key={other}",
                            "https://bridge.example.com", KEY)
    qtbot.addWidget(dialog)
    assert dialog.windowTitle() == "Use this link?"
    words = dialog.change_label.text()
    assert "Alerts now come from bridge.example.com" in words and "evil.example.net" in words
    assert "a different signing key" in words
    assert dialog.link_edit.echoMode() is not dialog.link_edit.EchoMode.Normal  # the token is not on screen
    dialog.link_edit.setText(LINK.replace("t0k", "new"))
    assert "the alert server you use now, with the same signing key" in dialog.change_label.text()


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


def test_the_spin_boxes_are_built_from_the_settings_declarations(qtbot) -> None:
    from trayapp import settings as settings_mod

    dialog = SettingsDialog(SettingsValues())
    qtbot.addWidget(dialog)
    for name, spin in (("retention_days", dialog.retention_spin), ("realert_interval_s", dialog.realert_spin),
                       ("realert_max", dialog.realert_max_spin), ("offline_alarm_s", dialog.offline_spin),
                       ("burst_size", dialog.burst_size_spin), ("burst_window_s", dialog.burst_window_spin)):
        limit = settings_mod.bounds(name)
        assert (spin.minimum(), spin.maximum(), spin.suffix(), spin.accessibleName()) == (
            limit.low, limit.high, limit.unit, limit.description), name
    volume = settings_mod.bounds("sound_volume")
    assert (dialog.volume_slider.minimum(), dialog.volume_slider.maximum()) == (volume.low, volume.high)
