"""Client tests: offscreen Qt, an in-memory keyring, and config/data dirs in the test's tmp_path.

The real-bridge fixtures (``bridge_factory``, ``bridge``) come from the ``tests.support.bridges`` plugin.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import keyring
import pytest

from tests.support.client import MemoryKeyring, Recorder
from trayapp.client.history import History

from .fakebridge import FakeBridge


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TRAYAPP_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("TRAYAPP_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    ring = MemoryKeyring()
    keyring.set_keyring(ring)
    try:
        yield ring
    finally:
        keyring.set_keyring(previous)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def fake() -> AsyncIterator[FakeBridge]:
    async with FakeBridge() as fb:
        yield fb


@pytest.fixture
def history(tmp_path: Path) -> Iterator[History]:
    with History(tmp_path / "h.sqlite3") as h:
        yield h
