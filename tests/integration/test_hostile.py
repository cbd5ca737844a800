"""Hostile clients against a real bridge process: rate limits (bad signatures per address, sockets per token) and
raw-socket fuzzing of the HTTP and WebSocket endpoints. Whatever arrives: only 4xx answers or clean closes, never a
5xx, no traceback or ERROR in the bridge's log, and the process keeps serving."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import struct
import time
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import InvalidStatus

from tests.support.bridges import BridgeProcess, case_payload, connect, post, recv_until_caught_up, signed


def _addr(bp: BridgeProcess) -> tuple[str, int]:
    host, port = bp.url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def raw(bp: BridgeProcess, request: bytes, timeout: float = 10.0) -> bytes:
    """Send ``request`` on a fresh socket, half-close, read until the bridge closes (or the timeout)."""
    with socket.create_connection(_addr(bp), timeout=timeout) as s:
        try:
            s.sendall(request)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the bridge may already have answered and closed
        data = b""
        try:
            while chunk := s.recv(65536):
                data += chunk
        except (ConnectionResetError, TimeoutError):
            pass
        return data


def statuses(answer: bytes) -> list[int]:
    """Every HTTP status line in ``answer`` (pipelined requests may get several)."""
    found = []
    for line in answer.split(b"\r\n"):
        if line.startswith(b"HTTP/1."):
            parts = line.split(b" ", 2)
            if len(parts) >= 2 and parts[1].isdigit():
                found.append(int(parts[1]))
    return found


def assert_4xx_or_nothing(answer: bytes, allow_ok: bool = False) -> None:
    for status in statuses(answer):
        assert status < 500, answer[:300]
        if not allow_ok:
            assert status >= 400, answer[:300]


async def assert_healthy(bp: BridgeProcess) -> None:
    assert bp.proc is not None and bp.proc.poll() is None, bp.stderr()
    async with httpx.AsyncClient(base_url=bp.url, timeout=10) as http:
        assert (await http.get("/healthz")).status_code == 200
        assert (await post(http, case_payload(int(time.time() * 1000) % 10**9))).status_code == 200
    log = bp.stderr()
    assert "Traceback" not in log and "ERROR" not in log, log[-3000:]


# -- rate limits -----------------------------------------------------------------------------------------------


async def test_bad_signatures_from_one_address_are_throttled_429(bridge_factory: Any) -> None:
    # A slow refill (1 token/s), so that a loaded machine's slow requests cannot refill the bucket while it drains.
    bp: BridgeProcess = bridge_factory("--bad-signature-burst", "5", "--bad-signature-rate", "1")
    body, headers = signed(case_payload(1))
    bad = {**headers, "x-acquire-signature": "0" * 64}
    async with httpx.AsyncClient(base_url=bp.url, timeout=10) as http:
        codes = []
        while not codes or codes[-1] != 429:
            assert len(codes) < 50, codes
            codes.append((await http.post("/webhooks/acquire", content=body, headers=bad)).status_code)
        assert len(codes) >= 6 and set(codes[:-1]) == {401}, codes  # the burst of 5 (plus any refill), then 429
        throttled = await http.post("/webhooks/acquire", content=body, headers=bad)
        assert throttled.status_code == 429
        assert "too many bad signatures" in throttled.json()["error"]
        assert int(throttled.headers["retry-after"]) >= 1
        # while the bucket is empty a good delivery from that address is refused too (Acquire retries a 429)
        assert (await http.post("/webhooks/acquire", content=body, headers=headers)).status_code == 429
        # the bucket refills (1/s): the good delivery goes through within about a second, no sleeping blindly
        deadline = time.monotonic() + 10
        while (resp := await http.post("/webhooks/acquire", content=body, headers=headers)).status_code == 429:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        assert resp.status_code == 200 and resp.json()["seq"] == 1
        metrics = (await http.get("/metrics")).text
        assert 'trayapp_bridge_webhooks_rejected_total{status="429"}' in metrics
    await assert_healthy(bp)


async def test_more_sockets_per_token_than_allowed_are_refused_429(bridge_factory: Any) -> None:
    bp: BridgeProcess = bridge_factory("--max-sockets-per-token", "3")
    token, other = bp.token("maria"), bp.token("li")
    sockets = [await connect(bp, token) for _ in range(3)]
    for ws in sockets:
        await recv_until_caught_up(ws)
    with pytest.raises(InvalidStatus) as info:
        await connect(bp, token)
    response = info.value.response
    assert response.status_code == 429
    assert "too many open streams" in json.loads(response.body)["error"]
    assert response.headers["retry-after"]
    extra = await connect(bp, other)  # another token is not affected
    await recv_until_caught_up(extra)
    await sockets[0].close()
    deadline = time.monotonic() + 5
    while True:  # the slot frees once the server saw the close
        try:
            again = await connect(bp, token)
            break
        except InvalidStatus as exc:
            assert exc.response.status_code == 429 and time.monotonic() < deadline
            await asyncio.sleep(0.02)
    await recv_until_caught_up(again)
    for ws in (*sockets[1:], extra, again):
        await ws.close()
    async with httpx.AsyncClient(base_url=bp.url) as http:
        assert "trayapp_bridge_streams_refused_too_many_total 1.0" in (await http.get("/metrics")).text
    await assert_healthy(bp)


# -- raw HTTP fuzz ------------------------------------------------------------------------------------------------

HOST = b"Host: x\r\n"
HTTP_CASES: list[bytes] = [
    b"GARBAGE\r\n\r\n",
    b"\x00\x01\x02\xff\xfe\r\n\r\n",
    b"GET\r\n\r\n",
    b"GET / HTTP/9.9\r\n" + HOST + b"\r\n",
    b"GET /healthz HTTP/1.1\r\n" + HOST + b"Bad Header Without Colon\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\n" + HOST + b": empty-name\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\n" + HOST + b"X-Ctl: a\x00b\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\n" + HOST + b"X-Huge: " + b"h" * 1_000_000 + b"\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\n" + HOST + b"".join(b"X-%d: v\r\n" % i for i in range(5000)) + b"\r\n",
    b"GET /" + b"p" * 200_000 + b" HTTP/1.1\r\n" + HOST + b"\r\n",
    b"GET /v1/events?since=\xff\xfe HTTP/1.1\r\n" + HOST + b"Authorization: Bearer \xff\xfe\r\n\r\n",
    b"GET /v1/events?since=-1&limit=99999999999999999999 HTTP/1.1\r\n" + HOST + b"Authorization: Bearer x\r\n\r\n",
    b"POST /webhooks/acquire HTTP/1.1\r\n" + HOST + b"Content-Length: 1000\r\n\r\n{\"truncated\":",
    b"POST /webhooks/acquire HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n\r\n10\r\n{\"trunc",
    b"POST /webhooks/acquire HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    b"POST /webhooks/acquire HTTP/1.1\r\n" + HOST + b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    b"POST /webhooks/acquire HTTP/1.1\r\n" + HOST + b"Content-Length: -5\r\n\r\n{}",
    b"POST /webhooks/acquire HTTP/1.1\r\n" + HOST + b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}",
    b"POST /webhooks/acquire HTTP/1.1\r\n" + HOST + b"Content-Length: 4\r\nx-acquire-signature: \xff\r\n\r\n\xff\xfe{}",
    b"POST /webhooks/acquire HTTP/1.1\r\n" + HOST + b"Content-Length: 200002\r\n\r\n" + b"{" * 100_001
    + b"}" * 100_001,
    b"POST /webhooks/acquire HTTP/1.1\r\n" + HOST + b"Content-Length: 2\r\n\r\n{}" * 50,  # pipelined
]
HTTP_CASES += [b"%s /webhooks/acquire HTTP/1.1\r\n%sContent-Length: 0\r\n\r\n" % (m, HOST)
               for m in (b"GET", b"PUT", b"DELETE", b"PATCH", b"OPTIONS", b"HEAD", b"BREW", b"CONNECT", b"TRACE")]
HTTP_CASES += [b"%s %s HTTP/1.1\r\n%sContent-Length: 0\r\n\r\n" % (m, p, HOST)
               for m in (b"POST", b"DELETE") for p in (b"/v1/key", b"/v1/events", b"/healthz", b"/readyz",
                                                      b"/metrics", b"/v1/stream", b"/nope")]


async def test_raw_http_fuzz_table(bridge: BridgeProcess) -> None:
    for request in HTTP_CASES:
        answer = await asyncio.to_thread(raw, bridge, request)
        allow_ok = b"X-4999: v" in request  # 5,000 small headers: under the 64 KiB head limit, a valid GET
        assert_4xx_or_nothing(answer, allow_ok=allow_ok)
        if b"X-Huge" in request or b"p" * 100_000 in request:
            assert statuses(answer) == [431], answer[:300]  # the head limit (server.BridgeHttpProtocol)
    # a head trickled in small pieces is cut off too (no unbounded buffering)
    with socket.create_connection(_addr(bridge), timeout=10) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        answer = b""
        try:
            for _ in range(200):
                s.sendall(b"v" * 8192)
        except OSError:
            pass
        try:
            while chunk := s.recv(65536):
                answer += chunk
        except OSError:
            pass
        assert statuses(answer) == [431], answer[:300]
    await assert_healthy(bridge)


async def test_deep_json_signed_and_unsigned_is_4xx(bridge: BridgeProcess) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    obj = '{"a":' * 100_000 + "1" + "}" * 100_000
    async with httpx.AsyncClient(base_url=bridge.url, timeout=30) as http:
        for text in (deep, obj):
            body, headers = signed(text)
            assert (await http.post("/webhooks/acquire", content=body, headers=headers)).status_code == 400
            resp = await http.post("/webhooks/acquire", content=body, headers={"x-acquire-signature": "ab" * 32})
            assert resp.status_code == 401
    await assert_healthy(bridge)


_http_start = st.sampled_from([b"GET", b"POST", b"PUT", b"\xff", b""]).flatmap(
    lambda m: st.sampled_from([b"/webhooks/acquire", b"/v1/stream", b"/v1/events", b"/", b"/\xfe"]).map(
        lambda p: m + b" " + p))
_http_fuzz = st.one_of(
    st.binary(max_size=2000),
    st.tuples(_http_start, st.binary(max_size=300), st.lists(st.binary(max_size=80), max_size=20),
              st.binary(max_size=500)).map(
        lambda t: t[0] + b" HTTP/1.1\r\nHost: x\r\n" + t[1] + b"\r\n" + b"\r\n".join(t[2]) + b"\r\n\r\n" + t[3]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request=_http_fuzz)
def test_raw_http_fuzz_hypothesis(bridge: BridgeProcess, request: bytes) -> None:
    answer = raw(bridge, request, timeout=10)
    assert_4xx_or_nothing(answer, allow_ok=True)  # random bytes can form a valid GET /healthz
    assert bridge.proc is not None and bridge.proc.poll() is None


async def test_bridge_still_clean_after_http_fuzz(bridge: BridgeProcess) -> None:
    for request in (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(300),  # a TLS hello on plain HTTP
                    os.urandom(4096), b"\r\n" * 10_000):
        assert_4xx_or_nothing(await asyncio.to_thread(raw, bridge, request))
    await assert_healthy(bridge)


# -- WebSocket fuzz -----------------------------------------------------------------------------------------------


def _handshake(token: str, extra: bytes = b"", key: bytes = b"dGhlIHNhbXBsZSBub25jZQ==") -> bytes:
    return (b"GET /v1/stream?since=0 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n"
            b"Authorization: Bearer " + token.encode() + b"\r\n" + extra + b"\r\n")


def _frame(opcode: int, payload: bytes, fin: bool = True, mask: bool = True, rsv: int = 0,
           length: int | None = None) -> bytes:
    head = bytes([(0x80 if fin else 0) | rsv << 4 | opcode])
    n = len(payload) if length is None else length
    mbit = 0x80 if mask else 0
    if n < 126:
        head += bytes([mbit | n])
    elif n < 1 << 16:
        head += bytes([mbit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack("!Q", n)
    if mask:
        key = b"\x01\x02\x03\x04"
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        head += key
    return head + payload


def ws_raw(bp: BridgeProcess, token: str, garbage: bytes, timeout: float = 10.0) -> tuple[bytes, bytes]:
    """Upgrade (read the 101 first: a reset would otherwise discard it), send ``garbage``, read to the end.
    Returns (response head, what came after it)."""
    with socket.create_connection(_addr(bp), timeout=timeout) as s:
        s.sendall(_handshake(token))
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            assert chunk, head
            head += chunk
        head, rest = head.split(b"\r\n\r\n", 1)
        with contextlib.suppress(OSError):  # then a proper close: frames the bridge accepts must not hang here
            s.sendall(garbage + _frame(0x8, struct.pack("!H", 1000)))
        try:
            while chunk := s.recv(65536):
                rest += chunk
        except (ConnectionResetError, TimeoutError):
            pass
        return head, rest


def close_code(after: bytes) -> int | None:
    """The code of the first close frame in the server's frames (``None`` if the server just dropped the TCP)."""
    i = 0
    while i + 2 <= len(after):
        opcode, n = after[i] & 0x0F, after[i + 1] & 0x7F
        i += 2
        if n == 126:
            n = struct.unpack("!H", after[i:i + 2])[0]
            i += 2
        elif n == 127:
            n = struct.unpack("!Q", after[i:i + 8])[0]
            i += 8
        if opcode == 0x8:
            return int(struct.unpack("!H", after[i:i + 2])[0]) if n >= 2 else 1005
        i += n
    return None


