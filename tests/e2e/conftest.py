"""End-to-end tests: they need the desktop session that ``tests/e2e/run-e2e.sh`` provides.

Outside it they skip with the reason; with ``TRAYAPP_REQUIRE_SERVICES=1`` they fail instead.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import skip_or_fail
from tests.support.bridges import FIXTURE_WINDOW
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


FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "acquire" / "v2-case-new.json"
BIN = Path(sys.executable).parent / "trayapp-bridge"
READY = re.compile(r"^trayapp-bridge listening on (https?://\S+)$")


class Bridges:
    """Real ``trayapp-bridge serve`` processes on loopback ports, each with one token (``start()`` -> a dict with
    ``url``, ``sample``, ``name``, ``token``, ``link``, ``key`` and ``data``); all stopped at the end."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.procs: list[subprocess.Popen[str]] = []
        self.sample = json.loads(FIXTURE.read_text(encoding="utf-8"))
        self.env = {**os.environ, "ACQUIRE_WEBHOOK_SECRET": self.sample["secret"]}

    def start(self, *args: str) -> dict[str, Any]:
        data = self.tmp_path / f"bridge{len(self.procs)}"
        # The sample's own event time is 2026-11-23: a replay window (= retention) reaching back that far accepts it.
        proc = subprocess.Popen([str(BIN), "serve", "--port", "0", "--data-dir", str(data), *FIXTURE_WINDOW, *args],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=self.env)
        self.procs.append(proc)
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line.strip()) for line in proc.stdout or []], daemon=True).start()
        match = READY.match(lines.get(timeout=30))
        assert match, "the bridge did not announce its address"
        url = match.group(1)
        out = self.cli(data, "token", "add", "e2e", "--url", url, "--json")
        return {"url": url, "sample": self.sample, "data": data, **json.loads(out.stdout)}

    def cli(self, data: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(BIN), *args, "--data-dir", str(data)], capture_output=True, text=True, check=True,
                              env=self.env, timeout=60)

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
            proc.wait(timeout=10)
            if proc.stdout is not None:
                proc.stdout.close()


@pytest.fixture
def bridges(tmp_path: Path) -> Iterator[Bridges]:
    made = Bridges(tmp_path)
    try:
        yield made
    finally:
        made.stop()


@pytest.fixture
def bridge(bridges: Bridges) -> dict[str, Any]:
    return bridges.start()


def post_webhook(url: str, sample: dict[str, Any]) -> int:
    request = urllib.request.Request(url + "/webhooks/acquire", data=sample["body"].encode(),
                                     headers=sample["headers"], method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(response.status)
