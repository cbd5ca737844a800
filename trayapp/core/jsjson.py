"""JavaScript's ``JSON.parse`` and ``JSON.stringify``, reproduced exactly.

Acquire signs ``JSON.stringify(payload)``; its verification sample re-serialises the parsed request
body the same way. To check such a signature we must write, byte for byte, what JavaScript writes:

- every number is an IEEE double, printed by ``Number.prototype.toString`` (``5.0`` → ``5``,
  ``1e21`` → ``1e+21``, ``-0`` → ``0``, integers past 2**53 rounded, overflow → ``null``);
- object keys that are array indices (``"0"`` … ``"4294967294"``) come first, in ascending order,
  then the other keys in insertion order; a repeated key keeps its first place and its last value;
- strings escape ``"`` ``\\`` and control characters (``\\b \\f \\n \\r \\t``, the rest as ``\\u00xx``)
  and lone surrogates (``\\udxxx``); everything else is written as is, non-ASCII included.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Final

from .errors import BadPayload

MAX_DEPTH: Final = 512

_ARRAY_INDEX_MAX: Final = 2**32 - 2
_SURROGATE_RE: Final = re.compile("\\\\u[dD][89a-fA-F]|[\ud800-\udfff]")
_ESCAPE_RE: Final = re.compile('[\\x00-\\x1f"\\\\\ud800-\udfff]')
_SHORT_ESCAPES: Final = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}


def _reject_constant(name: str) -> Any:
    raise BadPayload(f"not JSON: {name} is not a JSON value")


def nesting_depth(value: Any, limit: int | None = None) -> int:
    """How deeply arrays and objects nest in a parsed value (a scalar is 0).

    Stops counting once ``limit`` is exceeded. Iterative: deep values cannot exhaust the stack.
    """
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            depth += 1
            if depth > deepest:
                deepest = depth
                if limit is not None and deepest > limit:
                    return deepest
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth) for child in children if isinstance(child, dict | list))
    return deepest


def parse(text: str, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON as ``JSON.parse`` does; numbers become floats, as in JavaScript.

    Raises :class:`BadPayload` for text that is not JSON or nests deeper than ``max_depth``.
    """
    too_deep = f"JSON nested deeper than {max_depth} levels"
    try:
        value = json.loads(text, parse_int=float, parse_float=float, parse_constant=_reject_constant)
    except RecursionError:
        raise BadPayload(too_deep) from None
    except BadPayload:
        raise
    except ValueError as exc:
        raise BadPayload(f"not JSON: {exc}") from None
    if nesting_depth(value, max_depth) > max_depth:
        raise BadPayload(too_deep)
    return value


