"""Acquire's webhook signature: ``x-acquire-signature`` = hex HMAC-SHA256 with a shared secret.

A signature is valid if it matches the raw body bytes, or the exact JavaScript
``JSON.stringify(JSON.parse(body))`` serialisation (what Acquire's own verification sample hashes).
Every configured secret is tried (rotation), each with a constant-time compare.

Cheap checks first: the HMAC over the raw body is tried before anything is parsed, and the ``JSON.stringify``
form -- whose exact computation costs microseconds per JSON value -- is only tried for bodies whose size and shape
are bounded (:data:`STRINGIFY_MAX_BYTES`, :data:`STRINGIFY_MAX_VALUES`), so a forged body costs a few milliseconds
of CPU at most. A body Acquire signed in its raw form is parsed once it verified, whatever its size.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from . import jsjson
from .errors import BadPayload, BadSignature

HEADER: Final = "x-acquire-signature"
# The JSON.stringify form is computed only for bodies up to this size and with at most this many JSON values
# (counted from above: every ``,`` ``:`` ``[`` ``{`` and ``\\`` byte -- an escape costs about as much as a value --
# so commas and escapes inside strings count too).
STRINGIFY_MAX_BYTES: Final = 64 * 1024
STRINGIFY_MAX_VALUES: Final = 1_000


def hmac_hex(secret: str | bytes, data: str | bytes) -> str:
    """Hex HMAC-SHA256 of ``data`` (UTF-8 when text) keyed with ``secret``."""
    key = secret.encode() if isinstance(secret, str) else secret
    msg = data.encode() if isinstance(data, str) else data
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


def _matches_any(signature: str, secrets: Iterable[str | bytes], data: bytes) -> bool:
    matched = False
    for secret in secrets:
        # No early exit: every secret costs the same, whichever one matches.
        matched |= hmac.compare_digest(hmac_hex(secret, data), signature)
    return matched


@dataclass(frozen=True, slots=True)
class Verified:
    """A signed webhook: its parsed payload and canonical text (``JSON.stringify`` of it)."""

    payload: Any
    canonical: str
    text: str
    form: str  # "raw" or "stringify": which form the signature matched

    @property
    def dedupe_key(self) -> str:
        """SHA-256 hex of the canonical body's UTF-8 bytes."""
        return hashlib.sha256(self.canonical.encode("utf-8", "surrogatepass")).hexdigest()


def _clean_signature(header: str | None) -> str:
    if header is None or not header.strip():
        raise BadSignature("missing x-acquire-signature header")
    signature = header.strip().lower()
    if signature.startswith("sha256="):
        signature = signature[len("sha256=") :]
    if len(signature) != 64 or any(c not in "0123456789abcdef" for c in signature):
        raise BadSignature("x-acquire-signature is not a hex HMAC-SHA256")
    return signature


def verify_webhook(
    body: bytes, header: str | None, secrets: Iterable[str | bytes], max_depth: int = jsjson.MAX_DEPTH
) -> Verified:
    """Check a delivery; answer its parsed payload.

    Raises :class:`BadSignature` (missing or no match: HTTP 401) or, for a correctly signed body
    that is not an acceptable JSON object, :class:`BadPayload` (HTTP 400). Order: the signature is
    judged first, so an unsigned body never learns anything about our parser.
    """
    signature = _clean_signature(header)
    keys = list(secrets)
    if not keys:
        raise BadSignature("no webhook secret is configured")
    if _matches_any(signature, keys, body):
        text = jsjson.decode_utf8(body)
        payload, canonical = jsjson.parse_canonical(text, max_depth)
        return _verified(payload, canonical, text, "raw")
    if not stringify_affordable(body):
        raise BadSignature(
            f"signature does not match the body (the JSON.stringify form is only tried for bodies up to "
            f"{STRINGIFY_MAX_BYTES // 1024} KiB with at most {STRINGIFY_MAX_VALUES} values)")
    try:
        text = jsjson.decode_utf8(body)
        payload, canonical = jsjson.parse_canonical(text, max_depth)
    except BadPayload:
        raise BadSignature("signature does not match the body") from None
    if not _matches_any(signature, keys, canonical.encode("utf-8", "surrogatepass")):
        raise BadSignature("signature does not match the body")
    return _verified(payload, canonical, text, "stringify")


def stringify_affordable(body: bytes) -> bool:
    """Whether the ``JSON.stringify`` form of ``body`` is cheap enough to compute for an unverified request."""
    if len(body) > STRINGIFY_MAX_BYTES:
        return False
    return sum(body.count(c) for c in (b",", b":", b"[", b"{", b"\\")) < STRINGIFY_MAX_VALUES


def _verified(payload: Any, canonical: str, text: str, form: str) -> Verified:
    if not isinstance(payload, dict):
        raise BadPayload(f"body is JSON but not an object (it is {type(payload).__name__})")
    return Verified(payload=payload, canonical=canonical, text=text, form=form)
