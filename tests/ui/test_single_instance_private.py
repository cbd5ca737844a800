"""The single-instance channel is private to the user: a 0700 rendezvous, the peer's uid checked both ways, and a
squatted socket is never trusted (issue 10, point 6)."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ui.launches import second_launch
from trayapp.ui.single_instance import InstanceError, SingleInstance, rendezvous_dir, send_to_running, server_name

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_PEERCRED and XDG dirs: Linux")

LINK = "trayapp://connect?url=https%3A%2F%2Fbridge.example.com&token=s3cr3t&key=ed25519%3Ax"
NOBODY = 65534


@pytest.fixture
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_rendezvous_is_the_private_runtime_dir(dirs: Path) -> None:
    assert rendezvous_dir() == dirs / "runtime"
    assert server_name() == str(dirs / "runtime" / "trayapp.sock")
    assert server_name("demo") == str(dirs / "runtime" / "trayapp-demo.sock")


def test_a_runtime_dir_others_can_enter_is_not_used_a_private_cache_dir_is(dirs: Path) -> None:
    os.chmod(dirs / "runtime", 0o755)
    path = rendezvous_dir()
    assert path == dirs / "cache" / "trayapp" / "run"
    assert mode(path) == 0o700 and mode(path.parent) == 0o700


def test_without_a_runtime_dir_the_cache_dir_is_made_private(dirs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    run = dirs / "cache" / "trayapp" / "run"
    run.mkdir(parents=True)
    os.chmod(run, 0o755)  # an older version's, or a plain mkdir's
    assert rendezvous_dir() == run and mode(run) == 0o700
    assert server_name() == str(run / "trayapp.sock"), "never a predictable name in the shared temp dir"


@pytest.mark.skipif(os.getuid() != 0, reason="giving a directory to another user needs root")
def test_a_cache_dir_of_another_user_is_refused_clearly(dirs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    run = dirs / "cache" / "trayapp" / "run"
    run.mkdir(parents=True, mode=0o700)
    os.chown(run, NOBODY, NOBODY)
    with pytest.raises(InstanceError, match="not private to this user"):
        rendezvous_dir()


class Squatter:
    """Another program listening on a path: records what it is sent and answers ``ok`` like a trayapp would."""

    def __init__(self, path: str) -> None:
        self.received: list[bytes] = []
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(path)
        self._server.listen(4)
        self._server.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    self.received.append(conn.recv(65536))
                    conn.sendall(b"ok\n")
                except OSError:
                    pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._server.close()


@pytest.fixture
def old_path_squatter(tmp_path: Path) -> Iterator[Squatter]:
    # Before: without $XDG_RUNTIME_DIR the name was "trayapp-<hash of the user name>" in the temp dir, for anyone
    # to take first.
    import hashlib

    from PySide6.QtCore import QDir

    user = os.environ.get("USER") or "root"
    path = os.path.join(QDir.tempPath(), f"trayapp-{hashlib.sha256(f'{user}:'.encode()).hexdigest()[:12]}")
    if os.path.exists(path):
        os.unlink(path)
    squatter = Squatter(path)
    yield squatter
    squatter.close()
    os.unlink(path)


def test_a_listener_at_the_old_path_gets_nothing_and_the_app_starts(
        dirs: Path, monkeypatch: pytest.MonkeyPatch, old_path_squatter: Squatter, qtbot) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    name = server_name()
    assert not send_to_running(["connect", LINK], name), "nobody trustworthy runs: this launch becomes the app"
    instance = SingleInstance(name)
    assert instance.listen()
    instance.close()
    assert old_path_squatter.received == [], "never even connected to"


def test_a_peer_of_another_uid_is_not_trusted_either_way(dirs: Path, qtbot) -> None:
    name = server_name()
    other = os.getuid() + 1
    first = SingleInstance(name, expected_uid=other)  # as if every launch came from another user
    assert first.listen()
    received: list[list[str]] = []
    first.arguments_received.connect(received.append)
    assert second_launch(qtbot, name, ["--list"]) == 3
    assert received == [], "the first instance refused a launch of another uid"
    first.close()

    squatter = Squatter(name)  # a listener this launch must not trust (as if it ran as someone else)
    try:
        assert not send_to_running(["connect", LINK], name, expected_uid=other)
        assert squatter.received in ([], [b""]), "it connected, checked and hung up: no argument (no token) sent"
    finally:
        squatter.close()


SQUATTER = textwrap.dedent("""
    import os, socket, sys
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(sys.argv[1])
    os.setgid(65534)
    os.setuid(65534)   # another user from here on: listen() records these credentials for SO_PEERCRED
    s.listen(4)
    print("ready", flush=True)
    s.settimeout(8)
    try:
        while True:
            conn, _ = s.accept()
            conn.settimeout(2)
            try:
                data = conn.recv(65536)
            except OSError:
                data = b""
            print("got", repr(data), flush=True)
            try:
                conn.sendall(b"ok\\n")
            except OSError:
                pass
            conn.close()
    except TimeoutError:
        pass
""")


@pytest.mark.skipif(os.getuid() != 0, reason="a listener of another uid needs root to set up")
def test_a_squatter_of_another_uid_gets_no_token_and_the_app_still_starts(dirs: Path, qtbot) -> None:
    name = server_name()
    proc = subprocess.Popen([sys.executable, "-c", SQUATTER, name], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        assert not send_to_running(["connect", LINK], name), "a reply from another uid is not trusted"
        instance = SingleInstance(name)
        assert instance.listen(), "the squatted socket is replaced: the app starts"
        received: list[list[str]] = []
        instance.arguments_received.connect(received.append)
        assert second_launch(qtbot, name, ["--list"]) == 0
        assert received == [["--list"]], "later launches reach the real app"
        instance.close()
    finally:
        proc.kill()
        out, _ = proc.communicate(timeout=10)
    assert [line for line in out.splitlines() if line.startswith("got") and line != "got b''"] == [], out
    assert "s3cr3t" not in out
