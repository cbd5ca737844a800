"""Client tokens: random, shown once, stored only as SHA-256 hashes.

``new_token()`` makes a token (``tb_`` + 43 url-safe characters, 256 bits); ``token_hash(token)`` is what the store
keeps; ``bearer(header)`` extracts the token of an ``Authorization: Bearer <token>`` header (None if absent or
malformed).
"""

from __future__ import annotations

import hashlib
import re
import secrets

PREFIX = "tb_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._@+-]{0,99}$")
_TOKEN = re.compile(r"^[A-Za-z0-9._~+/=-]{16,256}$")


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def valid_name(name: str) -> bool:
    """Token names: 1-100 characters, letters, digits, space and ``. _ @ + -``, not starting with a separator."""
    return bool(_NAME.match(name))


def bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not _TOKEN.match(value):
        return None
    return value
