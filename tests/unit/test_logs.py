"""trayapp/logs.py: the desktop side's logging — one redaction filter on every handler, private log files."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from trayapp.logs import RedactSecrets, setup_logging, setup_stderr_logging


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
    RedactSecrets().filter(record)
    assert "zzz" not in record.getMessage()




def test_listen_logs_to_stderr_redacted_and_once(clean_root: logging.Logger,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    setup_stderr_logging(logging.INFO)
    setup_stderr_logging(logging.DEBUG)  # only the level changes
    logging.getLogger("trayapp.client.listen").debug("GET /v1/stream?token=s3cr3t")
    err = capsys.readouterr().err
    assert err.count("/v1/stream") == 1 and "s3cr3t" not in err and "token=***" in err
