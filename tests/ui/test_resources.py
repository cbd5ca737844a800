from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from trayapp.resources import resource_path

ROOT = Path(__file__).resolve().parents[2]
NAMES = ("app-icon.svg", "tray-connected.svg", "tray-connecting.svg", "tray-offline.svg", "tray-error.svg",
         "tray-dnd.svg")


def test_every_icon_is_found_in_the_checkout() -> None:
    for name in NAMES:
        assert resource_path(name).is_file()


def test_icons_are_found_in_an_installed_layout(tmp_path: Path) -> None:
    """As in the wheel / bundle: resources/ packaged as trayapp.assets, no source tree beside it."""
    shutil.copytree(ROOT / "trayapp", tmp_path / "trayapp", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "resources", tmp_path / "trayapp" / "assets")
    code = "from trayapp.resources import resource_path; print(resource_path('tray-dnd.svg'))"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                         env={"PYTHONPATH": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(tmp_path / "trayapp" / "assets" / "tray-dnd.svg")
