"""POST /webhooks/acquire against the real bridge process: fixtures, dedupe, check order, hostile input."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import httpx
import pytest

from tests.support.bridges import (
    BOTH_BACKENDS,
    FIXTURE_WINDOW,
    SECRET,
    BridgeProcess,
    case_payload,
    connect,
    load_fixtures,
    post,
    recv_frame,
    recv_until_caught_up,
    signed,
)
from trayapp.core import wire

FIXTURES = load_fixtures()


@BOTH_BACKENDS
async def test_every_fixture_gives_expected_status_and_event(bridge_factory: Any) -> None:
    bridge: BridgeProcess = bridge_factory(*FIXTURE_WINDOW)
    http = httpx.AsyncClient(base_url=bridge.url, timeout=30)
    key = wire.key_from_text((await http.get("/v1/key")).json()["key"])
    ws = await connect(bridge, bridge.token())
    await recv_until_caught_up(ws)
    accepted = 0
    for fx in FIXTURES:
        resp = await http.post("/webhooks/acquire", content=fx["body"].encode("utf-8"), headers=fx["headers"])
        expect = fx["expect"]
        want = expect.get("http_status", 200 if expect["signature_valid"] else 401)
        assert resp.status_code == want, (fx["name"], resp.text)
        assert resp.headers["content-type"] == "application/json"
        if want != 200:
            assert "error" in resp.json()
            continue
        accepted += 1
        assert resp.json() == {"seq": accepted, "duplicate": False}
        frame = await recv_frame(ws)
        assert isinstance(frame, wire.EventFrame)
        assert frame.seq == accepted
        assert frame.body == fx["body"]
        for name in ("kind", "status", "case_id", "acquire_event"):
            if name in expect:
                assert frame.event[name] == expect[name], (fx["name"], name)
        received = wire.verify_frame(key, frame)  # signature by the bridge's published key
        assert received.event.kind == expect["kind"]
    await ws.close()
    await http.aclose()
    assert accepted >= 10


@BOTH_BACKENDS
async def test_five_retries_store_one_event(bridge: BridgeProcess, http: httpx.AsyncClient) -> None:
    ws = await connect(bridge, bridge.token())
    await recv_until_caught_up(ws)
    payload = case_payload(7)
    answers = [(await post(http, payload)).json() for _ in range(5)]
    assert answers == [{"seq": 1, "duplicate": False}] + [{"seq": 1, "duplicate": True}] * 4
    # the same delivery pretty-printed is the same canonical body: still a duplicate
    pretty = json.dumps(payload, indent=2)
    body = pretty.encode()
    compact = json.dumps(payload, separators=(",", ":"))
    _, headers = signed(compact)
    resp = await http.post("/webhooks/acquire", content=body, headers=headers)
    assert resp.json() == {"seq": 1, "duplicate": True}
    assert (await post(http, case_payload(8))).json() == {"seq": 2, "duplicate": False}
    seqs = [(await recv_frame(ws)).seq for _ in range(2)]  # type: ignore[union-attr]
    assert seqs == [1, 2]
    metrics = (await http.get("/metrics")).text
    assert "trayapp_bridge_webhooks_duplicate_total 5.0" in metrics
    await ws.close()


async def test_check_order_and_json_errors(bridge_factory: Any) -> None:
    bp: BridgeProcess = bridge_factory("--max-body", "5000")
    async with httpx.AsyncClient(base_url=bp.url) as http:
        for method in ("GET", "PUT", "DELETE", "PATCH"):
            resp = await http.request(method, "/webhooks/acquire", content=b"x" * 9000)
            assert resp.status_code == 405 and resp.headers["allow"] == "POST"
            assert "error" in resp.json()
        big, headers = signed({"event": "case.new", "pad": "x" * 6000})
        assert (await http.post("/webhooks/acquire", content=big)).status_code == 413  # 413 before 401
        assert (await http.post("/webhooks/acquire", content=big, headers=headers)).status_code == 413
        resp = await http.post("/webhooks/acquire", content=b"not json")
        assert resp.status_code == 401 and "missing" in resp.json()["error"]
        bad_cases: list[str] = ["not json", "[1,2]", '"text"', "{" * 5, "[" * 513 + "]" * 513]
        for text in bad_cases:
            body, headers = signed(text)
            resp = await http.post("/webhooks/acquire", content=body, headers=headers)
            assert resp.status_code == 400, text[:20]
            assert resp.json()["error"]
        deep = '{"a":' * 300 + "1" + "}" * 300  # 300 levels: fine
        body, headers = signed(deep)
        assert (await http.post("/webhooks/acquire", content=body, headers=headers)).status_code == 200
        resp = await http.get("/no/such/path")
        assert resp.status_code == 404 and "error" in resp.json()
        resp = await http.post("/v1/key")
        assert resp.status_code == 405 and "error" in resp.json()
        resp = await http.get("/v1/stream")
        assert resp.status_code == 426 and "error" in resp.json()


@BOTH_BACKENDS
async def test_hostile_input_gets_4xx_never_5xx(bridge_factory: Any) -> None:
    bp: BridgeProcess = bridge_factory()
    raw_body = b'{"event":"case.new","name":"\xff\xfe"}'
    from trayapp.core.signature import hmac_hex

    async with httpx.AsyncClient(base_url=bp.url) as http:
        # invalid UTF-8, correctly signed over the raw bytes
        resp = await http.post("/webhooks/acquire", content=raw_body,
                               headers={"x-acquire-signature": hmac_hex(SECRET, raw_body)})
        assert resp.status_code == 400 and "UTF-8" in resp.json()["error"]
        # 100,000-deep nesting, signed
        deep = "[" * 100_000 + "]" * 100_000
        body, headers = signed(deep)
        resp = await http.post("/webhooks/acquire", content=body, headers=headers)
        assert resp.status_code == 400
        # a non-ASCII, non-hex signature header
        resp = await http.post("/webhooks/acquire", content=b"{}", headers={"x-acquire-signature": ("é" * 64).encode()})
        assert resp.status_code == 401

    def raw(request: bytes) -> bytes:
        host, port = bp.url.removeprefix("http://").rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall(request)
            s.shutdown(socket.SHUT_WR)
            data = b""
            while chunk := s.recv(65536):
                data += chunk
            return data

    for request in (
        b"POST /webhooks/acquire HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\nContent-Length: 2\r\n\r\n{}",
        b"POST /webhooks/acquire HTTP/1.1\r\nHost: x\r\nX-Bad: \xff\xfe\r\nContent-Length: 2\r\n\r\n{}",
        b"GARBAGE\r\n\r\n",
        b"POST /webhooks/\xff HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
        b"POST /webhooks/acquire HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}",
    ):
        answer = await asyncio.to_thread(raw, request)
        if answer:  # the parser may also just close a connection it cannot read
            status = int(answer.split(b" ", 2)[1])
            assert 400 <= status < 500, answer[:200]
    async with httpx.AsyncClient(base_url=bp.url) as http:
        assert (await http.get("/healthz")).status_code == 200
    assert "Traceback" not in bp.stderr() and "ERROR" not in bp.stderr()


@pytest.mark.parametrize("chunked", [True, False])
async def test_413_while_the_body_streams(bridge_factory: Any, chunked: bool) -> None:
    """The answer arrives while the client is still sending: the limit is enforced on the bytes read so far."""
    bp: BridgeProcess = bridge_factory("--max-body", "65536")
    host, port = bp.url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    if chunked:
        writer.write(b"POST /webhooks/acquire HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    else:  # an announced length over the limit is refused before the body is read
        writer.write(b"POST /webhooks/acquire HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n\r\n")
    chunk = b"x" * 16384
    status_line = b""
    for _ in range(2000):  # up to 32 MB, but the answer must come long before
        writer.write((b"%x\r\n" % len(chunk) + chunk + b"\r\n") if chunked else chunk)
        try:
            await writer.drain()
        except ConnectionError:
            break
        try:
            status_line = await asyncio.wait_for(reader.readline(), 0.01)
        except TimeoutError:
            continue
        break
    if not status_line:
        status_line = await asyncio.wait_for(reader.readline(), 5)
    assert status_line.startswith(b"HTTP/1.1 413"), status_line
    writer.close()


async def test_admin_event_table_extension(bridge_factory: Any, tmp_path: Any) -> None:
    table = tmp_path / "events.json"
    table.write_text(json.dumps({"ticket.created": "case.new", "case.reopened": "chat.status/pending"}))
    bp: BridgeProcess = bridge_factory("--event-table", str(table))
    ws = await connect(bp, bp.token())
    await recv_until_caught_up(ws)
    async with httpx.AsyncClient(base_url=bp.url) as http:
        for name in ("TICKET_CREATED", "case-reopened", "something.else"):
            assert (await post(http, case_payload(1, event=name))).status_code == 200
    kinds = []
    for _ in range(3):
        frame = await recv_frame(ws)
        assert isinstance(frame, wire.EventFrame)
        kinds.append((frame.event["kind"], frame.event["status"], frame.event["case_id"]))
    assert kinds == [("case.new", "pending", "1"), ("chat.status", "pending", "1"), ("other", None, "1")]
    await ws.close()
    table.write_text(json.dumps({"x": "no.such.kind"}))
    bad = bridge_factory("--event-table", str(table), start=False)
    with pytest.raises(AssertionError, match="exited"):
        bad.start()
    assert "unknown kind" in bad.stderr()
