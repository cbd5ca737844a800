"""Acquire webhook payload → :class:`~trayapp.core.event.Event`.

Event names are matched ignoring case and the separators ``. _ -`` and space. The name → kind/status
table is data (:class:`EventTable`) that an admin can extend without code. The status comes from the
event name when the table gives one, else from the payload. Unknown names become kind ``other``.

Field sources — v2 (a top-level ``data`` object): ``case_id`` = ``data.case.id``; status from
``data.case.status`` (chats, new cases) or ``data.agent.status`` (agents); ``title`` / ``channel`` /
``contact_name`` from ``data.case``; ``agent_name`` = ``data.agent.name``; ``account`` = ``account_id``.
Every text field is made safe to show by :func:`trayapp.core.text.field` (lone surrogates, controls, bidi overrides,
length caps) -- here, where the event is derived, for the bridge and the app alike.
v1 (no ``data``): ``case_id`` = ``id``; ``status`` = ``status``; names from the JSON-encoded ``users``
(visitor / agent), ``user.name`` and ``message.user.name``; chat messages carry ``text`` = ``message.msg``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from . import text
from .errors import BadPayload
from .event import AGENT_STATUSES, CHAT_STATUSES, KINDS, Event
from .jsonobj import load_object

_SEPARATORS: Final = re.compile(r"[._\- ]+")
_STATUS_KINDS: Final = {"chat.status": CHAT_STATUSES, "case.new": CHAT_STATUSES, "agent.status": AGENT_STATUSES}


def match_key(name: str) -> str:
    """The form event names are compared in: lower case, separators ``. _ -`` and space removed."""
    return _SEPARATORS.sub("", name).lower()


@dataclass(frozen=True, slots=True)
class Rule:
    kind: str
    status: str | None = None


def _default_rules() -> dict[str, Rule]:
    rules: dict[str, Rule] = {
        "case.new": Rule("case.new"),
        "chat.status": Rule("chat.status"),
        "chat.message": Rule("chat.message"),
        "agent.status": Rule("agent.status"),
        "agent.status.changed": Rule("agent.status"),
        "CHAT_ON_START": Rule("chat.status", "pending"),
        "CHAT_ON_ACCEPT": Rule("chat.status", "active"),
        "CHAT_ON_CLOSE": Rule("chat.status", "closed"),
        "CHAT_ON_MESSAGE": Rule("chat.message"),
    }
    for status in CHAT_STATUSES:
        rules[f"chat.status.{status}"] = Rule("chat.status", status)
    for status in AGENT_STATUSES:
        rules[f"agent.status.{status}"] = Rule("agent.status", status)
    return rules


class EventTable:
    """Event name → (kind, status). ``EventTable.default()`` holds the built-in names."""

    def __init__(self, rules: Mapping[str, Rule]) -> None:
        self._rules = {match_key(name): rule for name, rule in rules.items()}
        self.names = dict(rules)

    @classmethod
    def default(cls) -> EventTable:
        return cls(_default_rules())

    def extended(self, mapping: Mapping[str, Any]) -> EventTable:
        """A copy with more names: ``{"case.reopened": "chat.status/pending", "x": {"kind": "other"}}``.

        Raises :class:`BadPayload` (a config error at the edges) for an unknown kind or status.
        """
        rules = dict(self.names)
        for name, spec in mapping.items():
            if isinstance(spec, str):
                kind, _, status_text = spec.partition("/")
                status: str | None = status_text or None
            elif isinstance(spec, Mapping):
                kind, status = spec.get("kind", ""), spec.get("status")
            else:
                raise BadPayload(f"event table entry {name!r}: expected 'kind[/status]' or an object")
            if kind not in KINDS:
                raise BadPayload(f"event table entry {name!r}: unknown kind {kind!r} (one of {', '.join(KINDS)})")
            allowed = _STATUS_KINDS.get(kind, ())
            if status is not None and status not in allowed:
                raise BadPayload(f"event table entry {name!r}: status {status!r} is not one of {allowed}")
            rules[str(name)] = Rule(kind, status)
        return EventTable(rules)

    def lookup(self, name: str) -> Rule | None:
        return self._rules.get(match_key(name))


def _text(value: Any) -> str | None:
    """A display/id string: strings as sent, numbers in decimal, anything else ``None``."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 2**63 else repr(value)
    return None


