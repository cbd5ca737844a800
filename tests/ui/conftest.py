"""pytest-qt set-up for the widget tests: offscreen, and Qt warnings fail the test."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tests.ui.qt_messages import fail_on_qt_warnings  # noqa: F401 - autouse: Qt warnings fail the tests
from trayapp.core.event import Event, ReceivedEvent


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
