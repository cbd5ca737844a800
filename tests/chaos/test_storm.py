"""Reconnect storm: 1,000 clients reconnect at once, each with its own ``since``, and all catch up."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import httpx

from benchmarks.bench_bridge import Deliveries, WsClient, raise_nofile
from tests.chaos.support import Posters, chaos_seed
from tests.support.bridges import BridgeProcess

CLIENTS = 1000
EVENTS = 500


async def test_reconnect_storm_of_1000_clients(bridge_factory: Any) -> None:
    need = CLIENTS * 2 + 512
    assert raise_nofile() >= need, "RLIMIT_NOFILE too low for the storm"  # before the bridge starts: it inherits it
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
        loop.create_connection(lambda s=s: WsClient(token, host, int(port), Deliveries(), since=s), host, int(port))
        for s in sinces))
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
