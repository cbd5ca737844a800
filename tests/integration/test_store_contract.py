"""The :class:`~trayapp.bridge.store.Store` contract, run against every backend (SQLite and Redis) so they cannot drift.

Each test gets ``stores``: ``await stores.open()`` opens a fresh instance of the backend on the *same* data
(SQLite data dir / Redis server) with the app's own :class:`~trayapp.bridge.ingest.FrameSigner`; everything opened
is closed at the end. The Redis backend runs against a real ``redis-server`` (skipped locally if missing).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from tests.support.cases import case_item, case_story
from tests.support.redis_server import redis_server, wait_for
from trayapp.bridge.errors import BadRequest, StoreClosed
from trayapp.bridge.ingest import FrameSigner, rfc3339_ms
from trayapp.bridge.store import NewEvent, Store, StoredEvent
from trayapp.bridge.store_sqlite import SQLiteStore
from trayapp.core import cases, wire

StoreFactory = Callable[[], Store]


def make_item(n: int, ts: float | None = None, *, tag: str = "") -> NewEvent:
    body = json.dumps({"event": "case.new", "account_id": "acc", "data": {"case": {"id": f"{tag}{n}",
                                                                                    "title": f"Case {n} ü"}}})
    received_ts = time.time() if ts is None else ts
    return NewEvent(
        body=body,
        event={"kind": "case.new", "case_id": f"{tag}{n}", "title": f"Case {n} ü", "extra": {"n": n, "f": 0.1}},
        dedupe_key=hashlib.sha256(body.encode()).hexdigest(), received_at=rfc3339_ms(received_ts),
        received_ts=received_ts,
    )


class Stores:
    def __init__(self, make: StoreFactory) -> None:
        self.make = make
        self.opened: list[Store] = []

    async def open(self) -> Store:
        store = self.make()
        signer = FrameSigner()
        self.opened.append(store)
        await store.open(signer)
        signer.key = await store.signing_key()
        signer.epoch = store.epoch
        return store

    async def close_all(self) -> None:
        for store in self.opened:
            await store.close()


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    if request.param == "sqlite":
        yield lambda: SQLiteStore(tmp_path / "data")
        return
    from trayapp.bridge.store_redis import RedisStore

    with redis_server(tmp_path) as server:
        yield lambda: RedisStore(server.url)


@pytest.fixture
async def stores(backend: StoreFactory) -> AsyncIterator[Stores]:
    st = Stores(backend)
    try:
        yield st
    finally:
        await st.close_all()


def frame_of(ev: StoredEvent) -> wire.EventFrame:
    msg = wire.decode(ev.frame)
    assert isinstance(msg, wire.EventFrame)
    return msg


async def test_gap_free_seq_under_200_concurrent_appends(stores: Stores) -> None:
    store = await stores.open()
    items = [make_item(i) for i in range(200)]
    results = await asyncio.gather(*(store.append(it) for it in items))
    assert sorted(r.seq for r in results) == list(range(1, 201))
    assert not any(r.duplicate for r in results)
    rows = await store.read(0, 1000)
    assert [r.seq for r in rows] == list(range(1, 201))
    bounds = await store.bounds()
    assert (bounds.first, bounds.head) == (1, 200)
    public = (await store.signing_key()).public_key()
    by_seq = {r.seq: it for r, it in zip(results, items, strict=True)}
    for row in rows:
        frame = frame_of(row)
        assert frame.seq == row.seq
        assert frame.body == by_seq[row.seq].body and frame.id == f"{store.epoch}-{row.seq}"
        assert frame.event == by_seq[row.seq].event
        wire.verify_frame(public, frame)


async def test_dedupe_answers_the_original_seq(stores: Stores) -> None:
    store = await stores.open()
    first = await store.append(make_item(1))
    item = make_item(2)
    original = await store.append(item)
    again = await store.append(make_item(2))  # same body, new id: same delivery
    assert (first.seq, original.seq, original.duplicate) == (1, 2, False)
    assert (again.seq, again.duplicate) == (2, True)
    racing = await asyncio.gather(*(store.append(make_item(3)) for _ in range(5)))  # one batch
    assert {r.seq for r in racing} == {3}
    assert sorted(r.duplicate for r in racing) == [False, True, True, True, True]
    assert (await store.bounds()).head == 3
    assert [r.seq for r in await store.read(0, 10)] == [1, 2, 3]


async def test_read_and_bounds_after_prune(stores: Stores) -> None:
    store = await stores.open()
    base = time.time() - 1000
    for i in range(10):
        await store.append(make_item(i, base + i))
    assert await store.prune(base + 3.5) == 4
    bounds = await store.bounds()
    assert (bounds.first, bounds.head) == (5, 10)
    assert [r.seq for r in await store.read(0, 100)] == [5, 6, 7, 8, 9, 10]
    assert [r.seq for r in await store.read(6, 2)] == [7, 8]
    assert await store.read(10, 5) == []
    assert await store.prune(base + 3.5) == 0
    # a delivery pruned from the stream is still a duplicate within 24 h
    assert (await store.append(make_item(0, base))).duplicate
    assert await store.prune(base + 100) == 6
    bounds = await store.bounds()
    assert (bounds.first, bounds.head) == (11, 10)
    assert await store.read(0, 100) == []
    assert (await store.append(make_item(11))).seq == 11
    assert (await store.bounds()).first == 11


async def test_listeners_get_every_event_once_in_order(stores: Stores) -> None:
    store = await stores.open()
    seen: list[StoredEvent] = []
    calls: list[int] = []

    def listener(events: object) -> None:
        assert isinstance(events, list | tuple)
        calls.append(len(events))
        seen.extend(events)

    store.add_listener(listener)
    await asyncio.gather(*(store.append(make_item(i)) for i in range(50)))
    for i in range(50, 60):
        await store.append(make_item(i))
    await store.append(make_item(0))  # duplicate: no event
    await wait_for(lambda: len(seen) >= 60, what="60 events at the listener")
    assert [e.seq for e in seen] == list(range(1, 61))
    rows = await store.read(0, 100)
    assert [e.frame for e in seen] == [r.frame for r in rows]
    store.remove_listener(listener)
    await store.append(make_item(99))
    await store.append(make_item(98))
    # the other listener-less path: nothing more arrives (give the fan-out a chance by reading back first)
    assert [r.seq for r in await store.read(60, 10)] == [61, 62]
    assert len(seen) == 60


async def test_tokens(stores: Stores) -> None:
    store = await stores.open()
    gen0 = await store.token_generation()
    await store.add_token("alice", "h" * 64)
    await store.add_token("bob", "b" * 64)
    with pytest.raises(BadRequest):
        await store.add_token("alice", "x" * 64)
    info = await store.lookup_token("h" * 64)
    assert info is not None and info.name == "alice" and info.active
    assert await store.lookup_token("nope") is None
    assert [t.name for t in await store.list_tokens()] == ["alice", "bob"]
    assert await store.token_generation() == gen0
    assert await store.revoke_token("alice") is True
    assert await store.token_generation() != gen0
    gen1 = await store.token_generation()
    assert await store.revoke_token("alice") is False
    assert await store.revoke_token("nobody") is False
    assert await store.token_generation() == gen1
    info = await store.lookup_token("h" * 64)
    assert info is not None and not info.active and info.revoked_at
    await store.add_token("alice", "c" * 64)  # the name is free again
    listed = await store.list_tokens()
    assert [(t.name, t.active) for t in listed] == [("alice", False), ("bob", True), ("alice", True)]
    # another instance on the same data sees the revocation (another process's `token revoke`)
    other = await stores.open()
    assert await other.revoke_token("bob") is True
    assert await store.token_generation() != gen1
    bob = await store.lookup_token("b" * 64)
    assert bob is not None and not bob.active


def _raw(store_key: object) -> bytes:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    assert isinstance(store_key, Ed25519PrivateKey)
    return store_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


async def test_signing_key_stable_across_reopen_and_shared(stores: Stores) -> None:
    a = await stores.open()
    b = await stores.open()
    key_a, key_b = _raw(await a.signing_key()), _raw(await b.signing_key())
    assert key_a == key_b
    await a.close()
    c = await stores.open()
    assert _raw(await c.signing_key()) == key_a


async def test_reopen_keeps_epoch_and_events(stores: Stores) -> None:
    store = await stores.open()
    epoch = store.epoch
    assert epoch
    for i in range(5):
        await store.append(make_item(i))
    before = await store.read(0, 10)
    await store.close()
    await store.close()  # idempotent
    with pytest.raises(StoreClosed):
        await store.append(make_item(9))
    again = await stores.open()
    assert again.epoch == epoch
    assert [(r.seq, r.frame) for r in await again.read(0, 10)] == [(r.seq, r.frame) for r in before]
    assert (await again.bounds()).head == 5
    assert (await again.append(make_item(5))).seq == 6
    assert (await again.append(make_item(3))).duplicate
    await again.ping()


async def test_close_finishes_pending_appends(stores: Stores) -> None:
    store = await stores.open()
    pending = [asyncio.ensure_future(store.append(make_item(i))) for i in range(20)]
    await asyncio.sleep(0)  # let them queue
    await store.close()
    results = await asyncio.gather(*pending)
    assert sorted(r.seq for r in results) == list(range(1, 21))
    again = await stores.open()
    assert (await again.bounds()).head == 20


async def test_odd_text_round_trips(stores: Stores) -> None:
    """Bodies with line breaks and non-ASCII, events with lone surrogates (from ``\\ud800`` escapes in JSON)."""
    store = await stores.open()
    body = '{\n  "event": "case.new",\n  "data": {"case": {"id": "x\\ud800", "title": "Zoë 😀"}}\n}'
    base = make_item(1)
    item = type(base)(body=body, event={"kind": "case.new", "case_id": "x\ud800", "title": "Zoë 😀\n"},
                      dedupe_key=hashlib.sha256(body.encode()).hexdigest(), received_at=base.received_at,
                      received_ts=base.received_ts)
    assert (await store.append(item)).seq == 1
    other = await stores.open()  # a second instance (another process for Redis) builds the frame itself
    for s in (store, other):
        (row,) = await s.read(0, 10)
        frame = frame_of(row)
        assert frame.body == body
        assert frame.event == item.event
        wire.verify_frame((await s.signing_key()).public_key(), frame)


async def test_frames_of_any_text_are_valid_utf8_and_verify(stores: Stores) -> None:
    """Lone surrogates in the body (as text) and in the event, quotes and emoji: every store keeps and signs them
    so that the frame is valid UTF-8 JSON, its body round-trips and the signature verifies (epoch and id included)."""
    store = await stores.open()
    public = (await store.signing_key()).public_key()
    bodies = ['{"event":"case.new","data":{"case":{"title":"half \ud83d, pair \ud83d\ude00, low \udc00"}}}',
              '{"event":"case.new","data":{"case":{"title":"\\"quoted\\" \\\\ 😀 ü\\n"}}}']
    for n, body in enumerate(bodies):
        ts = time.time()
        await store.append(NewEvent(body=body, event={"kind": "case.new", "title": f"x \udfff {n}"},
                                    dedupe_key=f"any-text-{n}", received_at=rfc3339_ms(ts), received_ts=ts))
    rows = await store.read(0, 10)
    assert len(rows) == 2
    for row, body in zip(rows, bodies, strict=True):
        row.frame.encode("utf-8")  # valid UTF-8: no raw surrogate left in the frame text
        frame = frame_of(row)
        assert wire.utf8(frame.body) == wire.utf8(body)
        wire.verify_frame(public, frame, epoch=store.epoch)


async def test_read_bounded_by_bytes(stores: Stores) -> None:
    store = await stores.open()
    for i in range(120):
        await store.append(make_item(i))
    bound = sum(len(r.frame) for r in (await store.read(0, 70))) + 1
    for fresh in (store, await stores.open()):  # the process that appended (Redis: its cache) and another one
        rows = await fresh.read(0, 1000, max_bytes=bound)
        assert [r.seq for r in rows] == list(range(1, 72))  # up to and including the frame that reaches the bound
        assert [r.seq for r in await fresh.read(0, 1000, max_bytes=1)] == [1]  # at least one frame
        assert len(await fresh.read(0, 1000)) == 120


async def test_token_departments_are_kept(stores: Stores) -> None:
    store = await stores.open()
    await store.add_token("sales", "a" * 64, ("Sales", "Billing"))
    await store.add_token("all", "b" * 64)
    assert (await store.lookup_token("a" * 64)).departments == ("Sales", "Billing")  # type: ignore[union-attr]
    assert (await store.lookup_token("b" * 64)).departments == ()  # type: ignore[union-attr]
    assert [t.departments for t in await store.list_tokens()] == [("Sales", "Billing"), ()]


# --- case state: the fold of core.cases, in the store's own transaction ----------------------------------------

def folded(items: list[NewEvent]) -> list[cases.CaseState]:
    states: dict[str, cases.CaseState] = {}
    for seq, item in enumerate(items, 1):
        if item.case is not None:
            states[item.case.case_id] = cases.merge(states.get(item.case.case_id), item.case, seq, item.received_ts)
    return sorted((s for s in states.values() if s.status != "closed"), key=cases.order_key)


def comparable(states: list[cases.CaseState]) -> list[dict[str, object]]:
    return [{**s.snapshot_entry(), "order": s.order, "updated_ts": round(s.updated_ts, 3)} for s in states]


async def test_case_state_is_the_core_fold_in_the_stores_transaction(stores: Stores) -> None:
    store = await stores.open()
    now = time.time()
    items = [case_item(p, now + i) for i, p in enumerate(case_story())]
    for item in items:  # one by one (each its own transaction) ...
        await store.append(item)
    expected = folded(items)
    got = await store.open_cases()
    assert got.head == len(items)
    assert comparable(got.cases) == comparable(expected)
    hostile, *rest = got.cases  # (no datePending: since its dateCreated, the oldest)
    assert [(s.case_id, s.status) for s in rest] == [("1", "pending"), ("2", "active"), ("3", "queue")]
    assert rest[0].first_message == "Hello?" and rest[1].title == "Case 2" and rest[1].agent_name == "Ana"
    assert hostile.case_id.startswith("\ufffd<b>") and "\x00" not in (hostile.first_message or "-")
    await store.append(items[0])  # a duplicate folds nothing
    assert comparable((await store.open_cases()).cases) == comparable(expected)
    reopened = await stores.open()
    assert comparable((await reopened.open_cases()).cases) == comparable(expected)


async def test_batched_appends_fold_like_one_by_one(stores: Stores) -> None:
    store = await stores.open()
    now = time.time()
    items = [case_item(p, now + i) for i, p in enumerate(case_story())]
    results = await asyncio.gather(*(store.append(item) for item in items))
    by_seq = [item for _, item in sorted(zip((r.seq for r in results), items, strict=True))]
    assert comparable((await store.open_cases()).cases) == comparable(folded(by_seq))


async def test_retention_keeps_open_cases_and_drops_old_closed_ones(stores: Stores) -> None:
    store = await stores.open()
    old = time.time() - 3600
    items = [case_item(p, old + i) for i, p in enumerate(case_story())]
    for item in items:
        await store.append(item)
    before = (await store.open_cases()).cases
    assert await store.prune(time.time()) == len(items)  # every event aged out
    assert (await store.read(0, 100)) == []
    after = await store.open_cases()
    assert comparable(after.cases) == comparable(before) and after.head == len(items)
