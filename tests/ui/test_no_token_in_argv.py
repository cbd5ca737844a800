"""A link's token never stays in a long-lived process's command line (issue 10, point 7): the real started process
re-execs itself with the arguments in a pipe, and /proc/PID/cmdline is read to prove it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from trayapp.cli import ARGS_FD, read_handed_args

pytestmark = pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc (Linux)")

TOKEN = "s3cr3t-t0ken-value"
LINK = f"trayapp://connect?url=http%3A%2F%2F127.0.0.1%3A9&token={TOKEN}&key=ed25519%3AAAAA"
TRAYAPP = Path(sys.executable).with_name("trayapp")  # the console script, as a user or the URL handler runs it


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    values = dict(os.environ)
    values.update({
        "HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "XDG_STATE_HOME": str(tmp_path / "state"), "XDG_RUNTIME_DIR": str(runtime),
        "TRAYAPP_LOG_DIR": str(tmp_path / "log"), "QT_QPA_PLATFORM": "offscreen",
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    })
    values.pop("DBUS_SESSION_BUS_ADDRESS", None)
    return values


def cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]


def wait_for(predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


@pytest.fixture
def started(env: dict[str, str]) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.mark.parametrize("args", [["connect", LINK], [LINK], ["--debug", LINK]],
                         ids=["connect-LINK", "bare-LINK (URL handler)", "debug-LINK"])
def test_the_running_tray_app_keeps_no_token_in_its_command_line(
        args: list[str], env: dict[str, str], tmp_path: Path, started: list[subprocess.Popen[bytes]]) -> None:
    proc = subprocess.Popen([str(TRAYAPP), *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started.append(proc)
    socket_path = tmp_path / "runtime" / "trayapp.sock"
    wait_for(lambda: socket_path.exists() or proc.poll() is not None)  # it runs: Qt, the listener, the tray app
    assert proc.poll() is None, "the app is running"
    line = cmdline(proc.pid)
    assert TOKEN not in " ".join(line) and not any("trayapp://" in a for a in line), line
    assert ARGS_FD in line and "<link>" in line, "the same pid, re-exec'd with the arguments in a pipe"
    log = (tmp_path / "log" / "trayapp.log").read_text()
    assert "starting (connect)" in log, "the link still reached the app"
    assert TOKEN not in log


def test_a_headless_listener_keeps_no_token_in_its_command_line(
        env: dict[str, str], started: list[subprocess.Popen[bytes]]) -> None:
    proc = subprocess.Popen([str(TRAYAPP), "listen", "--link", LINK], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    started.append(proc)
    wait_for(lambda: ARGS_FD in cmdline(proc.pid) or proc.poll() is not None, timeout=20)
    line = cmdline(proc.pid)
    assert TOKEN not in " ".join(line), line
    assert line[-3:] == ["listen", "--link", "<link>"]


def test_handed_arguments_are_read_once_from_the_pipe() -> None:
    read_end, write_end = os.pipe()
    os.write(write_end, b'["connect", "trayapp://connect?token=x"]')
    os.close(write_end)
    assert read_handed_args([ARGS_FD, str(read_end), "connect", "<link>"]) == ["connect", "trayapp://connect?token=x"]
    with pytest.raises(OSError):
        os.fstat(read_end)  # closed after reading
    assert read_handed_args(["connect", "x"]) == ["connect", "x"]
