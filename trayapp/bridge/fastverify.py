"""BRIDGE-SIDE HELPER (not core): a fast path for the common webhook, falling back to ``core.signature``.

``core.signature.verify_webhook`` is the reference: it reproduces JavaScript's ``JSON.stringify(JSON.parse(body))``
in pure Python for every body (about 60 % of the bridge's CPU per webhook). Most real deliveries are simple: no
floats, no integers beyond 2**53, no array-index object keys ("0", "17"), no lone surrogates, shallow. For exactly
those, Python's C ``json.dumps(json.loads(text), ensure_ascii=False, separators=(",", ":"))`` writes the very same
text as JavaScript (same escapes: ``\\" \\\\ \\b \\f \\n \\r \\t``, other controls as lower-case ``\\u00xx``,
everything else as is; integers in decimal; first key position / last value for repeated keys).

:func:`verify` returns a :class:`~trayapp.core.signature.Verified` only when the body is such a simple JSON
object **and** a signature matches (raw bytes or that canonical text) with one of the secrets. In every other case
-- anything unusual in the body, no match, a malformed header -- it returns ``None`` and the caller runs the core
verifier, which decides and words the error. So this path can only ever accept what the core verifier accepts
(a signature over a different text could not have been made without the secret), and the differential tests in
``tests/unit/test_bridge_fastverify.py`` check that its canonical text equals core's wherever it answers.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Iterable
from typing import Any

from trayapp.core.jsjson import MAX_DEPTH
from trayapp.core.signature import Verified, hmac_hex

_SURROGATE_ESCAPE = re.compile("\\\\u[dD][89a-fA-F]|[\ud800-\udfff]")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class _Unusual(Exception):
    """The body needs the exact (core) serialiser."""


def _no_float(text: str) -> Any:
    raise _Unusual


def _int(text: str) -> int:
    if len(text.lstrip("-")) > 15:  # beyond 2**53 JavaScript rounds: let core do it
        raise _Unusual
    return int(text)


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    for key, _ in pairs:
        if key.isdigit():  # possibly an array index, which JavaScript orders first
            raise _Unusual
    return dict(pairs)


def canonical(text: str) -> tuple[Any, str] | None:
    """``(payload, JSON.stringify(JSON.parse(text)))`` for a simple body, else ``None``."""
    if text.count("{") + text.count("[") > MAX_DEPTH or _SURROGATE_ESCAPE.search(text):
        return None
    try:
        payload = json.loads(text, parse_float=_no_float, parse_int=_int, parse_constant=_no_float,
                             object_pairs_hook=_object)
    except (_Unusual, ValueError, RecursionError):
        return None
    return payload, json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def verify(body: bytes, header: str | None, secrets: Iterable[str | bytes]) -> Verified | None:
    """A successful verification of a simple, correctly signed JSON object; ``None``: ask the core verifier."""
    if not header:
        return None
    signature = header.strip().lower()
    if signature.startswith("sha256="):
        signature = signature[7:]
    if not _HEX64.match(signature):
        return None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    parsed = canonical(text)
    if parsed is None or not isinstance(parsed[0], dict):
        return None
    payload, canon = parsed
    keys = list(secrets)
    raw_ok = stringify_ok = False
    canon_bytes = canon.encode("utf-8")
    for secret in keys:  # no early exit, like core
        raw_ok |= hmac.compare_digest(hmac_hex(secret, body), signature)
        stringify_ok |= hmac.compare_digest(hmac_hex(secret, canon_bytes), signature)
    if not (raw_ok or stringify_ok):
        return None
    return Verified(payload=payload, canonical=canon, text=text, form="raw" if raw_ok else "stringify")
