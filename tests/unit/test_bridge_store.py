"""The SQLite store: group commits, gap-free seqs, dedupe, retention, tokens, reopen."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import stat
import time
from pathlib import Path

import pytest

from trayapp.bridge.errors import BadRequest, StoreClosed
from trayapp.bridge.store import AppendResult, NewEvent, StoredEvent
from trayapp.bridge.store_sqlite import SQLiteStore


def item(key: str, ts: float | None = None) -> NewEvent:
    ts = time.time() if ts is None else ts
    return NewEvent(body=json.dumps({"k": key}), event={"kind": "other"}, dedupe_key=key, received_at="t",
                    received_ts=ts)


def build(seq: int, it: NewEvent) -> str:
    return f'{{"seq":{seq},"body":{it.body}}}'


async def opened(path: Path) -> SQLiteStore:
    store = SQLiteStore(path)
    await store.open(build)
    return store


async def test_concurrent_appends_get_gap_free_seqs_and_listeners_see_each_once(tmp_path: Path) -> None:
    store = await opened(tmp_path)
    seen: list[StoredEvent] = []
    store.add_listener(seen.extend)
    results = await asyncio.gather(*(store.append(item(f"k{i}")) for i in range(600)))
    assert sorted(r.seq for r in results) == list(range(1, 601))
    assert not any(r.duplicate for r in results)
    assert [e.seq for e in seen] == list(range(1, 601))
    rows = await store.read(590, 100)
    assert [r.seq for r in rows] == list(range(591, 601))
    assert rows[0].frame.startswith('{"seq":591,')
    assert (await store.bounds()).head == 600
    await store.close()
    await store.close()  # idempotent
    with pytest.raises(StoreClosed):
        await store.append(item("late"))


async def test_duplicates_answer_the_original_seq_also_within_one_batch(tmp_path: Path) -> None:
    store = await opened(tmp_path)
    first = await store.append(item("a"))
    again = await asyncio.gather(*(store.append(item("a")) for _ in range(5)), store.append(item("b")))
    assert first == AppendResult(1, False)
    assert list(again) == [AppendResult(1, True)] * 5 + [AppendResult(2, False)]
    both = await asyncio.gather(store.append(item("c")), store.append(item("c")))
    assert sorted(both, key=lambda r: r.duplicate) == [AppendResult(3, False), AppendResult(3, True)]
    await store.close()


async def test_dedupe_window_is_the_retention(tmp_path: Path) -> None:
    store = await opened(tmp_path)  # the default window: 7 days, the default retention
    assert await store.append(item("day-old", ts=time.time() - 25 * 3600)) == AppendResult(1, False)
    assert await store.append(item("day-old")) == AppendResult(1, True)  # a replay a day later is a duplicate
    assert await store.append(item("old", ts=time.time() - 8 * 86400)) == AppendResult(2, False)
    assert await store.append(item("old")) == AppendResult(3, False)  # the first one is past the window
    await store.close()
    short = SQLiteStore(tmp_path / "short", dedupe_window=3600)
    await short.open(build)
    assert await short.append(item("x", ts=time.time() - 2 * 3600)) == AppendResult(1, False)
    assert await short.append(item("x")) == AppendResult(2, False)
    await short.close()


async def test_reopen_keeps_epoch_head_events_and_key(tmp_path: Path) -> None:
    store = await opened(tmp_path)
    for i in range(3):
        await store.append(item(f"k{i}"))
    epoch, key = store.epoch, await store.signing_key()
    await store.close()
    store = await opened(tmp_path)
    assert store.epoch == epoch and len(epoch) == 16
    assert (await store.bounds()).head == 3
    assert (await store.append(item("k9"))).seq == 4
    assert (await store.append(item("k1"))) == AppendResult(2, True)
    assert (await store.signing_key()).private_bytes_raw() == key.private_bytes_raw()
    assert stat.S_IMODE((tmp_path / "signing-key.pem").stat().st_mode) == 0o600
    await store.close()
    other = await opened(tmp_path / "elsewhere")
    assert other.epoch != epoch
    await other.close()


async def test_retention_keeps_the_seq_counter(tmp_path: Path) -> None:
    store = await opened(tmp_path)
    now = time.time()
    for i in range(5):
        await store.append(item(f"k{i}", ts=now - 10 + i))
    assert await store.prune(now - 7.5) == 3
    assert [r.seq for r in await store.read(0, 10)] == [4, 5]
    bounds = await store.bounds()
    assert (bounds.first, bounds.head) == (4, 5)
    assert await store.prune(now + 1) == 2
    bounds = await store.bounds()
    assert (bounds.first, bounds.head) == (6, 5)
    assert (await store.append(item("new"))).seq == 6
    await store.close()
    store = await opened(tmp_path)
    assert (await store.bounds()).head == 6
    await store.close()


async def test_tokens_hashes_revocation_generation(tmp_path: Path) -> None:
    store = await opened(tmp_path)
    await store.add_token("alice", "h1")
    with pytest.raises(BadRequest):
        await store.add_token("alice", "h2")
    gen = await store.token_generation()
    info = await store.lookup_token("h1")
    assert info is not None and info.name == "alice" and info.active
    assert await store.lookup_token("nope") is None
    assert await store.revoke_token("alice") is True
    assert await store.revoke_token("alice") is False
    assert await store.token_generation() == gen + 1
    info = await store.lookup_token("h1")
    assert info is not None and not info.active
    await store.add_token("alice", "h3")  # a new token under the same name after revocation
    assert [t.active for t in await store.list_tokens()] == [False, True]
    await store.close()


async def test_another_process_sees_revocations(tmp_path: Path) -> None:
    server, admin = await opened(tmp_path), SQLiteStore(tmp_path)
    await admin.open()
    await admin.add_token("bob", "hb")
    before = await server.token_generation()
    await admin.revoke_token("bob")
    assert await server.token_generation() == before + 1
    await admin.close()
    await server.close()


async def test_frames_stored_by_a_protocol_1_bridge_are_signed_again_for_protocol_2(tmp_path: Path) -> None:
    from trayapp.bridge.ingest import FrameSigner
    from trayapp.core import wire

    store = SQLiteStore(tmp_path)
    signer = FrameSigner()
    await store.open(signer)
    signer.key, signer.epoch = await store.signing_key(), store.epoch
    await store.append(item("new"))
    await store.close()
    body = '{"event":"case.new","data":{"case":{"id":7,"contact":{"name":"Ann\\u202e"}}}}'
    old = json.dumps({"type": "event", "seq": 2, "id": f"{store.epoch}-2", "received_at": "2026-11-23T09:58:01.120Z",
                      "event": {"kind": "case.new", "acquire_event": "case.new", "contact_name": "Ann\u202e"},
                      "body": body, "sig": "v1-signature-of-another-input"}, separators=(",", ":"))
    with sqlite3.connect(tmp_path / "bridge.sqlite3") as db:
        db.execute("INSERT INTO events VALUES (2, ?, ?)", (time.time(), old))
    store = SQLiteStore(tmp_path)
    signer = FrameSigner()
    await store.open(signer)
    signer.key, signer.epoch = await store.signing_key(), store.epoch
    rows = await store.read(0, 10)
    await store.close()
    assert [r.seq for r in rows] == [1, 2]
    frames = [wire.decode(r.frame) for r in rows]
    public = signer.key.public_key()
    for frame in frames:
        assert isinstance(frame, wire.EventFrame)
        wire.verify_frame(public, frame, epoch=store.epoch)
    upgraded = frames[1]
    assert isinstance(upgraded, wire.EventFrame)
    assert upgraded.id == f"{store.epoch}-2" and upgraded.body == body
    assert upgraded.event["contact_name"] == "Ann"
