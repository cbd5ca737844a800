"""Untrusted text made safe to show (``trayapp/core/text.py``), and applied to every event field where it is derived."""

from __future__ import annotations

import json
import sqlite3

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trayapp.core import text
from trayapp.core.acquire import parse_body
from trayapp.core.event import Event

SURROGATES = st.integers(0xD800, 0xDFFF).map(chr)
ANY_TEXT = st.lists(st.one_of(st.characters(), SURROGATES, st.sampled_from("\x00\t\n\r\x85\u202e\u2066\u2028\ufffe")),
                    max_size=400).map("".join)


@pytest.mark.parametrize(
    ("value", "cap", "multiline", "expected"),
    [
        (None, 10, False, None),
        ("Maria", 10, False, "Maria"),
        ("  Maria \t", 10, False, "Maria"),
        ("", 10, False, None),
        ("\x00\x01\x7f", 10, False, None),
        ("Ma\x00ria", 10, False, "Maria"),  # NUL: dbus-daemon drops the connection that sends it
        ("half \ud83d emoji", 20, False, "half \ufffd emoji"),  # JSON.stringify's half an emoji
        ("\ud83d\ude00 pair", 20, False, "\U0001f600 pair"),  # a pair held as two code points is one character
        ("\udc00\ud800", 20, False, "\ufffd\ufffd"),  # low before high: no pair
        ("a\u202egnp.exe", 20, False, "agnp.exe"),  # RTL override
        ("a\u2066b\u2067c\u2068d\u2069e\u202a\u202b\u202c\u202d", 20, False, "abcde"),  # isolates, embeddings
        ("c1\x80\x85\x9fok", 20, False, "c1ok"),  # C1 controls (NEL included)
        ("line\nbreak\r\nand\ttab\u2028sep", 40, False, "line break and tab sep"),
        ("line\nbreak\r\nand\ttab\u2028sep\rcr", 40, True, "line\nbreak\nand\ttab\nsep\ncr"),
        ("bell\x07 and\x1b[31m escape", 40, True, "bell and[31m escape"),
        ("x" * 11, 10, False, "x" * 9 + "…"),
        ("x" * 10, 10, False, "x" * 10),
        ("word " * 5, 10, False, "word word…"),  # no dangling space before the ellipsis
        ("\U0001f600" * 11, 10, False, "\U0001f600" * 9 + "…"),  # capped in characters, never splitting one
        ("non\ufffe\uffff\U0010ffff\ufdd0char", 20, False, "non\ufffd\ufffd\ufffd\ufffdchar"),
        ("<b>markup</b> <img src=x onerror=alert(1)>", 60, False, "<b>markup</b> <img src=x onerror=alert(1)>"),
        ("Zoë 日本語 👩‍💻 ok", 20, False, "Zoë 日本語 👩‍💻 ok"),  # ZWJ sequences stay
    ],
)
def test_display(value: str | None, cap: int, multiline: bool, expected: str | None) -> None:
    assert text.display(value, cap, multiline=multiline) == expected


@given(ANY_TEXT, st.integers(1, 300), st.booleans())
def test_display_output_is_always_safe(value: str, cap: int, multiline: bool) -> None:
    out = text.display(value, cap, multiline=multiline)
    if out is None:
        return
    out.encode("utf-8")  # no lone surrogates: D-Bus, SQLite and JSON all take it
    assert len(out) <= cap
    allowed = "\t\n" if multiline else ""
    assert not any((ord(c) < 0x20 and c not in allowed) or 0x7F <= ord(c) <= 0x9F for c in out)
    assert not any(c in out for c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u2028\u2029\r")
    assert out == out.strip()
    assert text.display(out, cap, multiline=multiline) == out  # idempotent
    db = sqlite3.connect(":memory:")
    db.execute("SELECT ?", (out,))


@given(st.text(st.characters(exclude_categories=("Cc", "Cs", "Cf", "Zl", "Zp", "Cn")), max_size=100))
def test_text_that_needs_nothing_comes_back_unchanged(value: str) -> None:
    assert text.display(value, 100) == (value.strip() or None)


def hostile_payload(value: str) -> str:
    """A v2 case whose every displayed field is ``value``; lone surrogates as JSON.stringify writes them."""
    return json.dumps({"event": value, "account_id": value, "data": {
        "case": {"id": value, "title": value, "channel": value, "status": "pending", "department": value,
                 "contact": {"name": value}},
        "agent": {"name": value, "id": value}, "message": {"msg": value}}})


@pytest.mark.parametrize("value", ["\ud800", "\x00NUL", "\u202eevil", "x" * 10_000, "\x1b[2J\x07", "<img src=x>"])
def test_every_derived_field_is_safe(value: str) -> None:
    event = parse_body(hostile_payload(value))
    for name, cap in text.CAPS.items():
        shown = getattr(event, name)
        if shown is None:
            continue
        assert shown == text.field(name, shown), name
        assert len(shown) <= cap and "\x00" not in shown and "\u202e" not in shown, name
        shown.encode("utf-8")
    assert set(text.CAPS) == {f for f in Event.__dataclass_fields__ if f != "extra"}


def test_chat_message_keeps_its_lines() -> None:
    body = json.dumps({"event": "chat.message", "data": {"case": {"id": 1}, "message": {"msg": "hi\r\nthere\x00"}}})
    assert parse_body(body).text == "hi\nthere"
