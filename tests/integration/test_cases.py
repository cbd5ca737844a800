"""The case state against real bridge processes: ``GET /v1/cases`` and its signature (SQLite and Redis), two Redis
processes giving the same snapshot, restart and retention keep it, the ``cases`` frame of a fresh client before
``caught_up`` (and after a gap), a department-scoped token's snapshot, hostile text in every field."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.support.bridges import BOTH_BACKENDS, BridgeProcess, connect, post, recv_frame
from tests.support.client import Recorder, run_connection
from trayapp.client.connection import Connection, ConnectionConfig
from trayapp.client.history import MemoryCursor
from trayapp.core import cases, wire
from trayapp.core.stream import StreamSession

HOSTILE = "\ud800<b>bold</b>\x00\u202eevil" + "ü" * 3000


def v2(event: str, status: str | None, case_id: Any, ts: str, **case: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"id": case_id, "title": f"Case {case_id}", "channel": "chat",
                            "contact": {"name": f"Visitor {case_id}"}, **case}
    if status:
        body["status"] = status
    data: dict[str, Any] = {"case": body}
    if status == "active":
        data["agent"] = {"name": "Ana"}
    return {"event": event, "account_id": "acme", "timestamp": ts, "data": data}


def story(now: str) -> list[dict[str, Any]]:
    """Four cases: 1 waits (Sales), 2 is taken, 3 closes, 4 is unassigned with hostile text in every field."""
    return [
        v2("case.new", "pending", 1, now, department="Sales", datePending="2026-11-23 09:01:00"),
        v2("case.new", "pending", 2, now, department="Billing", datePending="2026-11-23 09:02:00"),
        v2("chat.status", "active", 2, now, department="Billing", dateActive="2026-11-23 09:03:00"),
        v2("case.new", "pending", 3, now, department="Sales", datePending="2026-11-23 09:00:00"),
        v2("chat.status", "closed", 3, now, department="Sales"),
        v2("case.new", "pending", HOSTILE, now, title=HOSTILE, channel=HOSTILE, datePending="2026-11-23 09:04:00",
           contact={"name": HOSTILE}),
        {"event": "chat.message", "account_id": "acme", "timestamp": now,
         "data": {"case": {"id": HOSTILE}, "message": {"msg": HOSTILE, "user": {"type": "visitor"}}}},
        {"event": "agent.status.changed", "account_id": "acme", "timestamp": now,
         "data": {"agent": {"status": "available", "name": HOSTILE}}},
    ]


def now_stamp() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def body(payload: dict[str, Any]) -> str:
    """The body as JSON.stringify writes it: a lone surrogate as its \\u escape."""
    return json.dumps(payload, separators=(",", ":"))


async def post_story(http: httpx.AsyncClient, now: str | None = None) -> int:
    seq = 0
    for payload in story(now or now_stamp()):
        resp = await post(http, body(payload))
        assert resp.status_code == 200, resp.text
        seq = resp.json()["seq"]
    return seq


async def get_cases(http: httpx.AsyncClient, token: str) -> tuple[str, str, cases.Snapshot]:
    resp = await http.get("/v1/cases", headers={"authorization": f"Bearer {token}"})
    assert resp.status_code == 200, resp.text
    assert set(resp.json()) == {"snapshot", "sig"}
    text, sig = resp.json()["snapshot"], resp.json()["sig"]
    key = wire.key_from_text((await http.get("/v1/key")).json()["key"])
    return text, sig, cases.verify_snapshot(key, text, sig)


@BOTH_BACKENDS
async def test_snapshot_of_open_cases_signed_and_refusals(bridge: BridgeProcess, http: httpx.AsyncClient) -> None:
    head = await post_story(http)
    token = bridge.token()
    text, _, snap = await get_cases(http, token)
    assert snap.head == head == 8 and snap.epoch == (await http.get("/readyz")).json()["epoch"]
    data = json.loads(text)
    assert list(data) == ["epoch", "head", "cases"]
    assert [list(c) for c in data["cases"]] == [list(cases.SNAPSHOT_KEYS)] * 3
    one, two, hostile = data["cases"]  # oldest status_since first; 3 is closed
    assert one == {"case_id": "1", "status": "pending", "status_since": "2026-11-23T09:01:00.000Z",
                   "contact_name": "Visitor 1", "title": "Case 1", "channel": "chat", "department": "Sales",
                   "agent_name": None, "first_message": None, "updated_seq": 1}
    assert (two["status"], two["status_since"], two["agent_name"], two["updated_seq"]) == (
        "active", "2026-11-23T09:03:00.000Z", "Ana", 3)
    for name in ("case_id", "contact_name", "title", "channel", "first_message"):
        value = hostile[name]
        assert value.startswith("\ufffd<b>bold</b>evil") and value.endswith("…"), name
        assert not any(ch in value for ch in "\x00\u202e"), name
        assert len(value) <= 1000
    assert hostile["updated_seq"] == 7
    # the same auth and refusals as the stream
    assert (await http.get("/v1/cases")).status_code == 401
    assert (await http.get("/v1/cases", headers={"authorization": "Bearer tb_nope"})).status_code == 401
    assert (await http.post("/v1/cases", headers={"authorization": f"Bearer {token}"})).status_code == 405
    bridge.cli("token", "revoke", "agent")
    assert (await http.get("/v1/cases", headers={"authorization": f"Bearer {token}"})).status_code == 403


@BOTH_BACKENDS
async def test_restart_keeps_it_and_retention_keeps_open_cases(bridge_factory: Any) -> None:
    bp: BridgeProcess = bridge_factory()
    token = bp.token()
    async with httpx.AsyncClient(base_url=bp.url) as http:
        await post_story(http)
        before = await get_cases(http, token)
    bp.stop()
    again: BridgeProcess = bridge_factory(data_dir=bp.data_dir)
    async with httpx.AsyncClient(base_url=again.url) as http:
        assert (await get_cases(http, token))[:2] == before[:2]
    again.stop()
    # every event older than the retention (0.0864 s): pruned at start, the open cases stay
    pruned: BridgeProcess = bridge_factory("--retention-days", "0.000001", data_dir=bp.data_dir)
    async with httpx.AsyncClient(base_url=pruned.url) as http:
        events = await http.get("/v1/events", params={"since": 0}, headers={"authorization": f"Bearer {token}"})
        assert events.json() == []
        assert (await get_cases(http, token))[:2] == before[:2]


@pytest.mark.redis
@pytest.mark.usefixtures("backend")
@pytest.mark.parametrize("backend", ["redis"], indirect=True)
async def test_two_redis_processes_give_the_same_snapshot(bridge_factory: Any) -> None:
    a: BridgeProcess = bridge_factory()
    b: BridgeProcess = bridge_factory()
    token = a.token()
    payloads = story(now_stamp())
    async with httpx.AsyncClient(base_url=a.url) as ha, httpx.AsyncClient(base_url=b.url) as hb:
        for i, payload in enumerate(payloads):  # every other event through the other process
            assert (await post(ha if i % 2 else hb, body(payload))).status_code == 200
        from_a, from_b = await get_cases(ha, token), await get_cases(hb, token)
    assert from_a[:2] == from_b[:2]  # the same text and the same (deterministic) signature
    assert [c["case_id"][:1] for c in from_a[2].cases] == ["1", "2", "\ufffd"]


async def frames_until_caught_up(ws: Any) -> list[wire.Message]:
    frames = [await recv_frame(ws)]
    while not isinstance(frames[-1], wire.CaughtUp):
        frames.append(await recv_frame(ws))
    return frames


@BOTH_BACKENDS
async def test_a_fresh_client_gets_the_cases_frame_before_caught_up(bridge: BridgeProcess,
                                                                   http: httpx.AsyncClient) -> None:
    head = await post_story(http)
    token = bridge.token()
    http_text, http_sig, _ = await get_cases(http, token)
    key = wire.key_from_text((await http.get("/v1/key")).json()["key"])
    nonce = wire.new_nonce()
    ws = await connect(bridge, token, nonce=nonce)
    frames = await frames_until_caught_up(ws)
    assert [type(f) for f in frames] == [wire.Hello, wire.Config, wire.CasesFrame, wire.CaughtUp]
    session = StreamSession(key, nonce)
    decisions = [session.receive(wire.encode(f)) for f in frames]
    got = decisions[2]
    assert type(got).__name__ == "CasesReceived" and got.snapshot.head == head  # type: ignore[union-attr]
    assert (frames[2].snapshot, frames[2].sig) == (http_text, http_sig)  # type: ignore[union-attr]
    await ws.close()
    # with a cursor: no snapshot ...
    hello = frames[0]
    assert isinstance(hello, wire.Hello)
    ws = await connect(bridge, token, since=head, epoch=hello.epoch)
    assert not any(isinstance(f, wire.CasesFrame) for f in await frames_until_caught_up(ws))
    await ws.close()
    # ... unless the backlog had a gap: then after it, before caught_up
    ws = await connect(bridge, token, since=2, epoch="0000000000000000")
    frames = await frames_until_caught_up(ws)
    kinds = [type(f).__name__ for f in frames]
    assert kinds[:3] == ["Hello", "Config", "Gap"] and kinds[-2:] == ["CasesFrame", "CaughtUp"]
    await ws.close()


@BOTH_BACKENDS
async def test_the_client_connection_and_listen_hand_the_snapshot_on(bridge: BridgeProcess,
                                                                    http: httpx.AsyncClient) -> None:
    import asyncio
    import io

    from trayapp.client.listen import listen

    await post_story(http)
    token = bridge.token()
    key = (await http.get("/v1/key")).json()["key"]
    config = ConnectionConfig(bridge_url=bridge.url, token=token, key=key)
    recorder = Recorder()
    async with run_connection(Connection(config, MemoryCursor(None), recorder)):
        await recorder.until(lambda: recorder.caught_up)
    assert len(recorder.cases) == 1 and [c["case_id"][:1] for c in recorder.cases[0].cases] == ["1", "2", "\ufffd"]
    out, err = io.StringIO(), io.StringIO()
    task = asyncio.create_task(listen(config, MemoryCursor(None), once=1, timeout=20, out=out, err=err))
    async with asyncio.timeout(10):
        while '"caught_up"' not in err.getvalue():  # listen is live: the next event reaches it
            await asyncio.sleep(0.02)
    assert (await post(http, v2("case.new", "pending", 77, now_stamp()))).status_code == 200
    assert await task == 0
    (event,) = (json.loads(line) for line in out.getvalue().splitlines())  # stdout: the events only
    assert event["event"]["case_id"] == "77"
    lines = [json.loads(line) for line in err.getvalue().splitlines() if line.startswith("{")]
    kinds = [line["type"] for line in lines]
    assert kinds.index("cases") < kinds.index("caught_up")
    snapshot = lines[kinds.index("cases")]
    assert snapshot["head"] >= 8 and len(snapshot["cases"]) == 3 and snapshot["omitted"] == 0


@BOTH_BACKENDS
async def test_a_scoped_token_sees_its_departments_and_unassigned_cases(bridge: BridgeProcess,
                                                                       http: httpx.AsyncClient) -> None:
    await post_story(http)
    sales = json.loads(bridge.cli("token", "add", "Maria", "--departments", " sales ", "--json").stdout)["token"]
    billing = json.loads(bridge.cli("token", "add", "Ben", "--departments", "Billing", "--json").stdout)["token"]
    _, _, mine = await get_cases(http, sales)
    assert [c["case_id"][:1] for c in mine.cases] == ["1", "\ufffd"]  # Sales, and the unassigned hostile one
    _, _, theirs = await get_cases(http, billing)
    assert [c["case_id"][:1] for c in theirs.cases] == ["2", "\ufffd"]
    ws = await connect(bridge, sales)
    frame = next(f for f in await frames_until_caught_up(ws) if isinstance(f, wire.CasesFrame))
    assert json.loads(frame.snapshot)["cases"] == list(mine.cases)
    await ws.close()
