"""A real ``redis-server`` for tests: a free port, a temp dir, AOF with ``appendfsync always``.

``redis_server(tmp_path)`` is a context manager yielding a :class:`RedisServer` (``.url``; ``.kill()`` = SIGKILL,
``.pause()`` / ``.resume()`` = SIGSTOP / SIGCONT, ``.start()`` again on the same port and dir = a restart that
reloads the AOF). Without ``redis-server`` (``$TRAYAPP_REDIS_SERVER``, PATH, /usr/bin) the test skips -- or fails where
``TRAYAPP_REQUIRE_SERVICES=1`` (CI). ``wait_for(condition)`` polls instead of sleeping blindly.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

from tests.support import skip_or_fail


def redis_binary() -> str | None:
    """``$TRAYAPP_REDIS_SERVER`` if set (a path; missing = no server), else ``redis-server`` on PATH or in /usr/bin."""
    override = os.environ.get("TRAYAPP_REDIS_SERVER")
    if override is not None:
        return override if os.access(override, os.X_OK) else None
    return shutil.which("redis-server") or ("/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server")
                                            else None)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ping(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    def __init__(self, binary: str, directory: Path) -> None:
        self.binary = binary
        self.dir = directory
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = directory / "redis.log"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        """Start (or restart, on the same port and dir) and wait until it answers PING."""
        self.dir.mkdir(parents=True, exist_ok=True)
        for _attempt in range(5):
            port = self.port or _free_port()
            self.proc = subprocess.Popen(
                [self.binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(self.dir),
                 "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--daemonize", "no",
                 "--logfile", str(self.log), "--protected-mode", "no"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break  # exited: port taken (or a bad config); try another port
                if _ping(port):
                    self.port = port
                    return self
                time.sleep(0.01)
            self._reap()
            if self.port:  # a restart on a fixed port: wait for the port to be released and retry the same port
                continue
        raise RuntimeError(f"redis-server did not start; see {self.log}")

    def _reap(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGCONT)
                self.proc.kill()
        self.proc.wait(10)
        self.proc = None

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final fsync -- only what ``appendfsync always`` wrote survives."""
        self._reap()

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        self._reap()


@contextlib.contextmanager
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    binary = redis_binary()
    if binary is None:
        skip_or_fail("redis-server not installed (Debian: apt install redis-server)")
        raise AssertionError("unreachable")
    server = RedisServer(binary, tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.stop()


async def wait_for(condition: Callable[[], bool | Awaitable[bool]], timeout: float = 10.0, what: str = "condition"
                   ) -> None:
    """Poll ``condition`` (sync or async) every few ms until it is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)


class BridgeOnRedis:
    """A real ``trayapp-bridge serve --redis-url URL --port 0`` process (its stderr in ``.log``)."""

    def __init__(self, data_dir: Path, redis_url: str, secret: str) -> None:
        self.data_dir = data_dir
        self.redis_url = redis_url
        self.secret = secret
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.log = data_dir.parent / f"{data_dir.name}.stderr.log"

    def spawn(self) -> BridgeOnRedis:
        import sys

        self.data_dir.mkdir(parents=True, exist_ok=True)
        binary = Path(sys.executable).parent / "trayapp-bridge"
        env = {**os.environ, "ACQUIRE_WEBHOOK_SECRET": self.secret}
        env.pop("TRAYAPP_REDIS_URL", None)
        with open(self.log, "w") as err:
            self.proc = subprocess.Popen(
                [str(binary), "serve", "--port", "0", "--data-dir", str(self.data_dir), "--redis-url", self.redis_url],
                stdout=subprocess.PIPE, stderr=err, text=True, env=env,
            )
        return self

    def wait_ready(self, timeout: float = 30.0) -> BridgeOnRedis:
        assert self.proc is not None and self.proc.stdout is not None
        import selectors

        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout):
                raise AssertionError(f"bridge did not start: {self.log.read_text()}")
        line = self.proc.stdout.readline().strip()
        if not line.startswith("trayapp-bridge listening on "):
            raise AssertionError(f"bridge did not start ({line!r}): {self.log.read_text()}")
        self.url = line.rsplit(" ", 1)[1]
        return self

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/v1/stream"

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return self.proc.returncode
