"""Files 0600 and directories 0700 on both sides, whatever the umask (issue 10, point 8)."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from trayapp import settings as settings_mod
from trayapp.bridge import keys
from trayapp.bridge.server import URL_FILE, write_url_file
from trayapp.bridge.store_sqlite import SQLiteStore
from trayapp.client.history import History
from trayapp.logs import PrivateRotatingFileHandler
from trayapp.private_files import private_dir, private_file, write_private

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX modes")


@pytest.fixture(params=[0o022, 0o000], ids=["umask022", "umask000"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def assert_private_tree(root: Path) -> list[Path]:
    """Every directory under ``root`` (itself included) is 0700 and every file 0600; returns the files."""
    assert mode(root) == 0o700, root
    files = []
    for path in sorted(root.rglob("*")):
        if path.is_dir():
            assert mode(path) == 0o700, path
        else:
            assert mode(path) == 0o600, path
            files.append(path)
    return files


def test_helper_creates_missing_parents_private_and_tightens_what_is_ours(tmp_path: Path, umask: int) -> None:
    deep = private_dir(tmp_path / "a" / "b" / "c")
    assert [mode(p) for p in (tmp_path / "a", tmp_path / "a" / "b", deep)] == [0o700] * 3
    loose = tmp_path / "loose"
    loose.mkdir()
    os.chmod(loose, 0o755)
    (loose / "f").write_text("x")
    os.chmod(loose / "f", 0o666)
    private_file(loose / "f")
    assert mode(loose) == 0o700 and mode(loose / "f") == 0o600
    assert (loose / "f").read_text() == "x", "content untouched"
    write_private(loose / "g", "hello\n")
    assert mode(loose / "g") == 0o600 and (loose / "g").read_text() == "hello\n"
    assert sorted(p.name for p in loose.iterdir()) == ["f", "g"], "no temporary file left"


def test_client_history_with_wal_and_shm(tmp_path: Path, umask: int) -> None:
    history = History(tmp_path / "app" / "history.sqlite3")
    try:
        files = assert_private_tree(tmp_path / "app")
        assert {p.name for p in files} >= {"history.sqlite3", "history.sqlite3-wal", "history.sqlite3-shm"}
    finally:
        history.close()


def test_settings_file_and_damaged_copy(tmp_path: Path, umask: int) -> None:
    path = tmp_path / "config" / "settings.json"
    settings_mod.save(settings_mod.Settings(), path)
    path.write_text("{ damaged")
    settings_mod.load(path)
    files = assert_private_tree(tmp_path / "config")
    assert {p.name for p in files} == {"settings.json", "settings.json.damaged"}


def test_log_file_and_its_rotations(tmp_path: Path, umask: int) -> None:
    directory = private_dir(tmp_path / "log")
    handler = PrivateRotatingFileHandler(directory / "trayapp.log", maxBytes=200, backupCount=3, encoding="utf-8")
    logger = logging.getLogger("test-private-log")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        for i in range(40):
            logger.warning("line %d of the log, long enough to rotate soon", i)
    finally:
        logger.removeHandler(handler)
        handler.close()
    files = assert_private_tree(directory)
    assert {p.name for p in files} == {"trayapp.log", "trayapp.log.1", "trayapp.log.2", "trayapp.log.3"}


def test_bridge_data_dir_database_url_file_and_key(tmp_path: Path, umask: int) -> None:
    data = tmp_path / "bridge-data"

    async def run() -> None:
        store = SQLiteStore(data)
        await store.open()
        try:
            write_url_file(data, "http://127.0.0.1:8080")
            keys.load_or_create(data / keys.KEY_FILE)
            files = assert_private_tree(data)
            assert {p.name for p in files} >= {"bridge.sqlite3", "bridge.sqlite3-wal", "bridge.sqlite3-shm",
                                               URL_FILE, keys.KEY_FILE}
        finally:
            await store.close()

    asyncio.run(run())


def test_files_an_older_version_left_readable_are_tightened(tmp_path: Path, umask: int) -> None:
    app = tmp_path / "app"
    app.mkdir()
    os.chmod(app, 0o755)
    for name in ("history.sqlite3", "history.sqlite3-wal", "history.sqlite3-shm"):
        (app / name).touch()
        os.chmod(app / name, 0o644)
    (app / "history.sqlite3").unlink()  # a fresh database next to an old WAL: SQLite removes or reuses it
    history = History(app / "history.sqlite3")
    try:
        assert_private_tree(app)
    finally:
        history.close()
