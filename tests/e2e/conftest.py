"""End-to-end tests: they need the desktop session that ``tests/e2e/run-e2e.sh`` provides.

Outside it they skip with the reason; with ``TRAYAPP_REQUIRE_SERVICES=1`` they fail instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Any

import pytest

from tests.support import skip_or_fail
from tests.ui.qt_messages import fail_on_qt_warnings  # noqa: F401 - autouse: Qt warnings fail tests


def _missing() -> str | None:
    if not os.environ.get("DISPLAY"):
        return "no DISPLAY: run through tests/e2e/run-e2e.sh (Xvfb + D-Bus + dunst + tray host)"
    if not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        return "no DBUS_SESSION_BUS_ADDRESS: run through tests/e2e/run-e2e.sh"
    if not shutil.which("dunstctl"):
        return "dunstctl is missing (apt install dunst)"
    if os.environ.get("QT_QPA_PLATFORM", "xcb") != "xcb":
        return "QT_QPA_PLATFORM is not xcb: run through tests/e2e/run-e2e.sh"
    return None


@pytest.fixture(autouse=True)
def desktop_session(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("e2e") is None:
        return
    reason = _missing()
    if reason:
        skip_or_fail(reason)


def dunstctl(*args: str) -> str:
    return subprocess.run(["dunstctl", *args], capture_output=True, text=True, check=True, timeout=10).stdout


def displayed() -> int:
    return int(dunstctl("count", "displayed").strip() or 0)


def history() -> list[dict[str, Any]]:
    """Closed notifications, newest first: ``[{"summary": ..., "body": ..., "appname": ..., "id": ...}]``."""
    data = json.loads(dunstctl("history"))
    return [{key: value.get("data") for key, value in item.items()} for item in data["data"][0]]


@pytest.fixture
def clean_dunst() -> None:
    dunstctl("close-all")
