"""Qt warnings fail tests: a message handler and an autouse-able fixture (no environment changes here)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import QtMsgType, qInstallMessageHandler

#: Messages the offscreen platform prints that say nothing about our code.
ALLOWED_QT_MESSAGES = (
    "This plugin does not support propagateSizeHints()",
    "This plugin does not support raise()",
    "This plugin does not support grabbing the keyboard",
    "QSystemTrayIcon::setVisible: No Icon set",
)

_qt_problems: list[str] = []


def _handler(kind: QtMsgType, context: object, message: str) -> None:
    serious = kind in (QtMsgType.QtWarningMsg, QtMsgType.QtCriticalMsg, QtMsgType.QtFatalMsg)
    if serious and not any(allowed in message for allowed in ALLOWED_QT_MESSAGES):
        _qt_problems.append(f"{kind.name}: {message}")


@pytest.fixture(autouse=True)
def fail_on_qt_warnings() -> Iterator[None]:
    previous = qInstallMessageHandler(_handler)
    _qt_problems.clear()
    yield
    qInstallMessageHandler(previous)
    problems, _qt_problems[:] = list(_qt_problems), []
    if problems:
        pytest.fail("Qt warned:\n" + "\n".join(problems))
