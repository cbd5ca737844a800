"""The CLI on the Redis store: ``serve --redis-url`` / ``$TRAYAPP_REDIS_URL``, the ``token`` commands, and a start
while Redis is down (the bridge waits, logging, and listens once Redis answers)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.bridges import BIN, SECRET, BridgeProcess, connect, post, recv_until_caught_up
from tests.support.redis_server import redis_server

pytestmark = pytest.mark.redis


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "ACQUIRE_WEBHOOK_SECRET": SECRET, **extra}
    env.pop("TRAYAPP_BRIDGE_DATA", None)
    if "TRAYAPP_REDIS_URL" not in extra:
        env.pop("TRAYAPP_REDIS_URL", None)
    return env


def _token(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), "token", *args], capture_output=True, text=True, timeout=60, env=env)


async def test_serve_and_tokens_on_redis_by_flag_and_env(tmp_path: Path) -> None:
    with redis_server(tmp_path) as srv:
        # the token command by environment variable, the server by flag: one store
        env = _env(TRAYAPP_REDIS_URL=srv.url)
        added = _token("add", "maria", "--json", "--data-dir", str(tmp_path / "cli"), env=env)
        assert added.returncode == 0, added.stderr
        token = json.loads(added.stdout)["token"]
        bp = BridgeProcess(tmp_path / "b", ["--redis-url", srv.url], _env()).start()
        try:
            async with httpx.AsyncClient(base_url=bp.url, timeout=10) as http:
                assert (await http.get("/v1/key")).json()["key"] == json.loads(added.stdout)["key"]
                assert (await post(http, {"event": "case.new", "data": {"case": {"id": 1}}})).json()["seq"] == 1
            ws = await connect(bp, token, since=0)
            _, frames, caught = await recv_until_caught_up(ws)
            assert caught.head == 1 and len(frames) == 1
            listed = _token("list", "--json", "--redis-url", srv.url, env=_env())
            assert [r["name"] for r in json.loads(listed.stdout)] == ["maria"]
            revoked = _token("revoke", "maria", "--redis-url", srv.url, env=_env())
            assert revoked.returncode == 0 and "revoked maria" in revoked.stdout
            await ws.wait_closed()
            assert ws.close_code == 4001
        finally:
            bp.stop()
        assert "Traceback" not in bp.stderr()


def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"redis://:hunter2@127.0.0.1:{s.getsockname()[1]}/0"


def test_token_command_with_redis_down_exits_2_with_a_clear_message(tmp_path: Path) -> None:
    url = _dead_url()
    started = time.monotonic()
    out = _token("list", "--redis-url", url, env=_env())
    assert out.returncode == 2
    assert out.stderr.startswith("trayapp-bridge: Redis not reachable"), out.stderr
    assert "(Redis URL redis://:***@127.0.0.1:" in out.stderr
    assert "hunter2" not in out.stderr and "Traceback" not in out.stderr
    assert time.monotonic() - started < 10


def test_bad_redis_url_exits_2(tmp_path: Path) -> None:
    out = subprocess.run([str(BIN), "serve", "--port", "0", "--data-dir", str(tmp_path), "--redis-url",
                          "http://127.0.0.1:1/0"], capture_output=True, text=True, timeout=30, env=_env())
    assert out.returncode == 2 and "--redis-url must start with redis://" in out.stderr


def _wait_for_line(path: Path, text: str, proc: subprocess.Popen[Any], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        assert proc.poll() is None, path.read_text()
        time.sleep(0.02)
    raise AssertionError(f"{text!r} not in {path.read_text() if path.exists() else '(no log)'}")


async def test_serve_waits_for_redis_then_starts(tmp_path: Path) -> None:
    with redis_server(tmp_path) as srv:  # skips (or fails in CI) without redis-server
        srv.stop()  # the port is known; Redis is down
        bp = BridgeProcess(tmp_path / "b", ["--redis-url", srv.url], _env())
        bp.data_dir.mkdir(parents=True)
        proc_started = False
        try:
            import threading

            result: list[Any] = []
            t = threading.Thread(target=lambda: result.append(bp.start(timeout=60)), daemon=True)
            t.start()
            deadline = time.monotonic() + 20
            while bp.proc is None and time.monotonic() < deadline:
                time.sleep(0.01)
            assert bp.proc is not None
            _wait_for_line(bp.stderr_path, "waiting for Redis at redis://127.0.0.1:", bp.proc)
            assert not bp.stdout_lines  # not listening yet
            srv.start()
            t.join(30)
            assert result, bp.stderr()
            proc_started = True
            async with httpx.AsyncClient(base_url=bp.url, timeout=10) as http:
                assert (await http.get("/readyz")).status_code == 200
        finally:
            bp.stop()
        assert proc_started
        assert bp.proc is not None and bp.proc.returncode == 0
        assert "Traceback" not in bp.stderr()


def test_sigterm_while_waiting_for_redis_exits_0(tmp_path: Path) -> None:
    url = _dead_url()
    log = tmp_path / "stderr.log"
    with open(log, "w") as err:
        proc = subprocess.Popen([str(BIN), "serve", "--port", "0", "--data-dir", str(tmp_path), "--redis-url", url],
                                stdout=subprocess.PIPE, stderr=err, text=True, env=_env())
    try:
        _wait_for_line(log, "waiting for Redis at redis://:***@127.0.0.1:", proc)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stdout is not None
        assert proc.stdout.read() == ""
        proc.stdout.close()
    text = log.read_text()
    assert "hunter2" not in text and "Traceback" not in text
