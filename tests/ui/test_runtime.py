"""The Qt runtime itself: a guard for a crash found while measuring the list with 100k rows.

PySide6 6.12.0 returns ``None`` from every ``void`` method and ``True`` from ``signal.emit()`` without taking a
reference (no ``Py_INCREF``). From Python 3.12 on both are immortal and that is harmless; on Python 3.11 each call
eats one reference until the interpreter aborts with "Fatal Python error: none_dealloc" / "bool_dealloc" — after a
few hundred to a few thousand calls. The app must run on Python >= 3.12 (or on a PySide6 without the bug);
``trayapp.ui.qt_compat`` keeps it alive meanwhile.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

CODE = """
from PySide6.QtCore import QCoreApplication, QObject, QTimer, Signal
class Sender(QObject):
    ping = Signal(int)
app = QCoreApplication([])
timer = QTimer()
sender = Sender()
sender.ping.connect(lambda _n: None)
for _ in range(300_000):
    timer.stop()          # a void method: returns None
    sender.ping.emit(1)   # emit() returns True
print("survived")
"""


@pytest.mark.xfail(sys.version_info < (3, 12), strict=True,
                   reason="PySide6 6.12.0 drops references to None/True: fatal on Python 3.11")
def test_void_qt_calls_do_not_exhaust_none() -> None:
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "survived" in out.stdout, out.stderr[-500:]


GUARDED = """
from trayapp.ui.qt_compat import guard_none_refcount
guard_none_refcount()
""" + CODE


def test_the_guard_keeps_the_app_alive() -> None:
    out = subprocess.run([sys.executable, "-c", GUARDED], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "survived" in out.stdout, out.stderr[-500:]
