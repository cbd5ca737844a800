"""Words for events: labels of the notify keys, list labels and notification title/body.

A *notify key* (defined in :mod:`trayapp.settings`: ``"case.new"``, ``"chat.status/pending"``, ...)
names one kind of event an agent can switch notifications on or off for. The settings store the
enabled keys; the list's kind filter uses the same keys.
"""

from __future__ import annotations

from typing import Final

from trayapp.core.event import Event
from trayapp.settings import DEFAULT_NOTIFY, NOTIFY_CHOICES

_LABELS: Final = {
    "case.new": "New case",
    "chat.status/pending": "Chat pending",
    "chat.status/queue": "Chat in queue",
    "chat.status/active": "Chat active",
    "chat.status/closed": "Chat closed",
    "chat.message": "Chat message",
    "agent.status": "Agent status",
    "other": "Other event",
}

#: Every notify key, in the order the settings dialog and the filter show them, with its label.
NOTIFY_KEYS: Final[dict[str, str]] = {key: _LABELS.get(key, key) for key in NOTIFY_CHOICES}

__all__ = ["DEFAULT_NOTIFY", "NOTIFY_KEYS", "case_label", "event_key", "kind_label", "notification_text"]

_CHAT_STATUS_PHRASE: Final = {
    "pending": "is waiting",
    "queue": "is in the queue",
    "active": "is now active",
    "closed": "was closed",
}


def event_key(event: Event) -> str:
    """The notify key of an event (see :data:`NOTIFY_KEYS`)."""
    if event.kind == "case.new":
        return "case.new"
    if event.kind == "chat.status":
        key = f"chat.status/{event.status}"
        return key if key in NOTIFY_KEYS else "other"
    if event.kind in ("chat.message", "agent.status"):
        return event.kind
    return "other"


def kind_label(event: Event) -> str:
    """The list's kind/status column: short words, e.g. ``Chat in queue``."""
    key = event_key(event)
    if key == "agent.status" and event.status:
        return f"Agent {event.status}"
    if key == "other":
        return event.acquire_event or "Other event"
    return NOTIFY_KEYS[key]


def case_label(event: Event) -> str:
    """``#5121`` or an empty string."""
    return f"#{event.case_id}" if event.case_id else ""


def _with_contact(head: str, event: Event) -> str:
    return f"{head} — {event.contact_name}" if event.contact_name else head


def notification_text(event: Event) -> tuple[str, str]:
    """Title and body an agent understands at a glance.

    >>> notification_text(Event(kind="case.new", acquire_event="case.new", case_id="5121",
    ...                         contact_name="Maria Lopez", channel="chat", title="Chat with visitor"))
    ('New case #5121 — Maria Lopez', 'chat · Chat with visitor')
    """
    case = f" #{event.case_id}" if event.case_id else ""
    details = [part for part in (event.channel, event.title) if part]
    if event.kind == "case.new":
        title = _with_contact(f"New case{case}", event)
    elif event.kind == "chat.status":
        phrase = _CHAT_STATUS_PHRASE.get(event.status or "", f"is {event.status or 'updated'}")
        title = _with_contact(f"Chat{case} {phrase}", event)
        if event.agent_name:
            details.append(f"agent {event.agent_name}")
    elif event.kind == "chat.message":
        title = _with_contact(f"New message in chat{case}", event)
        details = [event.text] if event.text else details
    elif event.kind == "agent.status":
        who = event.agent_name or event.agent_id or "An agent"
        title = f"{who} is now {event.status or 'updated'}"
        details = [event.department] if event.department else []
    else:
        title = _with_contact(f"Acquire: {event.acquire_event}{case}", event)
    return title, " · ".join(details)
