"""Setup an agent can trust, end to end: every failure says what is wrong and what to do, the moment it happens.

Everything real but the browser: ``trayapp-bridge serve`` processes, the real client, gnome-keyring, the tray in
xfce4-panel, dunst for popups, a real second launch through the single-instance channel. Each test asserts the
state, the words on screen and the popups that dunst shows (or that none was shown), not only log lines.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Bridges, displayed, dunstctl, history, post_webhook
from trayapp import settings as settings_mod
from trayapp.client import credentials
from trayapp.client.connect import save_link
from trayapp.core.link import build_link
from trayapp.core.words import KEY_MISMATCH_WORDS, REVOKED_WORDS
from trayapp.model.connection import ConnectionState
from trayapp.settings import Settings
from trayapp.ui.app import TrayApp
from trayapp.ui.client_service import ClientService
from trayapp.ui.icons import TrayLook

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("clean_dunst")]


class Clock:
    """The presenter's clock: now, plus what the test moved it on by."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now().astimezone() + self.offset


@pytest.fixture
def make_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., TrayApp]]:
    monkeypatch.setenv("TRAYAPP_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("TRAYAPP_DATA_DIR", str(tmp_path / "data"))
    made: list[TrayApp] = []

    def make(link: str | None = None, **kwargs: Any) -> TrayApp:
        settings = save_link(link) if link else Settings()  # a configured app: token in gnome-keyring
        app = TrayApp(ClientService(settings, data_dir=tmp_path / "data"), settings, **kwargs)
        made.append(app)
        app.start()
        return app

    yield make
    for app in made:
        app.quit()


def popups_since(before: set[Any], qtbot: Any, count: int = 1) -> list[dict[str, Any]]:
    """The popups dunst showed since ``before`` (ids of its history), newest first, once ``count`` are on screen."""
    qtbot.waitUntil(lambda: displayed() >= count, timeout=20_000)
    dunstctl("close-all")
    return [p for p in history() if p["id"] not in before]


def seen() -> set[Any]:
    return {p["id"] for p in history()}


def dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def tried_first_run(app: TrayApp, link: str, qtbot: Any) -> Any:
    """The first-run dialog after *Connect* with ``link`` has failed (it offers *Retry*)."""
    dialog = app._first_run
    assert dialog is not None
    dialog.link_edit.setText(link)
    dialog.connect_button.click()
    qtbot.waitUntil(lambda: dialog.connect_button.text() == "&Retry", timeout=20_000)
    return dialog


def test_wrong_key_link_is_never_connected(bridges: Bridges, make_app: Callable[..., TrayApp], qtbot: Any,
                                           tmp_path: Path) -> None:
    ours, theirs = bridges.start(), bridges.start()
    wrong = build_link(ours["url"], ours["token"], theirs["key"])
    before = seen()

    # First run: the dialog connects, the signed hello does not verify with the link's key: nothing is stored.
    app = make_app()
    dialog = tried_first_run(app, wrong, qtbot)
    assert dialog.message_label.text() == KEY_MISMATCH_WORDS
    assert dialog.save_anyway_button.isHidden()  # saving a wrong key helps nobody
    assert not (tmp_path / "config" / "settings.json").exists()
    assert credentials.load_token(ours["url"]) is None
    assert app.tray.state is not ConnectionState.CONNECTED and displayed() == 0
    app.quit()

    # An app already set up with that wrong key: error state (red octagon), the popup at once, never "connected".
    save_link(build_link(ours["url"], ours["token"], ours["key"]))
    settings_mod.save(settings_mod.load().replace(key=theirs["key"]))
    app = make_app(None)
    app.settings = settings_mod.load()
    app.client.apply_settings(app.settings)
    qtbot.waitUntil(lambda: app.tray.look is TrayLook.ERROR, timeout=20_000)
    shown = popups_since(before, qtbot)
    assert [p["summary"] for p in shown] == [KEY_MISMATCH_WORDS]
    assert "New link" in shown[0]["body"]
    assert KEY_MISMATCH_WORDS in app.tray.tooltip() and "Connected" not in app.tray.tooltip()
    assert KEY_MISMATCH_WORDS in app.window.state_label.accessibleDescription()


def test_revoked_token_is_told_at_once(bridges: Bridges, make_app: Callable[..., TrayApp], qtbot: Any) -> None:
    bridge = bridges.start()
    clock = Clock()
    app = make_app(bridge["link"], clock=clock)
    qtbot.waitUntil(lambda: app.tray.state is ConnectionState.CONNECTED, timeout=20_000)
    before = seen()
    bridges.cli(bridge["data"], "token", "revoke", "e2e")
    qtbot.waitUntil(lambda: app.tray.look is TrayLook.ERROR, timeout=10_000)  # 4001 within a second
    shown = popups_since(before, qtbot)
    assert [p["summary"] for p in shown] == [REVOKED_WORDS]
    assert REVOKED_WORDS in app.tray.tooltip()
    # Minutes later: no "Not receiving case alerts … check your network" — the network is fine.
    clock.offset = timedelta(minutes=5)
    app.presenter.tick()
    assert displayed() == 0
    assert "network" not in " ".join(p["body"] for p in history() if p["id"] not in before)


def test_unreachable_bridge_offers_retry_and_save_anyway(make_app: Callable[..., TrayApp], qtbot: Any,
                                                         tmp_path: Path) -> None:
    url = dead_url()
    link = build_link(url, "tb_" + "u" * 43, "ed25519:" + "A" * 43 + "=")
    app = make_app()
    dialog = tried_first_run(app, link, qtbot)
    assert "cannot be reached right now" in dialog.message_label.text()
    assert "refused" not in dialog.message_label.text()  # the technical reason is behind Details
    dialog.details_button.click()
    assert "cannot reach" in dialog.details_text.toPlainText()
    assert not dialog.save_anyway_button.isHidden()
    assert not (tmp_path / "config" / "settings.json").exists()  # nothing was stored
    dialog.connect_button.click()  # Retry: same answer, still nothing stored
    qtbot.waitUntil(lambda: not dialog.busy and "cannot be reached" in dialog.message_label.text(), timeout=20_000)
    assert not (tmp_path / "config" / "settings.json").exists()
    dialog.save_anyway_button.click()  # the admin has it down on purpose
    qtbot.waitUntil(lambda: app._first_run is None, timeout=10_000)
    assert settings_mod.load().bridge_url == url
    qtbot.waitUntil(lambda: app.tray.state is ConnectionState.OFFLINE, timeout=20_000)
    assert "Offline — not receiving alerts" in app.tray.tooltip() and displayed() == 0


def second_launch(qtbot: Any, *argv: str) -> tuple[int, str]:
    """A real second launch (``trayapp LINK``, as the URL handler runs it): hands its argv to the running app,
    whose event loop (this test's) answers it; (exit code, stderr)."""
    code = "import sys; from trayapp.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen([sys.executable, "-c", code, *argv], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    try:
        qtbot.waitUntil(lambda: proc.poll() is not None, timeout=60_000)
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err


@pytest.fixture
def instance(qapp: Any) -> Iterator[Any]:
    from trayapp.ui.single_instance import SingleInstance, server_name

    listener = SingleInstance(server_name(""))
    assert listener.listen()
    yield listener
    listener.close()


def test_garbage_link_from_outside_is_explained(bridges: Bridges, make_app: Callable[..., TrayApp], qtbot: Any,
                                                instance: Any, caplog: pytest.LogCaptureFixture) -> None:
    bridge = bridges.start()
    app = make_app(bridge["link"], instance=instance)
    qtbot.waitUntil(lambda: app.tray.state is ConnectionState.CONNECTED, timeout=20_000)
    code, err = second_launch(qtbot, "trayapp://connect?url=https://alerts.example.com&token=tb_secret_garbage")
    assert code == 0 and "already running" in err
    qtbot.waitUntil(lambda: app.links.notice is not None and app.links.notice.isVisible(), timeout=10_000)
    notice = app.links.notice
    assert notice.windowTitle() == "This link cannot be used"
    assert "nothing was changed" in notice.text() and "Ask your admin" in notice.text()
    assert "no key" in notice.detailedText()
    assert "link from outside rejected" in caplog.text and "tb_secret_garbage" not in caplog.text
    assert app.tray.state is ConnectionState.CONNECTED and app._first_run is None and displayed() == 0
    notice.close()


def test_second_launch_with_another_link_waits_for_the_agent(bridges: Bridges, make_app: Callable[..., TrayApp],
                                                             qtbot: Any, instance: Any) -> None:
    ours, other = bridges.start(), bridges.start()
    app = make_app(ours["link"], instance=instance)
    qtbot.waitUntil(lambda: app.tray.state is ConnectionState.CONNECTED, timeout=20_000)
    assert second_launch(qtbot, other["link"])[0] == 0
    qtbot.waitUntil(lambda: app._first_run is not None, timeout=10_000)
    dialog = app._first_run
    assert dialog is not None and dialog.windowTitle() == "Use this link?"
    assert "different signing key" in dialog.change_label.text()
    assert other["token"] not in dialog.link_edit.displayText()  # the secret is not on screen

    # Nobody confirms: the app keeps its connection, its settings and its token; alerts keep coming.
    before = seen()
    assert post_webhook(ours["url"], ours["sample"]) == 200
    shown = popups_since(before, qtbot)
    assert shown[0]["summary"] == "New case #5121 — Maria Lopez"
    assert settings_mod.load().bridge_url == ours["url"] and app.settings.bridge_url == ours["url"]
    assert credentials.load_token(ours["url"]) == ours["token"]

    # The agent confirms: the new link proves itself, then it is stored and the old token goes.
    dialog.connect_button.click()
    qtbot.waitUntil(lambda: app._first_run is None, timeout=20_000)
    assert settings_mod.load().bridge_url == other["url"]
    assert credentials.load_token(ours["url"]) is None
    qtbot.waitUntil(lambda: app.tray.state is ConnectionState.CONNECTED and app.client.status.detail.endswith(
        other["url"].split("//")[1]), timeout=20_000)


def test_send_me_a_test_alert(bridges: Bridges, make_app: Callable[..., TrayApp], qtbot: Any) -> None:
    bridge = bridges.start()
    app = make_app(bridge["link"])
    qtbot.waitUntil(lambda: app.tray.state is ConnectionState.CONNECTED, timeout=20_000)
    app.show_settings()
    dialog = app._settings_dialog
    assert dialog is not None
    before = seen()
    dialog.test_alert_button.click()
    shown = popups_since(before, qtbot)
    assert [p["summary"] for p in shown] == ["Test alert — alerts reach you"]
    qtbot.waitUntil(lambda: "arrived" in dialog.test_result.text(), timeout=10_000)
    assert dialog.test_result.text() == "✔ The test alert arrived: alerts reach this computer."
    assert app.model.total == 0  # not an event: not in the list, not stored
