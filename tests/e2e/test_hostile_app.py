"""The hostile corpus end to end (lone surrogates included: the core cleans them where the event is derived): a real
bridge process, the real client and the whole app with dunst. After each hostile event the next event is stored and
pops up, and no popup, list cell or tooltip renders markup. Leaves a screenshot of a hostile popup and a list tooltip
in $ARTIFACTS/hostile-popup-and-tooltip.png."""

from __future__ import annotations

import copy
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtWidgets import QToolTip

from tests.e2e.conftest import displayed, dunstctl, history
from tests.ui.hostile import HOSTILE, has_forbidden
from trayapp.bridge.simulator import post
from trayapp.ui.list_model import Column
from trayapp.ui.plain import BODY_CHARS, markup_escaped

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("clean_dunst")]

# Markup first: those popups are at the top of the screenshot.
ORDER = ("link", "heading", "image", "table", "entities", "rtl-override", "nul", "c0-c1", "newlines", "long",
         "lone-surrogate")
CORPUS = {name: HOSTILE[name] for name in ORDER}
assert set(CORPUS) == set(HOSTILE)


def case(sample: dict[str, Any], case_id: int, text: str) -> dict[str, Any]:
    payload = copy.deepcopy(json.loads(sample["body"]))
    payload["data"]["case"].update(id=case_id, threadId=case_id, title=text)
    payload["data"]["case"]["contact"]["name"] = text
    return payload


def test_hostile_events_pop_up_plain_and_every_later_event_still_pops(
        bridge: dict[str, Any], tmp_path: Path, qtbot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAYAPP_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("TRAYAPP_DATA_DIR", str(tmp_path / "data"))
    from trayapp.model.connection import ConnectionState
    from trayapp.settings import Settings
    from trayapp.ui.app import TrayApp
    from trayapp.ui.client_service import ClientService
    from trayapp.ui.notify.freedesktop import FreedesktopNotifier

    settings = Settings(account_id="acme", burst_size=0, sound_enabled=False)  # one popup per event, silent
    client = ClientService(settings, data_dir=tmp_path / "data")
    app = TrayApp(client, settings, save_settings=lambda _s: None)
    problems: list[str] = []
    try:
        assert isinstance(app.notifier, FreedesktopNotifier)
        app.notifier.failed.connect(problems.append)
        app.notifier.not_shown.connect(lambda n, reason: problems.append(reason))
        app.start()
        app.use_link(bridge["link"])  # shown in the link dialog: Connect proves it, then it is stored
        assert app._first_run is not None
        app._first_run.connect_button.click()
        qtbot.waitUntil(lambda: app.tray.state is ConnectionState.CONNECTED, timeout=20_000)
        if app._first_run is not None:
            app._first_run.reject()

        secret, sample = bridge["sample"]["secret"], bridge["sample"]
        case_id = 7000
        ids: dict[str, int] = {}
        for name, text in CORPUS.items():
            ids[name] = case_id
            for payload in (case(sample, case_id, text), case(sample, case_id + 1, f"after {name}")):
                status, answer = post(bridge["url"], secret, payload)
                assert status == 200, answer
            case_id += 2
            expected = case_id - 7000
            qtbot.waitUntil(lambda n=expected: app.model.total == n and displayed() == n, timeout=15_000)
        assert problems == [] and app.warning_text() == ""

        for row in range(app.model.rowCount()):
            for column in Column:
                index = app.model.index(row, column)
                assert not has_forbidden(app.model.data(index, Qt.ItemDataRole.DisplayRole) or "")

        # A screenshot: the hostile popups on screen and the tooltip of the <h1>/<img>/<table> rows in the list.
        app.show_list()
        window = app.window
        qtbot.waitExposed(window)
        window.move(520, 40)
        window.resize(900, 560)
        view = window.table
        target = next(r for r in range(app.model.rowCount())
                      if "<table>" in (app.model.received(r).event.title or ""))
        proxy_index = view.model().index(target, Column.TITLE)
        view.scrollTo(proxy_index)
        tip = view.model().data(proxy_index, Qt.ItemDataRole.ToolTipRole)
        # (the title column is beyond the right edge of the 1024-pixel screen: the tooltip goes where it shows)
        window.raise_()
        window.activateWindow()
        qtbot.waitUntil(window.isActiveWindow, timeout=5_000)  # Qt hides a tooltip of an inactive window
        QToolTip.showText(QPoint(560, 360), tip, view, QRect(), 20_000)  # no rect: the mouse is elsewhere
        qtbot.waitUntil(QToolTip.isVisible, timeout=5_000)
        qtbot.wait(600)  # let dunst and the tooltip paint
        assert QToolTip.isVisible() and QToolTip.text() == tip
        artifacts = os.environ.get("ARTIFACTS", str(tmp_path))
        subprocess.run(["import", "-window", "root", os.path.join(artifacts, "hostile-popup-and-tooltip.png")],
                       check=True, timeout=30)
        QToolTip.hideText()

        dunstctl("close-all")
        qtbot.waitUntil(lambda: displayed() == 0, timeout=10_000)
        popups = history()
        for name in CORPUS:
            popup = next(p for p in popups if p["summary"].startswith(f"New case #{ids[name]} —"))
            assert not has_forbidden(popup["summary"] + popup["body"]), name
            shown = next(app.model.received(r).event for r in range(app.model.rowCount())
                         if app.model.received(r).event.case_id == str(ids[name]))  # as the core derived it
            assert popup["body"] == markup_escaped(f"chat · {shown.title}", BODY_CHARS), f"{name}: sent escaped"
    finally:
        app.quit()