def _decoded(value: Any) -> Any:
    """v1 sends some objects as JSON-encoded strings; decode those, leave the rest."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            return value
    return value


def lookup(obj: Any, *path: str) -> Any:
    """``obj[path[0]][path[1]]...``, each value JSON-decoded where v1 sent an object as a string; ``None`` where the
    path leads nowhere."""
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = _decoded(obj.get(key))
    return obj


def _status(value: Any, kind: str) -> str | None:
    text = _text(value)
    allowed = _STATUS_KINDS.get(kind, ())
    if text is None:
        return None
    status = text.strip().lower()
    return status if status in allowed else None


def _person(obj: Any, wanted: str) -> str | None:
    """The name of a v1 user object when its ``type`` is ``wanted`` (or it has no type)."""
    if not isinstance(obj, Mapping):
        return None
    user_type = obj.get("type")
    if user_type is not None and str(user_type).lower() != wanted:
        return None
    return _text(obj.get("name"))


def _v2(payload: Mapping[str, Any], kind: str, rule_status: str | None) -> dict[str, Any]:
    data = payload["data"]
    case = lookup(data, "case")
    agent = lookup(data, "agent")
    contact = lookup(case, "contact")
    status_source = lookup(agent, "status") if kind == "agent.status" else lookup(case, "status")
    departments = lookup(case, "department") or lookup(case, "departmentId") or lookup(data, "department")
    return {
        "case_id": _text(lookup(case, "id")),
        "status": rule_status or _status(status_source, kind),
        "title": _text(lookup(case, "title")),
        "channel": _text(lookup(case, "channel")),
        "contact_name": _text(lookup(contact, "name")) or _text(lookup(case, "contactName")),
        "agent_name": _text(lookup(agent, "name")),
        "agent_id": _text(lookup(agent, "id")),
        "department": _text(departments if not isinstance(departments, Mapping) else departments.get("name")),
        "text": _text(lookup(data, "message", "msg")) or _text(lookup(data, "message", "text")),
    }


def _v1(payload: Mapping[str, Any], kind: str, rule_status: str | None) -> dict[str, Any]:
    users = lookup(payload, "users")
    user = lookup(payload, "user")
    message = lookup(payload, "message")
    message_user = lookup(message, "user")
    contact = _person(lookup(users, "visitor"), "visitor") or _person(message_user, "visitor")
    agent = _person(lookup(users, "agent"), "agent") or _person(user, "agent") or _person(message_user, "agent")
    agent_id = _text(lookup(user, "id")) if _person(user, "agent") else None
    return {
        "case_id": _text(payload.get("id")),
        "status": rule_status or _status(payload.get("status"), kind),
        "contact_name": contact,
        "agent_name": agent,
        "agent_id": agent_id or _text(payload.get("by")),
        "department": _text(payload.get("department")),
        "text": _text(lookup(message, "msg")) if kind == "chat.message" else None,
    }


def normalise(payload: Mapping[str, Any], table: EventTable | None = None) -> Event:
    """The :class:`Event` an Acquire payload stands for. Never drops: unknown names are ``other``."""
    table = table or _DEFAULT
    name = _text(payload.get("event")) or ""
    rule = table.lookup(name) if name else None
    kind = rule.kind if rule else "other"
    fields = (
        _v2(payload, kind, rule.status if rule else None)
        if isinstance(payload.get("data"), Mapping)
        else (_v1(payload, kind, rule.status if rule else None))
    )
    if kind not in _STATUS_KINDS:
        fields["status"] = None
    if kind != "chat.message":
        fields["text"] = None
    fields["acquire_event"] = name
    fields["account"] = _text(payload.get("account_id"))
    safe: dict[str, Any] = {key: text.field(key, value) for key, value in fields.items()}
    return Event(kind=kind, acquire_event=safe.pop("acquire_event") or "", **safe)


def parse_body(body: str, table: EventTable | None = None) -> Event:
    """Normalise a webhook body (already verified). :class:`BadPayload` if it is not a JSON object."""
    return normalise(load_object(body, BadPayload, "body"), table)


_DEFAULT: Final = EventTable.default()
