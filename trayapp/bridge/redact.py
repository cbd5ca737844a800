"""One redaction filter for every log handler of the bridge (uvicorn's and the libraries' included).

:class:`RedactFilter` rewrites each record's final message (and its formatted traceback) before any handler writes
it, masking:

- header values: ``Authorization``, ``Proxy-Authorization``, ``x-acquire-signature``, ``Cookie``, ``X-Api-Key`` ...
  in ``name: value`` lines (the ``websockets`` debug log of a handshake) and in ``(b'name', b'value')`` reprs;
- ``Bearer <anything>`` and trayapp tokens (``tb_`` + 43 characters) wherever they appear;
- credentials in URLs: the userinfo (``redis://user:***@host``) and credential query parameters (``password=``,
  ``token=``, ``secret=``, ``key=``, ``api_key=`` ...), and ``"token": "..."``-style JSON fields;
- the configured webhook secrets themselves (:func:`remember_secrets`), wherever they appear.

:func:`redact` and :func:`redact_url` are the same rules for text that is printed rather than logged.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Final

MASK: Final = "***"
_MIN_LITERAL = 4  # shorter secrets are not masked as literals (they would blank out ordinary words)

_HEADERS: Final = r"authorization|proxy-authorization|x-acquire-signature|cookie|set-cookie|x-api-key|api-key"
_PARAMS: Final = (r"password|passwd|pass|pwd|token|access_token|refresh_token|secret|client_secret|api_key|apikey|"
                  r"key|auth|signature|sig")
_RULES: Final = (
    # "authorization: Bearer x" / "(b'authorization', b'Bearer x')" / "'x-acquire-signature': 'ab12'"
    (re.compile(rf"(?i)\b({_HEADERS})(['\"]?\s*[:=,]\s*(?-i:b)?['\"]?)([^'\"\r\n]*)"), rf"\1\2{MASK}"),
    (re.compile(r"(?i)\b(bearer)\s+[^\s'\",]+"), rf"\1 {MASK}"),
    (re.compile(r"\btb_[A-Za-z0-9_-]{16,}"), f"tb_{MASK}"),
    # scheme://user:password@ and scheme://credential@
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^/@\s:'\"]*):([^/@\s'\"]*)@"), rf"\1\2:{MASK}@"),
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^/@\s:'\"]+)@"), rf"\1{MASK}@"),
    (re.compile(rf"(?i)([?&;]|\b)((?:{_PARAMS})=)([^&\s'\"#;]*)"), rf"\1\2{MASK}"),
    (re.compile(rf"(?i)(['\"](?:{_PARAMS}|webhook_secret)['\"]\s*:\s*(?-i:b)?['\"])([^'\"]*)"), rf"\1{MASK}"),
)
_secrets: set[str] = set()


def remember_secrets(secrets: Iterable[str]) -> None:
    """Mask these literal values too (the webhook secrets), from now on."""
    _secrets.update(s for s in secrets if len(s) >= _MIN_LITERAL)


def redact(text: str) -> str:
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


def redact_url(url: str) -> str:
    """A URL fit for logs and error messages: no userinfo password, no credential query parameters."""
    return redact(url)


class RedactFilter(logging.Filter):
    """Attach to every handler (``"filters": ["redact"]`` in a dictConfig); see the module docstring."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep what can be shown safely
            message = f"{record.msg!s} {record.args!r}"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
