"""Connection cuts: clients reach the bridge through a TCP proxy that aborts a random connection every 100 events
(100 cuts over 10,000 events); they resume with ``since``. Every client ends with every seq exactly once, in order."""

from __future__ import annotations

import random
import time
from typing import Any

from tests.chaos.support import CuttingProxy, Posters, ResumingClient, chaos_seed, until
from tests.support.bridges import BridgeProcess

EVENTS = 10_000
CUTS = 100
CLIENTS = 5


async def test_random_connection_cuts_lose_and_repeat_nothing(bridge_factory: Any) -> None:
    rng = random.Random(chaos_seed())
    started = time.monotonic()
    bp: BridgeProcess = bridge_factory()
    token = bp.token()
    host, port = bp.url.removeprefix("http://").rsplit(":", 1)
    proxy = await CuttingProxy((host, int(port)), rng).start()
    clients = [ResumingClient(lambda: f"ws://127.0.0.1:{proxy.port}/v1/stream", token, f"client {i}").start()
               for i in range(CLIENTS)]
    posters = Posters(lambda: bp.url, n=16)
    try:
        await until(lambda: len(proxy.pipes) == CLIENTS, 10, "every client connected through the proxy")
        posters.next_case = 1
        posters.start()
        for k in range(1, CUTS + 1):
            await until(lambda k=k: posters.next_case > k * EVENTS // CUTS, 60, f"{k * EVENTS // CUTS} posted")
            await until(proxy.cut, 10, "a connection to cut")
        await until(lambda: posters.next_case > EVENTS, 60, "all events posted")
        await posters.stop()
        await posters.retry_unacked()
        head = max(posters.acked.values())
        assert posters.unacked == set() and head == posters.next_case - 1
        await until(lambda: all(len(c.seqs) >= head for c in clients), 60, "every client caught up")
        for c in clients:
            assert c.seqs == list(range(1, head + 1)), c.name
        assert proxy.cuts == CUTS
        connects = [c.connects for c in clients]
    finally:
        for c in clients:
            await c.close()
        await proxy.close()
    print(f"{head} events, {proxy.cuts} cuts, connects per client {connects}, {time.monotonic() - started:.1f} s")
