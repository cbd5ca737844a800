"""POST /v1/test-alert against the real bridge: signed, only to the caller's own open streams, never stored."""

from __future__ import annotations

import json

import httpx
import pytest

from trayapp.core import wire
from trayapp.core.errors import BadSignature

from .conftest import BridgeProcess, case_payload, connect, post, recv_frame, recv_until_caught_up


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def key_of(http: httpx.AsyncClient) -> object:
    return wire.key_from_text((await http.get("/v1/key")).json()["key"])


async def test_only_the_callers_streams_get_it_signed(bridge: BridgeProcess, http: httpx.AsyncClient) -> None:
    mine, other = bridge.token("maria"), bridge.token("david")
    key = await key_of(http)
    await post(http, case_payload(1))
    streams = [await connect(bridge, mine), await connect(bridge, mine, since=0)]
    theirs = await connect(bridge, other)
    for ws in (*streams, theirs):
        await recv_until_caught_up(ws)
    answer = await http.post("/v1/test-alert", headers=bearer(mine))
    assert answer.status_code == 200, answer.text
    assert answer.json()["sent"] == 2
    for ws in streams:
        frame = await recv_frame(ws)
        assert isinstance(frame, wire.CheckFrame) and frame.id == answer.json()["id"]
        checked = wire.verify_check(key, frame)  # type: ignore[arg-type]
        assert checked.seq == 0 and json.loads(checked.body)["event"] == "trayapp.test_alert"
    # The other token's stream gets the next real event, and nothing before it.
    assert (await post(http, case_payload(2))).json()["seq"] == 2
    nxt = await recv_frame(theirs)
    assert isinstance(nxt, wire.EventFrame) and nxt.seq == 2
    for ws in streams:  # the events after it still arrive in order
        nxt = await recv_frame(ws)
        assert isinstance(nxt, wire.EventFrame) and nxt.seq == 2
    # Never stored: not in /v1/events, not replayed, the head did not move for it.
    events = (await http.get("/v1/events", params={"since": 0}, headers=bearer(mine))).json()
    assert [e["seq"] for e in events] == [1, 2] and all(e["type"] == "event" for e in events)
    late = await connect(bridge, mine, since=0)
    _, replayed, caught = await recv_until_caught_up(late)
    assert [f.seq for f in replayed] == [1, 2] and caught.head == 2  # type: ignore[union-attr]
    for ws in (*streams, theirs, late):
        await ws.close()


async def test_forged_or_tampered_test_alerts_do_not_verify(bridge: BridgeProcess, http: httpx.AsyncClient) -> None:
    token = bridge.token()
    key = await key_of(http)
    ws = await connect(bridge, token)
    await recv_until_caught_up(ws)
    await http.post("/v1/test-alert", headers=bearer(token))
    frame = await recv_frame(ws)
    assert isinstance(frame, wire.CheckFrame)
    for tampered in (wire.CheckFrame(frame.id + "x", frame.received_at, frame.body, frame.sig),
                     wire.CheckFrame(frame.id, frame.received_at, frame.body.replace("test", "tset"), frame.sig)):
        with pytest.raises(BadSignature):
            wire.verify_check(key, tampered)  # type: ignore[arg-type]
    await ws.close()


async def test_refusals(bridge: BridgeProcess, http: httpx.AsyncClient) -> None:
    assert (await http.post("/v1/test-alert")).status_code == 401
    assert (await http.post("/v1/test-alert", headers=bearer("tb_" + "x" * 43))).status_code == 401
    wrong = await http.get("/v1/test-alert", headers=bearer(bridge.token("x")))
    assert wrong.status_code == 405 and wrong.headers["allow"] == "POST" and "use POST" in wrong.json()["error"]
    token = bridge.token("agent")
    answers = [await http.post("/v1/test-alert", headers=bearer(token)) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[0].json()["sent"] == 0  # no stream open: the app says it is not connected
    assert int(answers[3].headers["retry-after"]) >= 1 and "too many test alerts" in answers[3].json()["error"]
    bridge.cli("token", "revoke", "agent")
    assert (await http.post("/v1/test-alert", headers=bearer(token))).status_code == 403
