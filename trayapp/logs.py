"""Logging for the whole project — the tray app, ``trayapp demo``, ``trayapp listen`` and the bridge: one redaction
filter on every handler, one format, log files only their owner can read.

Setup: :func:`setup_logging` (the tray app and the demo: a rotating file in the platformdirs log dir,
``$TRAYAPP_LOG_DIR``, 0600; with ``--debug`` also stderr), :func:`setup_stderr_logging` (``trayapp listen``: stderr
only, its stdout is the JSON lines); the bridge's dictConfig (``trayapp.bridge.server.log_config``) puts
:class:`RedactFilter` on every handler too.

:class:`RedactFilter` rewrites each record's final message (and its formatted traceback) before any handler writes
it, masking:

- header values: ``Authorization``, ``Proxy-Authorization``, ``x-acquire-signature``, ``Cookie``, ``X-Api-Key`` ...
  in ``name: value`` lines (the ``websockets`` debug log of a handshake) and in ``(b'name', b'value')`` reprs;
- ``Bearer <anything>`` and trayapp tokens (``tb_`` + 43 characters) wherever they appear;
- credentials in URLs: the userinfo (``redis://user:***@host``) and credential query parameters (``password=``,
  ``token=``, ``secret=``, ``key=``, ``api_key=`` ...; so a pasted connection link too), and ``"token": "..."``-style
  JSON fields;
- the configured webhook secrets themselves (:func:`remember_secrets`), wherever they appear.

:func:`redact` and :func:`redact_url` are the same rules for text that is printed rather than logged.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

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


FORMAT = "%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"
LOG_FILE = "trayapp.log"
LOG_BACKUPS = 5
LOG_DIR_ENV = "TRAYAPP_LOG_DIR"


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating log whose every file (the current one and each new one after a rotation) is 0600."""

    def _open(self) -> Any:
        from trayapp.private_files import private_opener

        return open(self.baseFilename, self.mode, encoding=self.encoding, errors=self.errors, opener=private_opener)


def log_dir() -> Path:
    env = os.environ.get(LOG_DIR_ENV)
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_log_dir("trayapp", appauthor=False))


def setup_logging(debug: bool, level: str = "INFO") -> Path | None:
    """The tray app's logging: a rotating log file in the platformdirs log dir (1 MB × 5); with ``--debug`` also
    stderr. Returns the log file's path (``None``: it cannot be written)."""
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if debug else level)
    fmt = logging.Formatter(FORMAT)
    redact = RedactFilter()
    path: Path | None = None
    try:
        directory = log_dir()
        from trayapp.private_files import private_dir, tighten

        private_dir(directory)
        path = directory / LOG_FILE
        tighten(path, *(path.with_name(f"{LOG_FILE}.{n}") for n in range(1, LOG_BACKUPS + 1)))  # older versions'
        handler: logging.Handler = PrivateRotatingFileHandler(
            path, maxBytes=1_000_000, backupCount=LOG_BACKUPS, encoding="utf-8")
        handler.setFormatter(fmt)
        handler.addFilter(redact)
        root.addHandler(handler)
    except OSError as exc:
        print(f"trayapp: cannot write logs: {exc}", file=sys.stderr)
    if debug:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(fmt)
        stream.addFilter(redact)
        root.addHandler(stream)
    logging.captureWarnings(True)
    return path


def setup_stderr_logging(level: int | str = logging.WARNING) -> None:
    """Log to stderr at ``level``, with the redaction filter (once: a second call only changes the level)."""
    root = logging.getLogger()
    root.setLevel(level)
    if any(getattr(h, "_trayapp_stderr", False) for h in root.handlers):
        return
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(logging.Formatter(FORMAT))
    stream.addFilter(RedactFilter())
    stream._trayapp_stderr = True  # type: ignore[attr-defined]
    root.addHandler(stream)