def format_number(value: float) -> str:
    """``Number.prototype.toString()`` for a finite double (JSON writes non-finite as ``null``)."""
    value = float(value)
    if not math.isfinite(value):
        return "null"
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    # repr() gives the shortest digits that round-trip, like ECMAScript's Number::toString.
    mantissa, _, exponent = repr(abs(value)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    if fraction == "0":
        fraction = ""
    digits = (whole + fraction).lstrip("0")
    # value = 0.digits × 10**point  (point is ECMAScript's "n")
    point = int(exponent) if exponent else 0
    if whole == "0":
        point -= len(fraction) - len(fraction.lstrip("0"))
    else:
        point += len(whole)
    digits = digits.rstrip("0")
    k = len(digits)
    if k <= point <= 21:
        return sign + digits + "0" * (point - k)
    if 0 < point <= 21:
        return sign + digits[:point] + "." + digits[point:]
    if -6 < point <= 0:
        return sign + "0." + "0" * (-point) + digits
    exp = point - 1
    exp_text = ("+" if exp >= 0 else "-") + str(abs(exp))
    if k == 1:
        return sign + digits + "e" + exp_text
    return sign + digits[0] + "." + digits[1:] + "e" + exp_text


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    short = _SHORT_ESCAPES.get(char)
    return short if short is not None else f"\\u{ord(char):04x}"


def quote(text: str) -> str:
    """A JSON string literal exactly as ``JSON.stringify`` writes it."""
    return '"' + _ESCAPE_RE.sub(_escape_char, text) + '"'


def _is_array_index(key: str) -> bool:
    return key.isdigit() and key.isascii() and (key == "0" or key[0] != "0") and int(key) <= _ARRAY_INDEX_MAX


def _ordered_keys(obj: dict[str, Any]) -> list[str]:
    indices = [key for key in obj if _is_array_index(key)]
    if not indices:
        return list(obj)
    indices.sort(key=int)
    return indices + [key for key in obj if not _is_array_index(key)]


def stringify(value: Any) -> str:
    """``JSON.stringify(value)`` for a value made by :func:`parse` (dicts, lists, str, float, bool, None)."""
    parts: list[str] = []
    # An explicit stack: deep values must not hit Python's recursion limit.
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, _Token):
            parts.append(item.text)
        elif isinstance(item, str):
            parts.append(quote(item))
        elif item is None:
            parts.append("null")
        elif item is True:
            parts.append("true")
        elif item is False:
            parts.append("false")
        elif isinstance(item, int | float):
            parts.append(format_number(float(item)))
        elif isinstance(item, dict):
            keys = _ordered_keys(item)
            pending: list[Any] = [_CLOSE_OBJECT]
            for index in range(len(keys) - 1, -1, -1):
                key = keys[index]
                pending.append(item[key])
                pending.append(_Token(("," if index else "") + quote(key) + ":"))
            parts.append("{")
            stack.extend(pending)
        elif isinstance(item, list):
            pending = [_CLOSE_ARRAY]
            for index in range(len(item) - 1, -1, -1):
                pending.append(item[index])
                if index:
                    pending.append(_COMMA)
            parts.append("[")
            stack.extend(pending)
        else:
            raise TypeError(f"cannot stringify {type(item).__name__}")
    return "".join(parts)


class _Token:
    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


_CLOSE_OBJECT: Final = _Token("}")
_CLOSE_ARRAY: Final = _Token("]")
_COMMA: Final = _Token(",")


class _Unusual(Exception):
    """A body the C ``json`` module would not serialise as JavaScript does."""


def _unusual(_text: str) -> Any:
    raise _Unusual


def _plain_int(text: str) -> int:
    if len(text.lstrip("-")) > 15:  # past 2**53 JavaScript rounds
        raise _Unusual
    return int(text)


def _plain_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    for key, _ in pairs:
        if key.isdigit():  # possibly an array index, which JavaScript orders first
            raise _Unusual
    return dict(pairs)


def _fast_canonical(text: str, max_depth: int) -> tuple[Any, str] | None:
    """The common case in C: no floats, no integers past 2**53, no digit-only keys, no surrogates.

    For exactly such text, ``json.dumps(..., ensure_ascii=False, separators=(",", ":"))`` writes what
    JavaScript writes (same escapes, integers in decimal, a repeated key at its first place with its
    last value). Anything else answers ``None`` and takes the exact path.
    """
    if text.count("{") + text.count("[") > max_depth or _SURROGATE_RE.search(text):
        return None
    try:
        value = json.loads(
            text, parse_float=_unusual, parse_int=_plain_int, parse_constant=_unusual, object_pairs_hook=_plain_object
        )
    except (_Unusual, ValueError, RecursionError):
        return None
    return value, json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def parse_canonical(text: str, max_depth: int = MAX_DEPTH) -> tuple[Any, str]:
    """``(JSON.parse(text), JSON.stringify(JSON.parse(text)))``, taking the fast C path when it is exact.

    Numbers in the value are ``int`` on the fast path and ``float`` on the exact one. Raises
    :class:`BadPayload` like :func:`parse`.
    """
    fast = _fast_canonical(text, max_depth)
    if fast is not None:
        return fast
    value = parse(text, max_depth)
    return value, stringify(value)


def decode_utf8(body: bytes) -> str:
    """The body as text; :class:`BadPayload` if it is not valid UTF-8."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadPayload(f"body is not valid UTF-8 (byte {exc.start})") from None


def canonical(body: bytes, max_depth: int = MAX_DEPTH) -> str:
    """``JSON.stringify(JSON.parse(body))``: the form Acquire's signature covers."""
    return parse_canonical(decode_utf8(body), max_depth)[1]
