"""Redis-only behaviour of :class:`~trayapp.bridge.store_redis.RedisStore` against a real ``redis-server``:
several instances (= bridge processes) on one Redis, outages (SIGKILL / SIGSTOP of the server) and recovery.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.test_store_contract import make_item
from tests.support.redis_server import BridgeOnRedis, RedisServer, redis_server, wait_for
from trayapp.bridge.errors import ConfigError, StoreUnavailable
from trayapp.bridge.ingest import FrameSigner
from trayapp.bridge.store import StoredEvent
from trayapp.bridge.store_factory import make_store
from trayapp.bridge.store_redis import RedisStore
from trayapp.bridge.store_sqlite import SQLiteStore
from trayapp.bridge.tokens import new_token, token_hash
from trayapp.core import wire
from trayapp.core.signature import hmac_hex

pytestmark = pytest.mark.redis
SECRET = "whsec_test_0123456789abcdef"


class Node:
    """One bridge process's store, with a listener recording what it was told."""

    def __init__(self, store: RedisStore) -> None:
        self.store = store
        self.seen: list[StoredEvent] = []
        store.add_listener(self.seen.extend)

    @property
    def seqs(self) -> list[int]:
        return [e.seq for e in self.seen]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(tmp_path) as srv:
        yield srv


@pytest.fixture
async def nodes(server: RedisServer) -> AsyncIterator[list[Node]]:
    opened: list[Node] = []
    for _ in range(2):
        store = RedisStore(server.url, timeout=0.5, block_ms=500)
        signer = FrameSigner()
        await store.open(signer)
        signer.key = await store.signing_key()
        signer.epoch = store.epoch
        opened.append(Node(store))
    try:
        yield opened
    finally:
        for node in opened:
            await node.store.close()


async def test_two_instances_one_gap_free_sequence_same_order(nodes: list[Node]) -> None:
    a, b = nodes
    assert a.store.epoch == b.store.epoch
    results = await asyncio.gather(*(
        (a if i % 2 else b).store.append(make_item(i)) for i in range(200)
    ))
    assert sorted(r.seq for r in results) == list(range(1, 201))
    await wait_for(lambda: len(a.seen) >= 200 and len(b.seen) >= 200, what="both listeners at 200")
    assert a.seqs == list(range(1, 201))
    assert b.seqs == a.seqs
    assert [e.frame for e in a.seen] == [e.frame for e in b.seen]  # deterministic signatures: same bytes
    public = (await a.store.signing_key()).public_key()
    for e in b.seen[:5]:
        frame = wire.decode(e.frame)
        assert isinstance(frame, wire.EventFrame)
        wire.verify_frame(public, frame)


async def test_same_delivery_racing_on_two_instances_is_stored_once(nodes: list[Node]) -> None:
    a, b = nodes
    for i in range(20):
        ra, rb = await asyncio.gather(a.store.append(make_item(i)), b.store.append(make_item(i)))
        assert ra.seq == rb.seq == i + 1
        assert sorted([ra.duplicate, rb.duplicate]) == [False, True]
    assert (await a.store.bounds()).head == 20
    await wait_for(lambda: len(a.seen) >= 20 and len(b.seen) >= 20, what="20 events at both")
    assert a.seqs == b.seqs == list(range(1, 21))


async def test_redis_killed_then_restarted(server: RedisServer, nodes: list[Node]) -> None:
    a, b = nodes
    for i in range(10):
        await a.store.append(make_item(i))
    await wait_for(lambda: len(b.seen) == 10, what="10 events at b")

    server.kill()
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        await a.store.append(make_item(100))
    assert time.monotonic() - started < 1.5
    with pytest.raises(StoreUnavailable):
        await b.store.ping()
    with pytest.raises(StoreUnavailable):
        await b.store.bounds()
    burst = await asyncio.gather(*(a.store.append(make_item(200 + i)) for i in range(20)), return_exceptions=True)
    assert all(isinstance(r, StoreUnavailable) for r in burst)  # nothing acknowledged
    assert time.monotonic() - started < 3.0

    server.start()  # same port and dir: reloads the AOF
    await wait_for(_pings(a.store), what="a reconnects")
    bounds = await a.store.bounds()
    assert (bounds.first, bounds.head) == (1, 10)  # everything acknowledged survived SIGKILL, nothing else
    results = [await b.store.append(make_item(10 + i)) for i in range(5)]
    assert [r.seq for r in results] == [11, 12, 13, 14, 15]
    await wait_for(lambda: len(a.seen) >= 15 and len(b.seen) >= 15, timeout=15, what="fan-out resumes")
    assert a.seqs == b.seqs == list(range(1, 16))


