"""POST /v1/test-alert against the real bridge: signed for each connection, only to the caller's own open streams,
never stored; and the signed config frame every stream starts with (``serve --conversation-url``)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.support.bridges import (
    BIN,
    SECRET,
    BridgeProcess,
    case_payload,
    connect,
    post,
    recv_frame,
    recv_until_caught_up,
)
from trayapp.core import wire
from trayapp.core.errors import BadSignature


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def key_of(http: httpx.AsyncClient) -> object:
    return wire.key_from_text((await http.get("/v1/key")).json()["key"])


async def test_only_the_callers_streams_get_it_signed(bridge: BridgeProcess, http: httpx.AsyncClient) -> None:
    mine, other = bridge.token("maria"), bridge.token("david")
    key = await key_of(http)
    await post(http, case_payload(1))
    nonces = ["first-stream-nonce-0001", "second-stream-nonce-002"]
    streams = [await connect(bridge, mine, nonce=nonces[0]), await connect(bridge, mine, since=0, nonce=nonces[1])]
    theirs = await connect(bridge, other)
    epochs = [(await recv_until_caught_up(ws))[0].epoch for ws in (*streams, theirs)]
    answer = await http.post("/v1/test-alert", headers=bearer(mine))
    assert answer.status_code == 200, answer.text
    assert answer.json()["sent"] == 2
    frames = []
    for ws, nonce in zip(streams, nonces, strict=True):
        frame = await recv_frame(ws)
        assert isinstance(frame, wire.CheckFrame) and frame.id == answer.json()["id"]
        checked = wire.verify_check(key, frame, nonce, epochs[0])  # type: ignore[arg-type]
        assert checked.seq == 0 and json.loads(checked.body)["event"] == "trayapp.test_alert"
        frames.append(frame)
    with pytest.raises(BadSignature):  # signed for its own connection: not valid on the other one
        wire.verify_check(key, frames[0], nonces[1], epochs[0])  # type: ignore[arg-type]
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


async def test_tampered_test_alerts_do_not_verify(bridge: BridgeProcess, http: httpx.AsyncClient) -> None:
    token, nonce = bridge.token(), "tamper-test-nonce-0001"
    key = await key_of(http)
    ws = await connect(bridge, token, nonce=nonce)
    hello, _, _ = await recv_until_caught_up(ws)
    await http.post("/v1/test-alert", headers=bearer(token))
    frame = await recv_frame(ws)
    assert isinstance(frame, wire.CheckFrame)
    for tampered in (wire.CheckFrame(frame.id + "x", frame.received_at, frame.body, frame.sig),
                     wire.CheckFrame(frame.id, frame.received_at, frame.body.replace("test", "tset"), frame.sig)):
        with pytest.raises(BadSignature):
            wire.verify_check(key, tampered, nonce, hello.epoch)  # type: ignore[arg-type]
    await ws.close()


async def test_config_frame_comes_signed_right_after_hello(bridge_factory: Callable[..., BridgeProcess]) -> None:
    template = "https://desk.example.com/c/{account}/{case_id}"
    bridge = bridge_factory("--conversation-url", template)
    token, nonce = bridge.token(), "config-test-nonce-0001"
    async with httpx.AsyncClient(base_url=bridge.url, timeout=30) as http:
        key = await key_of(http)
        await post(http, case_payload(1))
    ws = await connect(bridge, token, since=0, nonce=nonce)
    hello = await recv_frame(ws)
    config = await recv_frame(ws)
    assert isinstance(hello, wire.Hello) and isinstance(config, wire.Config)
    assert config.conversation_url == template
    wire.verify_control(key, config, nonce, hello.epoch)  # type: ignore[arg-type]
    with pytest.raises(BadSignature):
        wire.verify_control(key, config, "another-nonce-000001", hello.epoch)  # type: ignore[arg-type]
    assert isinstance(await recv_frame(ws), wire.EventFrame)  # then the backlog, then caught_up
    assert isinstance(await recv_frame(ws), wire.CaughtUp)
    await ws.close()


def test_serve_refuses_a_conversation_url_that_cannot_be_opened(tmp_path: Path) -> None:
    env = {**os.environ, "ACQUIRE_WEBHOOK_SECRET": SECRET}
    out = subprocess.run([str(BIN), "serve", "--port", "0", "--data-dir", str(tmp_path), "--conversation-url",
                          "javascript:alert({case_id})"], capture_output=True, text=True, timeout=30, env=env)
    assert out.returncode == 2 and "--conversation-url: the conversation address must start with http" in out.stderr


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
