"""Events and history rows for tests: ``make_event(seq, kind, status, **fields)``, ``make_row(seq, read, ...)``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from trayapp.core.event import Event, ReceivedEvent
from trayapp.model.rows import HistoryRow

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


def make_row(seq: int, read: bool = False, **kwargs: object) -> HistoryRow:
    return HistoryRow(make_event(seq, **kwargs), read)  # type: ignore[arg-type]