def assert_clean_ws_end(head: bytes, after: bytes) -> None:
    assert head.startswith(b"HTTP/1.1 101"), head
    assert b"HTTP/1.1 5" not in after
    code = close_code(after)
    assert code is None or code in (1000, 1001, 1002, 1003, 1005, 1007, 1008, 1009, 4008), (code, after[-200:])


WS_GARBAGE: list[bytes] = [
    os.urandom(64),
    _frame(0x3, b"reserved opcode"),
    _frame(0xB, b"reserved control"),
    _frame(0x1, b"not masked", mask=False),
    _frame(0x1, b"\xff\xfe\xfd invalid utf-8"),
    _frame(0x2, b"binary \x00\x01"),
    _frame(0x1, b"rsv bits", rsv=7),
    _frame(0x9, b"p" * 200),  # control frame over 125 bytes
    _frame(0x9, b"ping", fin=False),  # fragmented control frame
    _frame(0x0, b"continuation without start"),
    _frame(0x1, b"", length=2**63 - 1),  # absurd length
    _frame(0x1, b"x" * 70_000),  # over the 64 KiB message limit
    _frame(0x1, b'{"type":"hello"}') + _frame(0x1, b"[" * 100_000),
    _frame(0x8, b"\x03\xe8" + b"\xff\xfe"),  # close with an invalid UTF-8 reason
    _frame(0x8, b"\x00"),  # close with a 1-byte payload
    _frame(0x8, struct.pack("!H", 999)),  # close with an invalid code
]


