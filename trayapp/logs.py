"""Logging for the desktop side (the tray app, ``trayapp demo``, ``trayapp listen``): one format, one redaction filter
on every handler, log files only the user can read.

- :func:`setup_logging` — the tray app: a rotating file in the platformdirs log dir (``$TRAYAPP_LOG_DIR``), 0600;
  with ``--debug`` also stderr.
- :func:`setup_stderr_logging` — ``trayapp listen``: stderr only (its stdout is the JSON lines).
- :class:`RedactSecrets` — blanks tokens (``token=...``, ``Bearer ...``, ``"token": "..."``) out of every record.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
import sys
from pathlib import Path
from typing import Any

FORMAT = "%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"
LOG_FILE = "trayapp.log"
LOG_BACKUPS = 5
LOG_DIR_ENV = "TRAYAPP_LOG_DIR"
_SECRET = re.compile(r"(?i)(token=|bearer\s+|\"token\"\s*:\s*\")([^&\s\"']+)")


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating log whose every file (the current one and each new one after a rotation) is 0600."""

    def _open(self) -> Any:
        from trayapp.private_files import private_opener

        return open(self.baseFilename, self.mode, encoding=self.encoding, errors=self.errors, opener=private_opener)


class RedactSecrets(logging.Filter):
    """Blanks tokens (``token=...``, ``Bearer ...``, ``"token": "..."``) out of every log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _SECRET.sub(r"\1***", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


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
    redact = RedactSecrets()
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
    stream.addFilter(RedactSecrets())
    stream._trayapp_stderr = True  # type: ignore[attr-defined]
    root.addHandler(stream)
