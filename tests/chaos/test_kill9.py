"""kill -9 of a bridge process at random moments under load, ROUNDS rounds, on SQLite and on Redis.

Every webhook that got a 200 reaches every client afterwards, and none twice: unacknowledged deliveries are retried
(as Acquire does) and must be deduplicated if the killed process had stored them. Clients resume with ``since``
across every kill. On Redis a second bridge process that is never killed serves a client too (fan-out of events
appended by another process) while the first one is killed and restarted.
"""

from __future__ import annotations

import os
import random
import time
from typing import Any

from tests.chaos.support import Posters, ResumingClient, chaos_seed, until
from tests.support.bridges import BOTH_BACKENDS, BridgeProcess, connect, recv_until_caught_up
from trayapp.core import wire

# 20 rounds (the number) take ~15-25 s per backend on the 2-core test machine; TRAYAPP_CHAOS_ROUNDS changes it
ROUNDS = int(os.environ.get("TRAYAPP_CHAOS_ROUNDS", "20"))


@BOTH_BACKENDS
async def test_kill9_at_random_moments_under_load(bridge_factory: Any, backend: str) -> None:
    rng = random.Random(chaos_seed())
    started = time.monotonic()
    first: BridgeProcess = bridge_factory()
    token = first.token()
    current = {"bp": first}
    posters = Posters(lambda: current["bp"].url, n=4)
    clients = [ResumingClient(lambda: current["bp"].ws_url, token, "client of the killed process").start()]
    if backend == "redis":
        stable: BridgeProcess = bridge_factory()
        clients.append(ResumingClient(lambda: stable.ws_url, token, "client of the other process").start())
    try:
        for _ in range(ROUNDS):
            posters.start()
            target = len(posters.acked) + rng.randint(5, 80)
            await until(lambda t=target: len(posters.acked) >= t, 30, f"{target} acknowledged webhooks")
            current["bp"].kill9()  # a random moment: whatever the 4 posters had in flight
            await posters.stop()
            current["bp"] = bridge_factory(data_dir=current["bp"].data_dir)
        await posters.retry_unacked()
        stored = posters.next_case - 1
        head = max(posters.acked.values())
        assert head == stored, (head, stored)  # every delivery stored exactly once, retries deduplicated
        assert sorted(posters.acked.values()) == list(range(1, head + 1))
        await until(lambda: all(len(c.seqs) >= head for c in clients), 30, "every client caught up")
        for c in clients:
            assert c.seqs == list(range(1, head + 1)), c.name  # each seq exactly once, in order, across kills
            assert {case: seq for seq, case in c.cases.items()} == posters.acked
        ws = await connect(current["bp"], token, since=0, max_size=None)
        _, frames, caught = await recv_until_caught_up(ws)
        await ws.close()
        assert caught.head == head
        assert [f.seq for f in frames if isinstance(f, wire.EventFrame)] == list(range(1, head + 1))
    finally:
        for c in clients:
            await c.close()
    print(f"{backend}: {ROUNDS} kill -9 rounds, {head} events ({posters.duplicates} retries answered as duplicates), "
          f"{clients[0].connects} connects of the resuming client, {time.monotonic() - started:.1f} s")
