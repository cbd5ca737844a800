"""The hostile-content corpus (``tests/hostile_corpus.py``) through a real bridge (SQLite and Redis) and the real
client: every hostile webhook is accepted, stored and delivered, made safe to show, and after each one the next
ordinary event is stored and delivered too. The bridge runs with the largest ``--max-body`` it accepts, and the
corpus's bodies of exactly that size that inflate when escaped must still fit the client's frame limit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.hostile_corpus import HostileCase, corpus, normal_case
from tests.integration.conftest import BOTH_BACKENDS, SECRET, BridgeProcess, cli
from trayapp.client.connection import ConnectionConfig
from trayapp.client.history import History
from trayapp.core import text, wire

from .conftest import Recorder
from .test_bridge_integration import client

pytestmark = pytest.mark.timeout(240)

#: The largest --max-body the bridge starts with (one byte more is refused: see test_max_body_refused_at_start).
LARGEST_MAX_BODY = int(str(wire.max_body_problem(10 << 20)).rsplit("--max-body ", 1)[1].split()[0])


async def post_all(url: str, bodies: list[str]) -> list[int]:
    seqs = []
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        for body in bodies:
            raw, headers = HostileCase("", body).signed(SECRET)
            response = await http.post("/webhooks/acquire", content=raw, headers=headers)
            assert response.status_code == 200, (body[:200], response.text)
            seqs.append(response.json()["seq"])
    return seqs


def interleaved(cases: list[HostileCase]) -> list[str]:
    bodies = []
    for n, case in enumerate(cases):
        bodies += [case.body, normal_case(n)]
    return bodies


@BOTH_BACKENDS
async def test_hostile_corpus_through_the_real_bridge_and_client(bridge_factory: Any, tmp_path: Path) -> None:
    bp: BridgeProcess = bridge_factory("--max-body", str(LARGEST_MAX_BODY))
    out = json.loads(bp.cli("token", "add", "agent", "--json", "--url", bp.url).stdout)  # in this backend's store
    token, key, link = out["token"], out["key"], out["link"]
    cases = corpus(LARGEST_MAX_BODY)
    assert sum(len(c.body.encode()) == LARGEST_MAX_BODY for c in cases) >= 6
    bodies = interleaved(cases)
    recorder = Recorder()
    with History(tmp_path / "history.sqlite3") as history:
        half = len(bodies) // 2
        await post_all(bp.url, bodies[:half])  # a backlog ...
        history.skip_to("", 0)
        async with client(ConnectionConfig(bp.url, token, key), history, recorder):
            await recorder.until(lambda: recorder.caught_up, 60)
            seqs = await post_all(bp.url, bodies[half:])  # ... and live
            await recorder.until(lambda: len(recorder.events) + len(recorder.skipped) >= len(bodies), 120)
        assert recorder.failures == [] and recorder.skipped == []
        assert recorder.seqs == list(range(1, len(bodies) + 1)) and seqs[-1] == len(bodies)
        cursor = history.cursor()
        assert cursor is not None and cursor.seq == len(bodies)
        for (row, _), body in zip(recorder.events, bodies, strict=True):
            stored = history.get(row.event.id)
            assert stored is not None and stored.event.body == body  # the signed body, byte-exact
            for name, cap in text.CAPS.items():
                value = getattr(stored.event.event, name)
                if value:  # acquire_event is "" when absent
                    assert value == text.field(name, value) and len(value) <= cap, (name, value[:50])
        normal = [row.event.event for row, _ in recorder.events[1::2]]
        assert [e.case_id for e in normal] == [f"ok-{n}" for n in range(len(cases))]
    # trayapp listen gets all of them too, from the start, and prints each as a JSON line
    done = subprocess.run([sys.executable, "-m", "trayapp.client.listen", "--link", link, "--since", "0", "--once",
                           str(len(bodies)), "--timeout", "120"], capture_output=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [json.loads(line) for line in done.stdout.decode("utf-8").splitlines()]
    assert [line["seq"] for line in lines] == list(range(1, len(bodies) + 1))
    assert b"event_skipped" not in done.stderr and b"verification_failed" not in done.stderr


def test_max_body_refused_at_start(tmp_path: Path) -> None:
    ok = cli("serve", "--max-body", str(LARGEST_MAX_BODY + 1), "--port", "0", data_dir=tmp_path, check=False)
    assert ok.returncode != 0
    assert f"--max-body {LARGEST_MAX_BODY + 1} is too large" in ok.stderr
    assert f"use --max-body {LARGEST_MAX_BODY} or less" in ok.stderr
    assert "Traceback" not in ok.stderr
