"""What tests share, imported as ``tests.support.*`` (never from another directory's conftest).

- :mod:`tests.support.bridges` — a pytest plugin (``pytest_plugins`` in ``tests/conftest.py``): real
  ``trayapp-bridge serve`` processes (``bridge_factory``, ``bridge``, ``backend``) and helpers to talk to them.
- :mod:`tests.support.redis_server` — a real ``redis-server`` per test.
- :mod:`tests.support.rows` — events and history rows.
- :mod:`tests.support.client` — a recording connection listener, ``run_connection``, an in-memory keyring.
- :mod:`tests.support.hostile_corpus` — the hostile-content cases.
- Here: :func:`skip_or_fail` (a missing service skips locally, fails under ``TRAYAPP_REQUIRE_SERVICES=1``) and the
  signed Acquire samples (:func:`load_fixtures`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "acquire"


def require_services() -> bool:
    return os.environ.get("TRAYAPP_REQUIRE_SERVICES") == "1"


def skip_or_fail(reason: str) -> None:
    """Skip locally when a service is missing; fail where CI said every service must be there."""
    if require_services():
        pytest.fail(f"{reason} (TRAYAPP_REQUIRE_SERVICES=1: this must run here)")
    pytest.skip(reason)


def load_fixtures() -> list[dict[str, Any]]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(FIXTURES.glob("*.json"))]