async def test_garbage_websocket_frames_get_clean_closes(bridge: BridgeProcess) -> None:
    token = bridge.token()
    for garbage in WS_GARBAGE:
        head, after = await asyncio.to_thread(ws_raw, bridge, token, garbage)
        assert_clean_ws_end(head, after)
    bad_handshakes = [
        _handshake(token, key=b"not-base64!!"),
        _handshake(token, key=b""),
        _handshake(token).replace(b"Sec-WebSocket-Version: 13", b"Sec-WebSocket-Version: 99"),
        _handshake(token).replace(b"Upgrade: websocket", b"Upgrade: \xff\xfe"),
        _handshake("tb_\xff" + "x" * 40),
        _handshake(token, extra=b"Sec-WebSocket-Extensions: permessage-deflate; \xff=1\r\n"),
        _handshake(token).replace(b"?since=0", b"?since=\xff&epoch=%00%ff"),
    ]
    for request in bad_handshakes:
        answer = await asyncio.to_thread(raw, bridge, request)
        for status in statuses(answer):
            assert status < 500, answer[:300]
    await assert_healthy(bridge)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frames=st.lists(st.tuples(st.integers(0, 15), st.binary(max_size=300), st.booleans(), st.booleans(),
                                 st.integers(0, 7)), min_size=1, max_size=6))
def test_websocket_frame_fuzz_hypothesis(bridge: BridgeProcess, frames: list[tuple[int, bytes, bool, bool, int]]
                                         ) -> None:
    token = getattr(bridge, "_fuzz_token", None)
    if token is None:
        token = bridge.token("fuzz")
        bridge._fuzz_token = token  # type: ignore[attr-defined]
    data = b"".join(_frame(op, payload, fin=fin, mask=mask, rsv=rsv) for op, payload, fin, mask, rsv in frames)
    head, after = ws_raw(bridge, token, data)
    assert_clean_ws_end(head, after)
    assert bridge.proc is not None and bridge.proc.poll() is None


async def test_bridge_serves_streams_after_ws_fuzz(bridge: BridgeProcess) -> None:
    token = bridge.token()
    for garbage in WS_GARBAGE[:5]:
        await asyncio.to_thread(ws_raw, bridge, token, garbage)
    ws = await connect(bridge, token, since=0)
    await recv_until_caught_up(ws)
    async with httpx.AsyncClient(base_url=bridge.url) as http:
        seq = (await post(http, case_payload(4242))).json()["seq"]
    frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert frame["seq"] == seq
    await ws.close()
    await assert_healthy(bridge)
