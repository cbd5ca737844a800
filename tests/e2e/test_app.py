"""The whole app in a real desktop session: a real ``trayapp-bridge serve`` process, the real client, the tray under
xcb in xfce4-panel, dunst for popups, gnome-keyring for the token. Only the browser is faked (setUrlHandler)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QObject, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices

from tests.e2e.conftest import displayed, dunstctl, history, post_webhook

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("clean_dunst")]

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "acquire" / "v2-case-new.json"
BIN = Path(sys.executable).parent / "trayapp-bridge"
READY = re.compile(r"^trayapp-bridge listening on (https?://\S+)$")


class Browser(QObject):
    opened = Signal(str)

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.opened.emit(url.toString())


def sni_items() -> list[str]:
    out = subprocess.run(
        ["dbus-send", "--session", "--print-reply", "--dest=org.kde.StatusNotifierWatcher", "/StatusNotifierWatcher",
         "org.freedesktop.DBus.Properties.Get", "string:org.kde.StatusNotifierWatcher",
         "string:RegisteredStatusNotifierItems"], capture_output=True, text=True, timeout=10).stdout
    return re.findall(r'string "([^"]+)"', out)


def test_webhook_to_popup_to_conversation(bridge: dict[str, Any], tmp_path: Path, qtbot,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAYAPP_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("TRAYAPP_DATA_DIR", str(tmp_path / "data"))
    from trayapp.model.connection import ConnectionState
    from trayapp.settings import Settings
    from trayapp.ui.app import TrayApp
    from trayapp.ui.client_service import ClientService
    from trayapp.ui.notify.freedesktop import FreedesktopNotifier

    browser = Browser()
    QDesktopServices.setUrlHandler("https", browser, "open")
    settings = Settings(account_id="acme")
    client = ClientService(settings, data_dir=tmp_path / "data")
    app = TrayApp(client, settings)
    try:
        assert app.tray.available, "xfce4-panel's tray should be found"
        assert isinstance(app.notifier, FreedesktopNotifier)
        app.start()
        qtbot.waitUntil(lambda: len(sni_items()) == 1, timeout=10_000)  # the icon is in the panel

        # The first-run path: a pasted link; its token goes to the (gnome-)keyring, the client connects.
        assert app._first_run is not None
        app._first_run.link_edit.setText(bridge["link"])
        app._first_run.accept()
        qtbot.waitUntil(lambda: app.tray.state is ConnectionState.CONNECTED, timeout=20_000)
        assert (tmp_path / "config" / "settings.json").is_file()
        assert bridge["token"] not in (tmp_path / "config" / "settings.json").read_text()

        assert post_webhook(bridge["url"], bridge["sample"]) in (200, 202)
        qtbot.waitUntil(lambda: app.model.total == 1 and displayed() == 1, timeout=15_000)
        assert app.model.unread_count == 1
        assert "1 unread" in app.tray.tooltip()

        with qtbot.waitSignal(browser.opened, timeout=10_000) as opened:
            dunstctl("action", "0")  # what a click on the popup does
        assert opened.args == ["https://acme.acquire.io/inbox/case/5121"]
        qtbot.waitUntil(lambda: displayed() == 0, timeout=10_000)
        assert history()[0]["summary"] == "New case #5121 — Maria Lopez"
        qtbot.waitUntil(lambda: app.model.unread_count == 0, timeout=5_000)

        # A click on the tray icon opens the list (Activate on the StatusNotifierItem, as the panel does).
        service = sni_items()[0]
        bus_name, _, path = service.partition("/")
        activate = subprocess.Popen(["dbus-send", "--session", "--type=method_call", f"--dest={bus_name}",
                          "/" + (path or "StatusNotifierItem"), "org.kde.StatusNotifierItem.Activate",
                          "int32:0", "int32:0"])
        qtbot.waitUntil(lambda: app.window.isVisible(), timeout=10_000)
        qtbot.waitUntil(lambda: activate.poll() is not None, timeout=10_000)
        app.window.grab().save(os.path.join(os.environ.get("ARTIFACTS", str(tmp_path)), "e2e-list.png"))
    finally:
        app.quit()
        QDesktopServices.unsetUrlHandler("https")
