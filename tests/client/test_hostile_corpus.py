"""The hostile-content corpus (``tests.support.hostile_corpus``) through a real bridge (SQLite and Redis) and the real
client: every hostile webhook is accepted, stored and delivered, made safe to show, and after each one the next
ordinary event is stored and delivered too. The bridge runs with the largest ``--max-body`` it accepts, and the
corpus's bodies of exactly that size that inflate when escaped must still fit the client's frame limit."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import hostile_corpus
from tests.support.bridges import BOTH_BACKENDS, SECRET, BridgeProcess, cli
from tests.support.client import Recorder
from tests.support.hostile_corpus import HostileCase, corpus, normal_case
from trayapp.client.connection import ConnectionConfig
from trayapp.client.history import Cursor, History
from trayapp.core import text, wire

from .test_bridge_integration import client

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]  # real bridge processes

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
    # trayapp listen (with its own SQLite cursor) gets all of them too, from the start, and prints each as a JSON line
    done = subprocess.run([sys.executable, "-m", "trayapp.client.listen", "--link", link, "--since", "0", "--once",
                           str(len(bodies)), "--timeout", "120", "--data-dir", str(tmp_path / "listen")],
                          capture_output=True, timeout=180)
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


# --- the property against the real bridge: whatever JSON objects Acquire posts, the client's cursor reaches the head --

_TEXT = st.lists(st.one_of(st.characters(), st.integers(0xD800, 0xDFFF).map(chr),
                           st.sampled_from(["\x00", "\u202e", "<img src=x>", '"', "\\", "\n"])),
                 max_size=40).map("".join)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False) | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=25,
)
_PAYLOADS = st.lists(
    st.one_of(
        st.dictionaries(_TEXT, _JSON, max_size=6),  # any JSON object at all
        st.builds(hostile_corpus.v2_payload, _TEXT, st.integers(0, 10**6)),
        st.builds(hostile_corpus.v1_payload, _TEXT, st.integers(0, 10**6)),
        st.builds(lambda e, d: {"event": e, "data": d}, st.sampled_from(["case.new", "chat.message", "CHAT_ON_CLOSE"]),
                  _JSON),  # known names over arbitrary shapes
    ),
    min_size=1,
    max_size=8,
)


async def _deliver(bp: BridgeProcess, token: str, key: str, payloads: list[Any], data_dir: Path) -> None:
    async with httpx.AsyncClient(base_url=bp.url, timeout=60) as http:
        start = (await http.get("/readyz")).json()["head"]
        await post_all(bp.url, [hostile_corpus.stringify(p) for p in payloads])  # repeats are duplicates: no event
        head = (await http.get("/readyz")).json()["head"]
    recorder = Recorder()
    with History(data_dir / "history.sqlite3") as history:
        history.skip_to("", start)
        async with client(ConnectionConfig(bp.url, token, key), history, recorder):
            await recorder.until(lambda: (history.cursor() or Cursor("", 0)).seq >= head, 60)
        assert recorder.failures == []
        assert len(recorder.events) + len(recorder.skipped) == head - start  # every new event accounted for
        assert {row.event.seq for row, _ in recorder.events} <= set(range(start + 1, head + 1))


@settings(max_examples=20, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(payloads=_PAYLOADS)
def test_any_json_objects_the_cursor_reaches_the_bridge_head(bridge: BridgeProcess, payloads: list[Any]) -> None:
    out: dict[str, str] | None = getattr(bridge, "property_token", None)  # one for all examples: `token add` is slow
    if out is None:
        out = json.loads(bridge.cli("token", "add", "agent", "--json", "--url", bridge.url).stdout)
        bridge.property_token = out  # type: ignore[attr-defined]
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(_deliver(bridge, out["token"], out["key"], payloads, Path(tmp)))
