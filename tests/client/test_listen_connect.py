"""``trayapp listen`` (as a real subprocess and in-process) and ``trayapp connect`` against a real bridge."""

from __future__ import annotations

import io
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keyring
import pytest
from keyring.backends import fail

from tests.support.bridges import BridgeProcess, case_payload, cli
from tests.support.client import MemoryKeyring
from trayapp import settings as settings_mod
from trayapp.client import credentials
from trayapp.client.connect import prove, save_link
from trayapp.client.connection import ConnectionConfig
from trayapp.client.errors import ClientError, HistoryError
from trayapp.client.history import Cursor, MemoryCursor
from trayapp.client.listen import EXIT_CODES, listen, run_listen
from trayapp.client.proof import Outcome
from trayapp.core.link import build_link

from .test_bridge_integration import token_link
from .test_service import post

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]  # real bridge processes


def listen_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "trayapp.client.listen", *args]


def run(args: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=os.environ.copy())


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_listen_replays_and_prints_json_lines(bridge: BridgeProcess, tmp_path: Path) -> None:
    _, _, link = token_link(bridge)
    post(bridge.url, case_payload(1), case_payload(2, "chat.status.closed"))
    # --once 3: the two stored events replay, caught_up says so, then one live event ends the run. (With --once 2
    # the run may end on the second event, before caught_up is read.)
    proc = subprocess.Popen(listen_cmd("--link", link, "--since", "0", "--once", "3", "--timeout", "30"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    err_lines: queue.Queue[str] = queue.Queue()
    seen: list[str] = []

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            err_lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    while '"caught_up"' not in (line := err_lines.get(timeout=30)):
        seen.append(line)
    seen.append(line)
    post(bridge.url, case_payload(3))
    out, _ = proc.communicate(timeout=30)
    while not err_lines.empty():
        seen.append(err_lines.get())
    assert proc.returncode == 0, "".join(seen)
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(d["seq"], d["event"]["kind"], d["event"]["status"], d["event"]["case_id"]) for d in lines] == [
        (1, "case.new", "pending", "1"), (2, "chat.status", "closed", "2"), (3, "case.new", "pending", "3")]
    assert set(lines[0]) == {"seq", "id", "received_at", "event"}
    err = json_lines("".join(seen))
    assert {"type": "caught_up", "count": 2} in err
    assert any(d["type"] == "state" and d["state"] == "connected" for d in err)
    assert "tb_" not in "".join(seen)  # no token in what it prints


def test_listen_live_and_resume_from_data_dir(bridge: BridgeProcess, tmp_path: Path) -> None:
    _, _, link = token_link(bridge)
    data = tmp_path / "listen"
    proc = subprocess.Popen(listen_cmd("--link", link, "--data-dir", str(data), "--once", "1", "--timeout", "30"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stderr is not None

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    while '"caught_up"' not in lines.get(timeout=30):
        pass
    post(bridge.url, case_payload(1))
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert [json.loads(x)["seq"] for x in out.splitlines()] == [1]
    # Stopped; two more events; the next run resumes from the cursor in --data-dir.
    post(bridge.url, case_payload(2), case_payload(3))
    done = run(listen_cmd("--link", link, "--data-dir", str(data), "--once", "2", "--timeout", "30"))
    assert done.returncode == 0, done.stderr
    assert [json.loads(x)["seq"] for x in done.stdout.splitlines()] == [2, 3]


def test_listen_refused_token_and_bad_link(bridge: BridgeProcess) -> None:
    _, key, _ = token_link(bridge)
    refused = run(listen_cmd("--link", build_link(bridge.url, "tb_" + "x" * 43, key), "--timeout", "30"))
    assert refused.returncode == 3
    assert "token refused" in refused.stderr
    bad = run(listen_cmd("--link", "https://example.com"))
    assert bad.returncode == 2 and "not a trayapp connection link" in bad.stderr
    insecure = run(listen_cmd("--link", build_link("http://bridge.example.com", "tb_x", key)))
    assert insecure.returncode == 2 and "unencrypted" in insecure.stderr


def exit_line(stderr: str) -> dict[str, Any]:
    lines = [d for d in json_lines(stderr) if d["type"] == "exit"]
    assert len(lines) == 1, stderr
    return lines[0]


def test_listen_exit_codes_tell_what_is_wrong(bridge_factory: Callable[..., BridgeProcess]) -> None:
    bp, other = bridge_factory(), bridge_factory()
    token, key, link = token_link(bp, "leaver")
    _, other_key, _ = token_link(other)
    started = time.monotonic()
    mismatch = run(listen_cmd("--link", build_link(bp.url, token, other_key), "--timeout", "30"))
    assert mismatch.returncode == 5 and exit_line(mismatch.stderr)["reason"] == "key_mismatch"
    assert "does not match the alert server" in mismatch.stderr
    assert not any(d["type"] == "state" and d["state"] == "connected" for d in json_lines(mismatch.stderr))
    unreachable = run(listen_cmd("--link", build_link(bp.url.rsplit(":", 1)[0] + ":9", token, key), "--timeout", "30"))
    assert unreachable.returncode == 6 and exit_line(unreachable.stderr)["reason"] == "unreachable"
    assert time.monotonic() - started < 20  # each says so within seconds, not at --timeout
    kept = run(listen_cmd("--link", build_link(bp.url.rsplit(":", 1)[0] + ":9", token, key), "--keep-trying",
                          "--timeout", "2"))
    assert kept.returncode == 1  # --keep-trying: still retrying when the timeout expired
    # revoked while listening: close 4001
    proc = subprocess.Popen(listen_cmd("--link", link, "--timeout", "30"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    while '"caught_up"' not in proc.stderr.readline():
        pass
    cli("token", "revoke", "leaver", data_dir=bp.data_dir)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 4 and exit_line(err)["reason"] == "revoked"
    # revoked at the handshake: 403
    again = run(listen_cmd("--link", link, "--timeout", "30"))
    assert again.returncode == 4 and "revoked" in exit_line(again.stderr)["detail"]


def test_listen_help_documents_the_exit_codes() -> None:
    out = run(listen_cmd("--help")).stdout
    for code, words in EXIT_CODES.items():
        assert f"  {code}  {words}" in out


def test_listen_does_not_import_qt() -> None:
    code = ("import sys, trayapp.client.listen, trayapp.client.connect; "
            "bad = [m for m in sys.modules if m.startswith('PySide6')]; assert not bad, bad")
    assert run([sys.executable, "-c", code]).returncode == 0


def test_listen_with_stored_connection(bridge: BridgeProcess, memory_keyring: MemoryKeyring,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    _, _, link = token_link(bridge)
    save_link(link)
    post(bridge.url, case_payload(7))
    assert run_listen(["--since", "0", "--once", "1", "--timeout", "30"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out)["event"]["case_id"] == "7"


class BrokenDisk(MemoryCursor):
    def add(self, received: Any, epoch: str) -> Any:
        raise HistoryError("cannot store an event in the history: database or disk is full")


async def test_listen_internal_error_exit_code(bridge: BridgeProcess) -> None:
    token, key, _ = token_link(bridge)
    post(bridge.url, case_payload(1))
    out, err = io.StringIO(), io.StringIO()
    code = await listen(ConnectionConfig(bridge.url, token, key), BrokenDisk(Cursor("", 0)), timeout=30, out=out,
                        err=err)
    assert code == 7 and exit_line(err.getvalue())["reason"] == "internal"
    assert "disk is full" in exit_line(err.getvalue())["detail"] and out.getvalue() == ""


def test_listen_not_configured(memory_keyring: MemoryKeyring, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_listen(["--timeout", "1"]) == 2
    assert "trayapp connect" in capsys.readouterr().err


def test_connect_saves_and_verifies(bridge: BridgeProcess, memory_keyring: MemoryKeyring,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    token, key, link = token_link(bridge)
    post(bridge.url, case_payload(1))
    saved = save_link(link)
    assert token not in capsys.readouterr().out
    stored = settings_mod.load()
    assert (stored.bridge_url, stored.key) == (saved.bridge_url, saved.key) == (bridge.url, key)
    assert credentials.load_token(bridge.url) == token
    assert token not in settings_mod.settings_path().read_text()
    proven = prove()  # the stored connection
    assert proven.ok and "signing key verified" in proven.detail and token not in proven.detail


def test_connect_switching_bridges_removes_the_old_token(bridge_factory: Callable[..., BridgeProcess],
                                                         memory_keyring: MemoryKeyring) -> None:
    first, second = bridge_factory(), bridge_factory()
    save_link(token_link(first)[2])
    save_link(token_link(second)[2])
    assert [user for _, user in memory_keyring.store] == [second.url]


def test_test_connection_problems(bridge_factory: Callable[..., BridgeProcess], memory_keyring: MemoryKeyring) -> None:
    bp, other = bridge_factory(), bridge_factory()
    token, key, _ = token_link(bp)
    _, other_key, _ = token_link(other)
    assert "signing key verified (0 events so far)" in prove(build_link(bp.url, token, key)).detail
    mismatch = prove(build_link(bp.url, token, other_key))  # proven by hello: no event needed
    assert mismatch.outcome is Outcome.KEY_MISMATCH and "does not match the alert server" in mismatch.detail
    post(bp.url, case_payload(1))
    assert "signing key verified (1 events so far)" in prove(build_link(bp.url, token, key)).detail
    assert prove(build_link(bp.url, "tb_" + "y" * 43, key)).outcome is Outcome.TOKEN_REFUSED
    unreachable = prove(build_link("http://127.0.0.1:9", token, key), timeout=5)
    assert unreachable.outcome is Outcome.UNREACHABLE and "cannot reach" in unreachable.detail


def test_connect_without_keyring_saves_nothing(bridge: BridgeProcess) -> None:
    _, _, link = token_link(bridge)
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        with pytest.raises(ClientError, match="no secure keyring"):
            save_link(link)
    finally:
        keyring.set_keyring(previous)
    assert not settings_mod.settings_path().exists()


def test_connect_bad_link() -> None:
    with pytest.raises(ClientError, match="no token"):
        save_link("trayapp://connect?url=https://x")
    assert not settings_mod.settings_path().exists()