async def test_redis_hanging_answers_within_a_second_and_recovers(server: RedisServer, nodes: list[Node]) -> None:
    a, b = nodes
    await a.store.append(make_item(0))
    server.pause()
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            await a.store.append(make_item(1))
        assert time.monotonic() - started < 1.5
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            await b.store.ping()
        assert time.monotonic() - started < 1.5
    finally:
        server.resume()
    # the timed-out append may have reached Redis after all: a retry gets its one seq, never a second one
    await wait_for(_pings(a.store), what="a answers again")
    retry = await a.store.append(make_item(1))
    assert retry.seq == 2
    assert (await b.store.append(make_item(2))).seq == 3
    await wait_for(lambda: len(a.seen) >= 3 and len(b.seen) >= 3, timeout=15, what="fan-out after the pause")
    assert a.seqs == b.seqs == [1, 2, 3]


async def test_prune_by_one_instance_is_respected_by_the_others_cache(nodes: list[Node]) -> None:
    a, b = nodes
    base = time.time() - 1000
    for i in range(6):
        await a.store.append(make_item(i, base + i))
    await wait_for(lambda: len(b.seen) == 6, what="b cached all 6 frames")
    assert [r.seq for r in await b.store.read(0, 10)] == [1, 2, 3, 4, 5, 6]
    assert await a.store.prune(base + 2.5) == 3
    bounds = await b.store.bounds()  # what a stream handshake / replay page does first
    assert (bounds.first, bounds.head) == (4, 6)
    assert [r.seq for r in await b.store.read(0, 10)] == [4, 5, 6]
    assert [r.seq for r in await b.store.read(4, 1)] == [5]


async def test_store_recreated_under_a_running_process_is_refused(server: RedisServer, nodes: list[Node]) -> None:
    a, _ = nodes
    await a.store.append(make_item(0))
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(server.url)
    try:
        await client.flushall()  # what a Redis without persistence does on restart
    finally:
        await client.aclose()
    with pytest.raises(StoreUnavailable, match="recreated"):
        await a.store.append(make_item(1))
    with pytest.raises(StoreUnavailable, match="recreated"):
        await a.store.ping()  # /readyz: not ready


async def test_durability_settings_are_checked(nodes: list[Node]) -> None:
    assert nodes[0].store.durable is True


async def test_redis_unreachable_at_open(tmp_path: Path) -> None:
    store = RedisStore("redis://127.0.0.1:1/0", timeout=0.5)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        await store.open(FrameSigner())
    assert time.monotonic() - started < 1.5
    await store.close()


def test_factory(tmp_path: Path) -> None:
    assert isinstance(make_store(data_dir=tmp_path, redis_url=None), SQLiteStore)
    assert isinstance(make_store(data_dir=tmp_path, redis_url="redis://127.0.0.1:6379/0"), RedisStore)


def _pings(store: RedisStore) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        try:
            await store.ping()
        except StoreUnavailable:
            return False
        return True

    return check


async def test_bad_urls_are_config_errors(tmp_path: Path) -> None:
    for url in ("redis://127.0.0.1:6379/0?protocol=3", "http://127.0.0.1:6379/0"):
        with pytest.raises(ConfigError):
            await make_store(data_dir=tmp_path, redis_url=url).open()


class StreamClient:
    """A WebSocket client of one bridge process that records every event frame and the close code."""

    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.frames: list[str] = []
        self.code: int | None = None
        self.hello = asyncio.Event()

    async def run(self, ws_url: str, token: str) -> None:
        import websockets

        async with websockets.connect(ws_url + "?since=0",
                                      additional_headers={"Authorization": f"Bearer {token}"}) as ws:
            try:
                async for message in ws:
                    data = json.loads(message)
                    if data["type"] == "caught_up":
                        self.hello.set()
                    elif data["type"] == "event":
                        assert isinstance(message, str)
                        self.seqs.append(data["seq"])
                        self.frames.append(message)
            except websockets.ConnectionClosed:
                pass
            self.code = ws.close_code


def signed_post(n: int) -> tuple[str, dict[str, str]]:
    body = json.dumps({"event": "case.new", "account_id": "acc", "data": {"case": {"id": str(n)}}})
    return body, {"content-type": "application/json", "x-acquire-signature": hmac_hex(SECRET, body)}


