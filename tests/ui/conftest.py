"""pytest-qt set-up for the widget tests: offscreen, and Qt warnings fail the test."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from PySide6.QtCore import QtMsgType, qInstallMessageHandler

from trayapp.core.event import Event, ReceivedEvent

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


@dataclass(frozen=True)
class Row:
    """Stands in for ``client.history.HistoryRow`` (same attributes)."""

    event: ReceivedEvent
    read: bool = False


_BASE = datetime(2026, 11, 23, 9, 58, 1, tzinfo=UTC)


def make_event(seq: int, kind: str = "case.new", status: str | None = "pending", **fields: object) -> ReceivedEvent:
    defaults: dict[str, object] = {
        "case_id": str(5000 + seq),
        "contact_name": f"Contact {seq}",
        "channel": "chat",
        "title": f"Question {seq}",
        "account": "acme",
    }
    defaults.update(fields)
    event = Event(kind=kind, acquire_event=kind if kind != "chat.status" else f"chat.status.{status}",
                  status=status, **defaults)  # type: ignore[arg-type]
    when = (_BASE + timedelta(seconds=seq)).isoformat().replace("+00:00", "Z")
    return ReceivedEvent(seq=seq, id=f"evt-{seq}", received_at=when, body="{}", event=event)


def make_row(seq: int, read: bool = False, **kwargs: object) -> Row:
    return Row(make_event(seq, **kwargs), read)  # type: ignore[arg-type]
