"""The normalised event: what an Acquire webhook means to an agent."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Final

KINDS: Final = ("case.new", "chat.status", "chat.message", "agent.status", "other")
CHAT_STATUSES: Final = ("pending", "active", "queue", "closed")
AGENT_STATUSES: Final = ("available", "unavailable")


@dataclass(frozen=True, slots=True)
class Event:
    """One Acquire webhook, normalised.

    ``kind`` is one of :data:`KINDS`; ``status`` is one of :data:`CHAT_STATUSES` (chats and new
    cases) or :data:`AGENT_STATUSES` (agents), else ``None``. ``case_id`` is the id as sent,
    numbers written in decimal. The other fields are ``None`` when the payload does not carry them.
    """

    kind: str
    acquire_event: str
    status: str | None = None
    case_id: str | None = None
    title: str | None = None
    contact_name: str | None = None
    channel: str | None = None
    agent_name: str | None = None
    account: str | None = None
    text: str | None = None
    agent_id: str | None = None
    department: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_json(self) -> dict[str, Any]:
        """The wire form: every field, ``None`` included, except the empty ``extra``."""
        out = asdict(self)
        if not out["extra"]:
            del out["extra"]
        return out


@dataclass(frozen=True, slots=True)
class ReceivedEvent:
    """An event as the bridge delivered it: its place in the stream plus the signed webhook body."""

    seq: int
    id: str
    received_at: str
    body: str
    event: Event