async def test_three_bridge_processes_on_one_redis(server: RedisServer, tmp_path: Path) -> None:
    """Webhooks round-robin over 3 real bridge processes; a client on each gets every event once, in the same
    order; a duplicate on another process is stored once; a Redis outage answers 503 quickly and everything
    recovers by itself; a revocation closes the sockets on every process."""
    import httpx

    bridges = [BridgeOnRedis(tmp_path / f"bridge{i}", server.url, SECRET).spawn() for i in range(3)]
    tasks: list[asyncio.Task[None]] = []
    try:
        for bridge in bridges:
            bridge.wait_ready()
        admin = RedisStore(server.url)
        await admin.open()
        token = new_token()
        await admin.add_token("agent", token_hash(token))
        async with httpx.AsyncClient(timeout=10) as http:
            keys = {(await http.get(b.url + "/v1/key")).json()["key"] for b in bridges}
            assert len(keys) == 1
            clients = [StreamClient() for _ in bridges]
            tasks = [asyncio.create_task(c.run(b.ws_url, token)) for c, b in zip(clients, bridges, strict=True)]
            for c in clients:
                await asyncio.wait_for(c.hello.wait(), 10)

            async def post(n: int, bridge: BridgeOnRedis) -> httpx.Response:
                body, headers = signed_post(n)
                return await http.post(bridge.url + "/webhooks/acquire", content=body, headers=headers)

            answers = await asyncio.gather(*(post(n, bridges[n % 3]) for n in range(60)))
            assert [a.status_code for a in answers] == [200] * 60
            assert sorted(a.json()["seq"] for a in answers) == list(range(1, 61))
            again = [(await post(7, b)).json() for b in bridges]  # the same delivery, retried on every process
            assert {a["seq"] for a in again} == {next(a.json()["seq"] for a in answers if a.request.content ==
                                                      signed_post(7)[0].encode())}
            assert all(a["duplicate"] for a in again)
            await wait_for(lambda: all(len(c.seqs) >= 60 for c in clients), what="60 events on every client")
            for c in clients:
                assert c.seqs == list(range(1, 61))
                assert c.frames == clients[0].frames

            server.pause()  # hanging Redis
            try:
                started = time.monotonic()
                hung = await post(100, bridges[0])
                assert hung.status_code == 503 and time.monotonic() - started < 1.6, hung.text
                assert (await http.get(bridges[1].url + "/readyz")).status_code == 503
            finally:
                server.resume()
            server.kill()
            started = time.monotonic()
            down = await post(100, bridges[1])
            assert down.status_code == 503 and time.monotonic() - started < 1.5
            assert (await http.get(bridges[2].url + "/readyz")).status_code == 503
            server.start()

            async def all_ready() -> bool:
                codes = [(await http.get(b.url + "/readyz")).status_code for b in bridges]
                return codes == [200, 200, 200]

            await wait_for(all_ready, what="every bridge ready again")
            # the delivery that hung may have been stored when Redis woke up: either way it has seq 61, once
            assert (await post(100, bridges[0])).json()["seq"] == 61
            await wait_for(lambda: all(len(c.seqs) >= 61 for c in clients), timeout=15,
                           what="live fan-out on every process after the outage")
            for c in clients:
                assert c.seqs == list(range(1, 62))

            assert await admin.revoke_token("agent")
            started = time.monotonic()
            await asyncio.wait_for(asyncio.gather(*tasks), 5)
            assert [c.code for c in clients] == [4001, 4001, 4001]
            assert time.monotonic() - started < 1.5
        await admin.close()
    finally:
        for task in tasks:
            task.cancel()
        for bridge in bridges:
            bridge.stop()
    assert [b.proc.returncode for b in bridges if b.proc] == [0, 0, 0]
    for bridge in bridges:
        log = bridge.log.read_text()
        assert "Traceback" not in log and " ERROR " not in log, log


async def test_a_store_from_before_the_case_state_is_folded_once_when_opened(server: RedisServer,
                                                                             nodes: list[Node]) -> None:
    import dataclasses

    import redis.asyncio as aioredis

    from tests.integration.test_store_contract import comparable, folded
    from tests.support.cases import case_item, case_story

    items = [case_item(p, time.time() + i) for i, p in enumerate(case_story())]
    for item in items:  # as an older bridge stored them: no case updates, no marker
        await nodes[0].store.append(dataclasses.replace(item, case=None))
    client = aioredis.Redis.from_url(server.url)
    try:
        await client.delete("{trayapp}:cases:folded")
        assert (await nodes[0].store.open_cases()).cases == []
        again = RedisStore(server.url)
        signer = FrameSigner()
        await again.open(signer)  # the first serving process folds them ...
        try:
            assert comparable((await again.open_cases()).cases) == comparable(folded(items))
            assert await client.get("{trayapp}:cases:folded") == str(len(items)).encode()
        finally:
            await again.close()
        await client.hset("{trayapp}:cases:open", "marker-test", "{}")  # ... and only once
        third = RedisStore(server.url)
        await third.open(FrameSigner())
        await third.close()
        assert await client.hget("{trayapp}:cases:open", "marker-test") == b"{}"
    finally:
        await client.hdel("{trayapp}:cases:open", "marker-test")
        await client.aclose()
