"""A real history database with many varied rows, for the paging / counts / search tests (tests/client, tests/ui)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from trayapp.client.history import FILE_NAME, History
from trayapp.core.event import Event, ReceivedEvent

_BASE = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
_NAMES = ("Maria Lopez", "Jürgen Straße", "ÖZTÜRK Ayşe", "Li Wei", "Kelvin \u212a", "Ann_O%Brien", None)
_KINDS = (
    ("case.new", "case.new", "pending"),
    ("chat.status", "chat.status.pending", "pending"),
    ("chat.status", "chat.status.queue", "queue"),
    ("chat.status", "chat.status.active", "active"),
    ("chat.status", "chat.status.closed", "closed"),
    ("chat.status", "chat.status.transferred", "transferred"),  # not a notify key: "other"
    ("chat.message", "chat.message", None),
    ("agent.status", "agent.status", "online"),
    ("case.assigned", "case.assigned", None),  # an "other" event
)


def event_at(i: int) -> ReceivedEvent:
    """The ``i``-th stored event (0 = oldest): id ``h-<i>``, case ``<100000 + i>``, title ``Question <i>``."""
    kind, acquire, status = _KINDS[i % len(_KINDS)]
    event = Event(
        kind=kind, acquire_event=acquire, status=status, case_id=str(100_000 + i), title=f"Question {i}",
        contact_name=_NAMES[i % len(_NAMES)], channel=("chat", "email", "WhatsApp")[i % 3],
        agent_name="Ada" if i % 5 == 0 else None, account="acme", text="Gruß" if i % 11 == 0 else None,
    )
    when = (_BASE + timedelta(seconds=i)).isoformat().replace("+00:00", "Z")
    return ReceivedEvent(seq=i + 1, id=f"h-{i}", received_at=when, body='{"signed":true}', event=event)


def fill(path: Path, count: int, *, unread_every: int = 7) -> None:
    """``count`` events through ``History.add``; every ``unread_every``-th one (and the newest 10) stay unread."""
    with History(path) as history:
        for i in range(count):
            history.add(event_at(i), "epoch-1")
        read = [f"h-{i}" for i in range(count - 10) if i % unread_every]
        history.mark_read(read)


def unread_in(count: int, *, unread_every: int = 7) -> int:
    return sum(1 for i in range(count) if i >= count - 10 or i % unread_every == 0)


def copy_data_dir(source: Path, target: Path) -> Path:
    """A fresh data dir holding a copy of the history file ``source``."""
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target / FILE_NAME)
    return target
