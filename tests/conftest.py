"""Shared test setup.

`TRAYAPP_REQUIRE_SERVICES=1` (set by `.ci/run`) turns "skip: service missing" into a failure, so CI
cannot pass by skipping what it was meant to run.
"""

from __future__ import annotations

import gc
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from trayapp.ui.gui_gc import collect_due

# The machine has two shared cores: generation speed and per-example time say nothing about correctness here.
# In CI the examples are derandomized so a run that passed once passes again; locally they vary.
settings.register_profile(
    "trayapp",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=os.environ.get("TRAYAPP_REQUIRE_SERVICES") == "1",
)
settings.load_profile("trayapp")

#: Directories whose tests start processes (bridges, redis-server, a desktop session): all ``slow``. Other modules
#: that do say ``pytestmark = pytest.mark.slow`` themselves.
SLOW_DIRS = frozenset({"integration", "chaos", "e2e"})


@pytest.fixture(autouse=True)
def _garbage_collected_in_the_main_thread():
    """Qt objects must be destroyed in the thread that owns them. Left to Python's automatic collection, a test's
    leftover widgets, timers and D-Bus helpers can be collected in a worker thread of a later test (a notifier, a
    link check) and crash the process. So while tests run, automatic collection is off and, after each test, what
    is due is collected here in the main (GUI) thread — the rule ``ui/gui_gc.py`` applies for the running app."""
    gc.disable()
    yield
    collect_due()
    gc.disable()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    tests = Path(__file__).parent
    for item in items:
        parts = item.path.relative_to(tests).parts
        if parts and parts[0] in SLOW_DIRS:
            item.add_marker(pytest.mark.slow)


#: The shared helpers and fixtures of every test directory (instead of importing another directory's conftest).
pytest_plugins = ["tests.support.bridges"]


@pytest.fixture
def hostile_corpus() -> list:
    """Every hostile-content case (``tests.support.hostile_corpus``: lone surrogates, NUL, controls, bidi overrides,
    10,000 characters, markup, max-body bodies that inflate when escaped), each a signed-able webhook body."""
    from tests.support.hostile_corpus import corpus

    return corpus()
