"""Reconnect storm: 1,000 clients reconnect at once, each with its own ``since``, and all catch up."""

from __future__ import annotations

import asyncio
import base64
import os
import random
import resource
import time
from typing import Any

import httpx

from tests.chaos.support import Posters, chaos_seed
from tests.integration.conftest import BridgeProcess
from trayapp.bridge.bench import Deliveries, WsClient

CLIENTS = 1000
EVENTS = 500


class StormClient(WsClient):
    """The benchmark's minimal WebSocket client, connecting with ``?since=N``."""

    def __init__(self, token: str, host: str, port: int, since: int) -> None:
        super().__init__(token, host, port, Deliveries())
        self.since = since

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            f"GET /v1/stream?since={self.since} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Authorization: Bearer {self.token}\r\n\r\n".encode()
        )


def raise_nofile(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(need, soft)), hard))
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= need, "RLIMIT_NOFILE too low for the storm"


async def test_reconnect_storm_of_1000_clients(bridge_factory: Any) -> None:
    raise_nofile(CLIENTS * 2 + 512)  # before the bridge starts: it inherits the limit
    rng = random.Random(chaos_seed())
    bp: BridgeProcess = bridge_factory("--max-sockets-per-token", "0")
    token = bp.token()
    posters = Posters(lambda: bp.url, n=16)
    posters.start()
    while posters.next_case <= EVENTS:
        await asyncio.sleep(0.01)  # polling the posted count
    await posters.stop()
    head = max(posters.acked.values())
    host, port = bp.url.removeprefix("http://").rsplit(":", 1)
    loop = asyncio.get_running_loop()
    sinces = [rng.randint(0, head // 2) for _ in range(CLIENTS)]
    started = time.perf_counter()
    conns = await asyncio.gather(*(
        loop.create_connection(lambda s=s: StormClient(token, host, int(port), s), host, int(port)) for s in sinces))
    clients = [proto for _, proto in conns]
    await asyncio.wait_for(asyncio.gather(*(c.caught_up for c in clients)), 60)
    elapsed = time.perf_counter() - started
    try:
        for c, since in zip(clients, sinces, strict=True):
            assert [seq for seq, _ in c.deliveries.arrivals] == list(range(since + 1, head + 1))
        frames = sum(head - s for s in sinces)
        print(f"reconnect storm: {CLIENTS} clients, {frames} backlog frames (since 0..{head // 2}, head {head}), "
              f"all caught up in {elapsed:.2f} s")
        async with httpx.AsyncClient(base_url=bp.url) as http:
            assert "trayapp_bridge_connected_clients 1000.0" in (await http.get("/metrics")).text
    finally:
        for transport, _ in conns:
            transport.abort()
    assert elapsed < 30
    assert "Traceback" not in bp.stderr() and "ERROR" not in bp.stderr()
