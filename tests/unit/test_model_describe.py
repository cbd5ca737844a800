from __future__ import annotations

import pytest

from trayapp.core.event import Event
from trayapp.model.describe import DEFAULT_NOTIFY, NOTIFY_KEYS, event_key, kind_label, notification_text


def ev(kind: str, status: str | None = None, **kw: str) -> Event:
    return Event(kind=kind, acquire_event=kind, status=status, **kw)  # type: ignore[arg-type]


def test_defaults_cover_the_issue() -> None:
    waiting = {"case.new", "chat.status/pending", "chat.status/queue", "chat.status/active", "chat.status/closed"}
    assert waiting == DEFAULT_NOTIFY
    assert NOTIFY_KEYS.keys() >= DEFAULT_NOTIFY


@pytest.mark.parametrize(("event", "key"), [
    (ev("case.new", "pending"), "case.new"),
    (ev("chat.status", "queue"), "chat.status/queue"),
    (ev("chat.status", "weird"), "other"),
    (ev("chat.message"), "chat.message"),
    (ev("agent.status", "available"), "agent.status"),
    (ev("other"), "other"),
])
def test_event_key(event: Event, key: str) -> None:
    assert event_key(event) == key


def test_new_case_text() -> None:
    title, body = notification_text(ev("case.new", "pending", case_id="5121", contact_name="Maria Lopez",
                                       channel="chat", title="Chat with visitor"))
    assert title == "New case #5121 — Maria Lopez"
    assert body == "chat · Chat with visitor"


def test_chat_status_text() -> None:
    title, body = notification_text(ev("chat.status", "active", case_id="5123", contact_name="John Deo",
                                       agent_name="Alice"))
    assert title == "Chat #5123 is now active — John Deo"
    assert body == "agent Alice"
    assert notification_text(ev("chat.status", "queue", case_id="7"))[0] == "Chat #7 is in the queue"
    assert notification_text(ev("chat.status", "closed", case_id="7"))[0] == "Chat #7 was closed"


def test_other_texts() -> None:
    assert notification_text(ev("chat.message", case_id="9", text="hello?"))[1] == "hello?"
    assert notification_text(ev("agent.status", "available", agent_name="Bob"))[0] == "Bob is now available"
    assert kind_label(ev("agent.status", "unavailable")) == "Agent unavailable"
    assert kind_label(Event(kind="other", acquire_event="ticket.merged")) == "ticket.merged"
