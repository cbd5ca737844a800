"""Fixtures that run the real ``trayapp-bridge serve`` process (port 0) and talk to it over real sockets.

``bridge_factory(**flags)`` starts a bridge in a fresh data dir (or a given one) and waits for its one stdout line
``trayapp-bridge listening on http://HOST:PORT`` -- no sleeps. ``bridge`` is one started with the fixtures' secret.
Every process is stopped (SIGTERM, then SIGKILL) at the end of the test.

Backends: the ``backend`` fixture is ``"sqlite"`` unless a test is parametrised with :data:`BOTH_BACKENDS` (indirect):
then it also runs with ``"redis"`` -- one real ``redis-server`` per test (``tests/support/redis_server.py``; skipped, or
failed under ``TRAYAPP_REQUIRE_SERVICES=1``, without the binary), every bridge of the test started with
``--redis-url`` on it, and ``bp.cli(...)`` / ``bp.token()`` run the token commands against the same store.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from tests.support import load_fixtures  # noqa: F401 - re-exported for the bridge tests
from trayapp.core import wire
from trayapp.core.signature import hmac_hex

SECRET = "whsec_d666d9171098cf67d9305264964215dc"
BIN = Path(sys.executable).parent / "trayapp-bridge"
READY = re.compile(r"^trayapp-bridge listening on (https?://\S+)$")


# The signed fixtures carry their own event time (2026-11-23): a bridge that must accept them needs a replay
# window (= its retention) reaching back that far; everything else posts payloads stamped now (case_payload).
FIXTURE_WINDOW = ("--retention-days", "36500")
STARTED = datetime.now(UTC)  # case_payload(n) is the same delivery every time it is called in this run


# ``pytestmark = BOTH_BACKENDS_MARKS`` for a module, ``@BOTH_BACKENDS`` for one test. ``usefixtures`` puts ``backend``
# into the test's fixtures, so ``bridge_factory`` need not depend on it (tests/client reuses these fixtures as is).
BOTH_BACKENDS_MARKS = [
    pytest.mark.usefixtures("backend"),
    pytest.mark.parametrize("backend", ["sqlite", pytest.param("redis", marks=pytest.mark.redis)], indirect=True),
]


def BOTH_BACKENDS(fn: Any) -> Any:  # used like a mark
    for mark in reversed(BOTH_BACKENDS_MARKS):
        fn = mark(fn)
    return fn


def cli(*args: str, data_dir: Path, check: bool = True, redis_url: str | None = None
        ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ACQUIRE_WEBHOOK_SECRET": SECRET}
    env.pop("TRAYAPP_REDIS_URL", None)
    extra = ["--redis-url", redis_url] if redis_url else []
    return subprocess.run([str(BIN), *args, "--data-dir", str(data_dir), *extra], capture_output=True, text=True,
                          check=check, timeout=60, env=env)


class BridgeProcess:
    def __init__(self, data_dir: Path, args: list[str], env: dict[str, str], redis_url: str | None = None) -> None:
        self.data_dir = data_dir
        self.redis_url = redis_url
        self.args = args + (["--redis-url", redis_url] if redis_url else [])
        self.env = env
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.stdout_lines: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.stderr_path = data_dir.parent / f"{data_dir.name}-stderr-{time.monotonic_ns()}.log"

    def start(self, timeout: float = 30.0) -> BridgeProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._stderr = open(self.stderr_path, "w")  # noqa: SIM115 - closed in wait()
        self.proc = subprocess.Popen(
            [str(BIN), "serve", "--port", "0", "--data-dir", str(self.data_dir), *self.args],
            stdout=subprocess.PIPE, stderr=self._stderr, text=True, env=self.env,
        )
        self._lines = queue.Queue()
        self.stdout_lines = []
        threading.Thread(target=self._read_stdout, args=(self.proc, self._lines), daemon=True).start()
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"bridge did not start: {self.stderr()}") from None
        if line is None:
            raise AssertionError(f"bridge exited ({self.proc.wait()}): {self.stderr()}")
        match = READY.match(line)
        assert match, f"unexpected first stdout line {line!r}"
        self.url = match.group(1)
        return self

    def _read_stdout(self, proc: subprocess.Popen[str], lines: queue.Queue[str | None]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.stdout_lines.append(line)
            lines.put(line.rstrip("\n"))
        proc.stdout.close()
        lines.put(None)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def ws_url(self) -> str:
        return self.url.replace("https://", "wss://").replace("http://", "ws://") + "/v1/stream"

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 15.0) -> int:
        assert self.proc is not None
        code = self.proc.wait(timeout=timeout)
        self._stderr.close()
        return code

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is not None:
            self._stderr.close()
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._stderr.close()

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()
        self._stderr.close()

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """A ``trayapp-bridge`` command on this bridge's store (its data dir, or its Redis)."""
        return cli(*args, data_dir=self.data_dir, check=check, redis_url=self.redis_url)

    def token(self, name: str = "agent") -> str:
        out = self.cli("token", "add", name, "--json")
        return str(json.loads(out.stdout)["token"])


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def bridge_factory(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    backend = str(request.getfixturevalue("backend")) if "backend" in request.fixturenames else "sqlite"
    started: list[BridgeProcess] = []
    counter = iter(range(1000))
    with contextlib.ExitStack() as stack:
        redis_url: str | None = None
        if backend == "redis":
            from tests.support.redis_server import redis_server

            redis_url = stack.enter_context(redis_server(tmp_path)).url

        def make(*args: str, data_dir: Path | None = None, secret: str = SECRET, start: bool = True
                 ) -> BridgeProcess:
            env = {**os.environ, "ACQUIRE_WEBHOOK_SECRET": secret}
            env.pop("TRAYAPP_BRIDGE_DATA", None)
            env.pop("TRAYAPP_REDIS_URL", None)
            bp = BridgeProcess(data_dir or tmp_path / f"bridge{next(counter)}", list(args), env, redis_url)
            started.append(bp)
            return bp.start() if start else bp

        try:
            yield make
        finally:
            for bp in started:
                bp.stop()
                # shown by pytest only when the test failed: what the bridge logged
                print(f"--- {bp.stderr_path.name}:\n{bp.stderr()[-4000:]}")


@pytest.fixture
def bridge(bridge_factory: Any) -> BridgeProcess:
    bp: BridgeProcess = bridge_factory()
    return bp


@pytest.fixture
async def http(bridge: BridgeProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=bridge.url, timeout=30) as client:
        yield client


def signed(payload: dict[str, Any] | str, secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    body = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return body.encode(), {"content-type": "application/json", "x-acquire-signature": hmac_hex(secret, body)}


def case_payload(n: int, event: str = "case.new", pad: int = 0) -> dict[str, Any]:
    stamp = (STARTED + timedelta(milliseconds=n % 1000)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    payload: dict[str, Any] = {"event": event, "account_id": "acme", "timestamp": stamp,
                               "data": {"case": {"id": n, "title": f"Case {n}", "channel": "chat",
                                                 "status": "pending", "contact": {"name": f"Visitor {n}"}}}}
    if pad:
        payload["data"]["case"]["description"] = "x" * pad
    return payload


async def post(client: httpx.AsyncClient, payload: dict[str, Any] | str) -> httpx.Response:
    body, headers = signed(payload)
    return await client.post("/webhooks/acquire", content=body, headers=headers)


async def connect(bp: BridgeProcess, token: str, since: int | None = None, epoch: str | None = None,
                  nonce: str | None = None, **kwargs: Any) -> ClientConnection:
    query = []
    if since is not None:
        query.append(f"since={since}")
    if epoch is not None:
        query.append(f"epoch={epoch}")
    if nonce is not None:
        query.append(f"nonce={nonce}")
    url = bp.ws_url + ("?" + "&".join(query) if query else "")
    return await websockets.connect(url, additional_headers={"Authorization": f"Bearer {token}"}, **kwargs)


async def recv_frame(ws: ClientConnection, timeout: float = 10.0) -> wire.Message:
    import asyncio

    text = await asyncio.wait_for(ws.recv(), timeout)
    return wire.decode(text)


async def recv_until_caught_up(ws: ClientConnection) -> tuple[wire.Hello, list[wire.Message], wire.CaughtUp]:
    """hello, the backlog's frames (events, gaps), caught_up; the config frame right after hello is checked and left
    out (tests/integration/test_test_alert.py looks at it), and so is the cases frame
    (tests/integration/test_cases.py looks at it)."""
    hello = await recv_frame(ws)
    assert isinstance(hello, wire.Hello)
    assert isinstance(await recv_frame(ws), wire.Config), "the config frame comes right after hello"
    frames: list[wire.Message] = []
    while True:
        frame = await recv_frame(ws)
        if isinstance(frame, wire.CaughtUp):
            return hello, frames, frame
        if not isinstance(frame, wire.CasesFrame):
            frames.append(frame)
