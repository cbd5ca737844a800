"""The demo helpers: the simulator (CLI and API) and the embedded bridge."""

from __future__ import annotations

import asyncio
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import websockets

from tests.support.bridges import BIN, SECRET, BridgeProcess, connect, recv_frame, recv_until_caught_up
from trayapp.bridge.simulator import Scenario
from trayapp.core import wire
from trayapp.demo.bridge import start_embedded


async def test_simulate_cli_posts_signed_webhooks(bridge: BridgeProcess) -> None:
    ws = await connect(bridge, bridge.token())
    try:
        await recv_until_caught_up(ws)
        proc = await asyncio.to_thread(
            subprocess.run,
            [str(BIN), "simulate", "--url", bridge.url, "--secret", SECRET, "--interval", "0.01", "--count", "5"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.count(": 200 ") == 5, proc.stdout
        seqs = []
        try:
            for _ in range(5):
                seqs.append((await recv_frame(ws, timeout=30)).seq)  # type: ignore[union-attr]
        except TimeoutError:
            metrics = await asyncio.to_thread(_get, bridge.url + "/metrics")
            sent = [
                line
                for line in metrics.splitlines()
                if line.startswith(("trayapp_bridge_events", "trayapp_bridge_clients"))
            ]
            raise AssertionError(
                f"frames {seqs} arrived, then none for 30 s; simulate said:\n{proc.stdout}\n"
                f"bridge metrics:\n" + "\n".join(sent)
            ) from None
        assert seqs == [1, 2, 3, 4, 5]
    finally:
        await ws.close()


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return str(resp.read().decode())


async def test_embedded_bridge_with_the_scenario(tmp_path: Path) -> None:
    bridge = await asyncio.to_thread(start_embedded, tmp_path)
    try:
        key = wire.key_from_text(bridge.key_text)
        ws = await websockets.connect(
            bridge.url.replace("http://", "ws://") + "/v1/stream?since=0",
            additional_headers={"Authorization": f"Bearer {bridge.token}"},
        )
        scenario = Scenario(seed=7)
        seqs = set()
        for _ in range(60):
            status, answer = await asyncio.to_thread(bridge.post, scenario.next_payload())
            assert status == 200
            seqs.add(answer["seq"])  # two identical agent updates in one millisecond are one delivery
        kinds: set[Any] = set()
        names: set[str] = set()
        while len(names) < len(seqs):
            frame = await recv_frame(ws)
            if isinstance(frame, wire.EventFrame):
                event = wire.verify_frame(key, frame).event
                kinds.add((event.kind, event.status))
                names.add(frame.id)
                assert event.kind != "other"
        assert {k for k, _ in kinds} >= {"case.new", "chat.status", "agent.status"}
        await ws.close()
        page = await asyncio.to_thread(lambda: urllib.request.urlopen(bridge.url + "/demo/case/5123").read())
        assert b"Case 5123" in page
        assert bridge.link.startswith("trayapp://connect?url=")
    finally:
        await asyncio.to_thread(bridge.stop)
