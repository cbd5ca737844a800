"""trayapp/logs.py: the one redaction filter (bridge, app, listen) — every shape a secret takes in a log line
(table-driven), the filter itself — and the desktop side's setup (private log file, stderr for listen)."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest

from trayapp import logs as redact
from trayapp.logs import RedactFilter, setup_logging, setup_stderr_logging

TOKEN = "tb_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0u1v"
SIG = "9f" * 32


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        (f"< authorization: Bearer {TOKEN}", TOKEN),
        ("< Authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        (f"headers [(b'authorization', b'Bearer {TOKEN}'), (b'host', b'x')]", TOKEN),
        (f"{{'x-acquire-signature': '{SIG}'}}", SIG),
        (f"x-acquire-signature: sha256={SIG}", SIG),
        (f"connecting with token {TOKEN} now", TOKEN),
        ("redis://:hunter2hunter2@redis.internal:6379/0", "hunter2hunter2"),
        ("rediss://app:s3cr3t-pw@10.0.0.5:6380/1", "s3cr3t-pw"),
        ("redis://redis.internal:6379/0?password=p%40ss-w0rd&db=0", "p%40ss-w0rd"),
        ("https://api.example.com/v1?api_key=AKIA1234567890&x=1", "AKIA1234567890"),
        ("GET /v1/stream?token=abcdef0123456789 HTTP/1.1", "abcdef0123456789"),
        ("https://ghp_tokenvalue1234@github.com/x", "ghp_tokenvalue1234"),
        ('{"token": "zzz-very-secret", "name": "Maria"}', "zzz-very-secret"),
        ("< cookie: session=abc123def456", "abc123def456"),
    ],
)
def test_rules(line: str, secret: str) -> None:
    clean = redact.redact(line)
    assert secret not in clean and redact.MASK in clean, clean


@pytest.mark.parametrize("line", ["retention: dropped 3 events older than 7 days", "missing x-acquire-signature header",
                                  "GET /v1/events?since=5&limit=10", "redis://redis.internal:6379/0"])
def test_ordinary_lines_stay(line: str) -> None:
    assert redact.redact(line) == line


def test_filter_masks_message_args_traceback_and_remembered_secrets() -> None:
    redact.remember_secrets(["whsec_unit_test_secret_value", "x"])  # too short to mask as a literal
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(redact.RedactFilter())
    logger = logging.getLogger("trayapp.bridge.test-redact")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("secret %s in args, url %s", "whsec_unit_test_secret_value", "redis://:pw12345@h/0")
        try:
            raise RuntimeError(f"failed with Bearer {TOKEN}")
        except RuntimeError:
            logger.exception("boom")
        logger.warning("broken %d format", "x")
    finally:
        logger.removeHandler(handler)
    text = out.getvalue()
    assert "whsec_unit_test_secret_value" not in text and "pw12345" not in text and TOKEN not in text
    assert "RuntimeError" in text and "broken" in text and "x" in text


@pytest.mark.parametrize(
    ("line", "clean"),
    [
        (f"< authorization: Bearer {TOKEN}", "< authorization: ***"),
        (f"(b'authorization', b'Bearer {TOKEN}')", "(b'authorization', b'***')"),
        ("redis://:pw@h:6379/0?password=pw2&db=1", "redis://:***@h:6379/0?password=***&db=1"),
    ],
)
def test_exact_masks(line: str, clean: str) -> None:
    assert redact.redact(line) == clean


@pytest.fixture
def clean_root():
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    yield root
    for handler in root.handlers[:]:
        if handler not in before:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)
    logging.captureWarnings(False)


def test_logs_never_carry_tokens(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 clean_root: logging.Logger) -> None:
    monkeypatch.setenv("TRAYAPP_LOG_DIR", str(tmp_path))
    path = setup_logging(False)
    logging.getLogger("trayapp.test").warning("link trayapp://connect?url=u&token=s3cr3t&key=k and %s",
                                              "Bearer abc.def")
    for handler in clean_root.handlers:
        handler.flush()
    assert path is not None
    text = path.read_text()
    assert "s3cr3t" not in text and "abc.def" not in text
    assert "token=***" in text and "Bearer ***" in text
    record = logging.LogRecord("x", logging.INFO, "", 0, '{"token": "zzz"}', None, None)
    RedactFilter().filter(record)
    assert "zzz" not in record.getMessage()




def test_listen_logs_to_stderr_redacted_and_once(clean_root: logging.Logger,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    setup_stderr_logging(logging.INFO)
    setup_stderr_logging(logging.DEBUG)  # only the level changes
    logging.getLogger("trayapp.client.listen").debug("GET /v1/stream?token=s3cr3t")
    err = capsys.readouterr().err
    assert err.count("/v1/stream") == 1 and "s3cr3t" not in err and "token=***" in err
