"""Untrusted text made safe to show: the one place that does it, where the event is derived.

Every string in an Acquire payload was typed by an anonymous website visitor. :func:`display` makes one such string
safe for every display surface (native notifications over D-Bus, SQLite, JSON frames, Qt widgets, terminals):

- UTF-16 surrogates that do not form a pair (``\\ud800`` -- what ``JSON.stringify`` writes for half an emoji) become
  U+FFFD; a high + low pair held as two code points becomes the one character it stands for;
- C0 controls (NUL included), DEL and C1 controls are removed -- except that a multi-line field keeps tab and newline
  (CR LF, CR and U+2028/U+2029 become a newline); a single-line field turns tab, newlines and U+2028/U+2029 into a
  space and is stripped;
- bidi embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069) are removed, so a name cannot reverse the
  text shown after it; Unicode noncharacters become U+FFFD;
- the length is capped (in code points): a longer value keeps ``cap - 1`` characters and ends with "…".

An empty result is ``None`` (the UI then shows its own words, e.g. "a visitor"). Markup is *not* touched here: it is
plain text, and every display surface shows it as plain text (the UI's job). The signed webhook body is never
changed; what is shown is derived from it by these rules (:func:`trayapp.core.acquire.normalise` applies them to every
field of the :class:`~trayapp.core.event.Event`).
"""

from __future__ import annotations

import re
from typing import Final

#: Display caps, in code points, per :class:`~trayapp.core.event.Event` field. ``MULTILINE`` fields keep tab/newline.
CAPS: Final[dict[str, int]] = {
    "kind": 32,
    "acquire_event": 100,
    "status": 32,
    "case_id": 100,
    "title": 300,
    "contact_name": 120,
    "channel": 60,
    "agent_name": 120,
    "account": 100,
    "text": 1000,
    "agent_id": 100,
    "department": 120,
}
MULTILINE: Final = frozenset({"text"})
ELLIPSIS: Final = "…"

# Noncharacters: U+FDD0-U+FDEF and the last two code points of every plane.
_NONCHARACTERS: Final = "\ufdd0-\ufdef" + "".join(chr(plane | 0xFFFE) + chr(plane | 0xFFFF)
                                                 for plane in range(0, 0x110000, 0x10000))
# Anything the slow path has to look at; text without any of these (and short enough) is returned as it is.
_UNSAFE: Final = re.compile(f"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029\ud800-\udfff{_NONCHARACTERS}]")
_REMOVE: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_NONCHARACTER: Final = re.compile(f"[{_NONCHARACTERS}]")
_NEWLINES: Final = re.compile("\r\n?|[\u2028\u2029]")
_SPACES: Final = re.compile("[\t\n\r\u2028\u2029]+")


def well_formed(text: str) -> str:
    """``text`` with surrogate pairs joined and every lone surrogate replaced by U+FFFD (always UTF-8 encodable)."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def display(value: str | None, cap: int, *, multiline: bool = False) -> str | None:
    """``value`` made safe to show (see the module doc); ``None`` when nothing is left."""
    if value is None:
        return None
    if len(value) <= cap and not _UNSAFE.search(value):
        return value.strip() or None
    text = well_formed(value)
    text = _NONCHARACTER.sub("\ufffd", text)
    text = _REMOVE.sub("", text)
    text = (_NEWLINES.sub("\n", text) if multiline else _SPACES.sub(" ", text)).strip()
    if len(text) > cap:
        text = text[: cap - 1].rstrip() + ELLIPSIS
    return text or None


def field(name: str, value: str | None) -> str | None:
    """:func:`display` with the cap and line rule of the :class:`~trayapp.core.event.Event` field ``name``."""
    return display(value, CAPS[name], multiline=name in MULTILINE)
