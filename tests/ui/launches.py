"""A second launch of the app, as another process, for the single-instance tests."""

from __future__ import annotations

import subprocess
import sys
from typing import Any


def second_launch(qtbot: Any, name: str, argv: list[str]) -> int:
    """Run ``send_to_running(argv, name)`` in a new process (the event loop here keeps serving); its exit code:
    0 when a running instance took the arguments, 3 when not."""
    code = ("import sys\nfrom PySide6.QtCore import QCoreApplication\n"
            "from trayapp.ui.single_instance import send_to_running\n"
            "app = QCoreApplication([])\n"
            f"sys.exit(0 if send_to_running({argv!r}, {name!r}) else 3)\n")
    proc = subprocess.Popen([sys.executable, "-c", code])
    qtbot.waitUntil(lambda: proc.poll() is not None, timeout=20_000)
    return int(proc.returncode)
