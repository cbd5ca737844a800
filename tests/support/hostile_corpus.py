"""The hostile-content corpus: what an anonymous website visitor can type, as signed Acquire webhooks.

For every test that drives hostile text through the bridge, the client or the UI (import it, or use the ``hostile``
fixture of ``tests/conftest.py``)::

    from tests.support.hostile_corpus import HOSTILE_STRINGS, corpus, inflating_bodies

- :data:`HOSTILE_STRINGS`: ``(label, text)`` -- lone surrogates, NUL, C0/C1 controls, escape sequences, bidi
  overrides and isolates, line separators, 10,000-character names, markup and ``<img>``, noncharacters, ...
- :func:`corpus`: one :class:`HostileCase` per string and payload shape -- Acquire v2 (``data.case`` ...) and v1
  (``users`` / ``message`` as JSON-encoded strings) with the string in **every displayed field** (account, case id,
  title, channel, contact, agent, department, message; and as the event name), written as ``JSON.stringify`` writes
  it (lone surrogates as ``\\udxxx`` escapes, everything else raw UTF-8) -- plus :func:`inflating_bodies`.
- :func:`inflating_bodies`: bodies of exactly ``max_body`` bytes that grow when escaped for a frame (quotes,
  backslashes, whitespace, ``\\u`` escapes, emoji that ``ensure_ascii`` would triple).

Each case's body is unique (a ``n`` marker), so none is deduplicated away; :func:`signed` gives body + headers.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from trayapp.core import wire
from trayapp.core.signature import hmac_hex

DEFAULT_MAX_BODY: Final = 1 << 20

HOSTILE_STRINGS: Final[list[tuple[str, str]]] = [
    ("lone high surrogate", "\ud800"),
    ("lone low surrogate", "Ann \udfff"),
    ("half an emoji", "Zoë \ud83d"),
    ("swapped surrogate pair", "\ude00\ud83d"),
    ("NUL", "Ma\x00ria"),
    ("C0 controls", "".join(map(chr, range(1, 32)))),
    ("C1 controls", "c1" + "".join(map(chr, range(0x80, 0xA0)))),
    ("terminal escapes", "\x1b[2J\x1b]0;pwned\x07\x7fname"),
    ("RTL override", "\u202egnp.exe"),
    ("bidi isolates and embeddings", "a\u2066b\u2067c\u2068d\u2069e\u202a\u202b\u202c\u202d"),
    ("line separators", "one\u2028two\u2029three"),
    ("newlines and tabs", "line1\nline2\r\nline3\tend"),
    ("10,000-character name", "N" * 10_000),
    ("10,000 emoji", "\U0001f600" * 10_000),
    ("markup", "<b>bold</b> <i>it</i> <a href='https://evil.example/'>click me</a>"),
    ("img", '<img src="https://evil.example/x.png" onerror="alert(1)">'),
    ("html heading and table", "<h1>URGENT</h1><table><tr><td>x</td></tr></table>"),
    ("entities", "&lt;b&gt; &amp; &#x202e; &nbsp;"),
    ("noncharacters", "no\ufffe\uffff\U0010ffff\ufdd0n"),
    ("zero width and BOM", "\u200b\u200c\u200d\ufeffzw"),
    ("quotes and backslashes", "\"'\\\\\"\\"),
    ("combining marks", "Z\u0334\u0321\u031b\u0316a\u0338\u0354l\u0336g\u0337o" * 50),
    ("url tricks", "%00%0a../../etc/passwd?x=1#frag"),
    ("empty", ""),
    ("only spaces", "   \t  "),
]


@dataclass(frozen=True, slots=True)
class HostileCase:
    label: str
    body: str  # the webhook body (valid UTF-8 JSON text)

    def signed(self, secret: str) -> tuple[bytes, dict[str, str]]:
        return signed(self.body, secret)


def signed(body: str, secret: str) -> tuple[bytes, dict[str, str]]:
    raw = body.encode("utf-8")
    return raw, {"content-type": "application/json", "x-acquire-signature": hmac_hex(secret, raw)}


def stringify(payload: Any) -> str:
    """As ``JSON.stringify`` writes it: raw UTF-8, lone surrogates as ``\\udxxx`` escapes."""
    return wire.dumps(payload)


def v2_payload(value: str, n: int) -> dict[str, Any]:
    return {
        "event": "case.new",
        "account_id": value,
        "n": n,
        "data": {
            "case": {"id": f"{value}{n}", "title": value, "channel": value, "status": "pending",
                     "department": {"name": value}, "contact": {"name": value}},
            "agent": {"name": value, "id": value},
            "message": {"msg": value},
        },
    }


def v2_chat_message(value: str, n: int) -> dict[str, Any]:
    return {"event": "chat.message", "account_id": "acme", "n": n,
            "data": {"case": {"id": n, "title": value, "contact": {"name": value}}, "message": {"msg": value}}}


def v1_payload(value: str, n: int) -> dict[str, Any]:
    users = {"agent": {"name": value, "email": value}, "visitor": {"name": value, "email": value}}
    message = {"msg": value, "user": {"type": "visitor", "name": value}}
    return {"id": f"{value}{n}", "event": "CHAT_ON_MESSAGE", "account_id": value, "status": value,
            "department": value, "users": stringify(users), "message": stringify(message), "by": value}


def named_event(value: str, n: int) -> dict[str, Any]:
    """The string as the event name (an unknown name is kind "other": still stored, delivered and listed)."""
    return {"event": value, "account_id": "acme", "n": n, "data": {"case": {"id": n, "title": value}}}


SHAPES: Final[dict[str, Callable[[str, int], dict[str, Any]]]] = {
    "v2 case": v2_payload,
    "event name": named_event,
    "v2 chat message": v2_chat_message,
    "v1 chat message": v1_payload,
}


def _exactly(max_body: int, make: Callable[[int], str]) -> str:
    """``make(k)`` for the largest ``k`` whose UTF-8 fits ``max_body``, padded with JSON whitespace to exactly it."""
    low, high = 0, max_body
    while low < high:
        mid = (low + high + 1) // 2
        if len(make(mid).encode()) <= max_body:
            low = mid
        else:
            high = mid - 1
    body = make(low)
    return body + " " * (max_body - len(body.encode()))


def _message(filler: str) -> Callable[[int], str]:
    """A chat message whose JSON text repeats ``filler`` (already JSON-escaped) ``k`` times."""
    return lambda k: '{"event":"chat.message","account_id":"acme","data":{"case":{"id":"big"},"message":{"msg":"' \
                     + filler * k + '"}}}'


def inflating_bodies(max_body: int = DEFAULT_MAX_BODY) -> list[HostileCase]:
    """Bodies of exactly ``max_body`` bytes that grow when a frame escapes them (each one must still be delivered)."""
    return [
        HostileCase("max-body of escaped quotes", _exactly(max_body, _message('\\"'))),
        HostileCase("max-body of escaped backslashes", _exactly(max_body, _message("\\\\"))),
        HostileCase("max-body of \\u0001 escapes", _exactly(max_body, _message("\\u0001"))),
        HostileCase("max-body of lone-surrogate escapes", _exactly(max_body, _message("\\ud800"))),
        HostileCase("max-body of emoji", _exactly(max_body, _message("\U0001f600"))),
        HostileCase("max-body of newlines between tokens",
                    _exactly(max_body, lambda k: '{"event":"case.new",' + "\n" * k + '"data":{"case":{"id":"nl"}}}')),
    ]


def corpus(max_body: int = DEFAULT_MAX_BODY, *, inflating: bool = True) -> list[HostileCase]:
    """Every hostile string in every payload shape, then (unless ``inflating=False``) the max-body bodies."""
    cases: list[HostileCase] = []
    n = 0
    for label, value in HOSTILE_STRINGS:
        for shape, make in SHAPES.items():
            n += 1
            cases.append(HostileCase(f"{shape}: {label}", stringify(make(value, n))))
    if inflating:
        cases.extend(inflating_bodies(max_body))
    return cases


def normal_case(n: int) -> str:
    """A plain, well-behaved new case (the event that must still arrive after each hostile one)."""
    return json.dumps({"event": "case.new", "account_id": "acme", "data": {"case": {
        "id": f"ok-{n}", "title": f"Order {n}", "channel": "chat", "status": "pending",
        "contact": {"name": f"Visitor {n}"}}}}, separators=(",", ":"))
