"""The bridge's public edge under abuse, each attack on a real ``trayapp-bridge serve`` on loopback: concurrent
forgeries within the bad-signature budget, slowloris heads and bodies, connection caps, 5,000 hostile sockets,
replays after the window, and secrets in a debug log. Each asserts the defended outcome and that legitimate
traffic still flows.

Loopback has a whole /8: attackers connect from 127.0.0.2 and up (``local_addr``), the legitimate sender from
127.0.0.1, which is also the default ``FORWARDED_ALLOW_IPS`` (a trusted proxy: no per-address connection cap).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import socket
import statistics
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psutil
import pytest

from tests.support.bridges import SECRET, BridgeProcess, case_payload, connect, post, recv_until_caught_up, signed

from .test_hostile import assert_healthy, statuses


def _addr(bp: BridgeProcess) -> tuple[str, int]:
    host, port = bp.url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def _client(bp: BridgeProcess, source: str = "127.0.0.1", connections: int = 10) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(local_address=source, limits=httpx.Limits(max_connections=connections))
    return httpx.AsyncClient(base_url=bp.url, timeout=30, transport=transport)


async def _open(bp: BridgeProcess, source: str, data: bytes = b"") -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection(*_addr(bp), local_addr=(source, 0))
    if data:
        writer.write(data)
        await writer.drain()
    return reader, writer


async def _answer(reader: asyncio.StreamReader, timeout: float) -> bytes:
    """Everything the bridge sends until it closes the connection (raises TimeoutError if it does not)."""
    async with asyncio.timeout(timeout):
        data = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := await reader.read(65536):
                data += chunk
        return data


def _forgery(n: int, size: int) -> tuple[bytes, dict[str, str]]:
    # pretty-printed, so the raw form does not match and the JSON.stringify form would be computed
    body = json.dumps({"event": "case.new", "n": n, "pad": "x" * size}, indent=2).encode()
    return body, {"content-type": "application/json", "x-acquire-signature": f"{n:064x}"}


def _metric(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


# -- cost per forged request -------------------------------------------------------------------------------------

async def test_300_concurrent_forgeries_cost_no_more_than_the_budget(bridge_factory: Any) -> None:
    bp: BridgeProcess = bridge_factory("--max-connections-per-address", "400")  # all 300 get a connection
    attacker = _client(bp, "127.0.0.2", connections=300)
    legit = _client(bp)

    async def forge(n: int) -> int:
        body, headers = _forgery(n, 32 * 1024)
        return (await attacker.post("/webhooks/acquire", content=body, headers=headers)).status_code

    async def deliveries() -> list[int]:
        return [(await post(legit, case_payload(n))).status_code for n in range(20)]

    forged, delivered = await asyncio.gather(asyncio.gather(*(forge(n) for n in range(300))), deliveries())
    assert delivered == [200] * 20  # another address is not held up, and a good signature is never charged
    assert set(forged) <= {401, 429}
    assert forged.count(401) <= 20, forged.count(401)  # = --bad-signature-burst, concurrency or not
    metrics = (await legit.get("/metrics")).text
    assert _metric(metrics, "trayapp_bridge_bad_signatures_total") == forged.count(401)
    assert (await post(legit, case_payload(99))).status_code == 200
    await attacker.aclose()
    await legit.aclose()
    await assert_healthy(bp)


async def test_a_burst_from_one_address_waits_for_slots_instead_of_being_refused(bridge_factory: Any) -> None:
    bp: BridgeProcess = bridge_factory("--max-unverified-per-address", "2")
    async with _client(bp, "127.0.0.1", connections=100) as http:
        answers = await asyncio.gather(*(post(http, case_payload(1000 + n)) for n in range(100)))
    assert [a.status_code for a in answers] == [200] * 100
    assert sorted(a.json()["seq"] for a in answers) == list(range(1, 101))


# -- deadlines ---------------------------------------------------------------------------------------------------

async def test_slowloris_heads_and_bodies_are_cut_at_their_deadlines(bridge_factory: Any) -> None:
    bp: BridgeProcess = bridge_factory("--head-timeout", "1", "--body-timeout", "2")
    partial_body = b"POST /webhooks/acquire HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b"{" * 1000
    started = time.monotonic()
    opened = [await _open(bp, "127.0.0.2", b"") for _ in range(20)]  # nothing at all
    opened += [await _open(bp, "127.0.0.3", b"POST /webhooks/acquire HTTP/1.1\r\nHost: ") for _ in range(20)]
    opened += [await _open(bp, "127.0.0.4", partial_body) for _ in range(20)]
    async with _client(bp) as http:  # meanwhile the bridge serves
        assert (await http.get("/healthz")).status_code == 200
        assert (await post(http, case_payload(1))).status_code == 200
    answers = await asyncio.gather(*(_answer(reader, 10) for reader, _ in opened))
    elapsed = time.monotonic() - started
    assert [statuses(a) for a in answers] == [[408]] * 60, answers[:3]
    assert all(b"not complete within" in a for a in answers)
    assert elapsed < 8, elapsed  # all 60 were cut (1 s head, 2 s body), not held for ever
    for _, writer in opened:
        writer.close()
    await assert_healthy(bp)


async def test_idle_keep_alive_connection_is_closed(bridge_factory: Any) -> None:
    bp: BridgeProcess = bridge_factory("--keep-alive-timeout", "1")
    reader, writer = await _open(bp, "127.0.0.2", b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    answer = await _answer(reader, 5)
    assert statuses(answer) == [200]
    writer.close()


async def test_tls_handshake_must_finish_in_time(bridge_factory: Any, tmp_path: Any) -> None:
    from tests.client.test_tls import self_signed  # a certificate for 127.0.0.1

    cert, key = self_signed(tmp_path)
    bp: BridgeProcess = bridge_factory("--tls-cert", str(cert), "--tls-key", str(key),
                                       "--tls-handshake-timeout", "1")
    host, port = bp.url.removeprefix("https://").rsplit(":", 1)
    started = time.monotonic()
    reader, writer = await asyncio.open_connection(host, int(port))  # TCP only: no ClientHello
    await _answer(reader, 10)
    assert time.monotonic() - started < 5
    writer.close()


# -- caps ----------------------------------------------------------------------------------------------------------

async def test_connections_over_the_caps_are_refused_cleanly(bridge_factory: Any) -> None:
    bp: BridgeProcess = bridge_factory("--max-connections-per-address", "10", "--max-connections", "40")
    held = [await _open(bp, "127.0.0.2") for _ in range(10)]
    reader, writer = await _open(bp, "127.0.0.2")
    refused = await _answer(reader, 5)
    assert statuses(refused) == [429] and b"127.0.0.2 holds its maximum of 10 connections" in refused
    assert b"retry-after: 1" in refused
    writer.close()
    held += [await _open(bp, "127.0.0.1") for _ in range(29)]  # the trusted proxy address has no per-address cap
    async with _client(bp, connections=1) as http:  # connection 40 of 40
        assert (await http.get("/healthz")).status_code == 200
        reader, writer = await _open(bp, "127.0.0.3")
        full = await _answer(reader, 5)
        assert statuses(full) == [503] and b"maximum of 40 connections" in full
        writer.close()
    for _, w in held[:5]:
        w.close()
    async with _client(bp) as http:  # freed slots are reusable
        assert (await post(http, case_payload(5))).status_code == 200
    for _, w in held[5:]:
        w.close()


def _raise_own_nofile(want: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < want:
        pytest.skip(f"needs {want} open files (hard limit {hard})")


@contextlib.asynccontextmanager
async def hostile_sockets(bp: BridgeProcess, n: int, addresses: int) -> AsyncIterator[list[asyncio.StreamWriter]]:
    """``n`` sockets from ``addresses`` source addresses: a third idle, a third with a partial head, a third with a
    60 KB partial body."""
    head = b"POST /webhooks/acquire HTTP/1.1\r\nHost: x\r\nContent-Le"
    body = b"POST /webhooks/acquire HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 60_000
    writers: list[asyncio.StreamWriter] = []
    try:
        for i in range(n):
            source = f"127.0.{1 + i % addresses // 250}.{1 + i % addresses % 250}"
            _, writer = await _open(bp, source, (b"", head, body)[i % 3])
            writers.append(writer)
        yield writers
    finally:
        for writer in writers:
            writer.close()


async def _all_accepted(bridge: psutil.Process, n: int) -> None:
    """Wait (at most 60 s) until the bridge holds ``n`` connections (it accepts them from its listen backlog)."""
    deadline = time.monotonic() + 60
    while (open_now := len(bridge.net_connections("tcp"))) < n:
        assert time.monotonic() < deadline, f"the bridge holds {open_now} of the {n} connections after 60 s"
        await asyncio.sleep(0.2)


async def _all_gone(bridge: psutil.Process) -> None:
    """Wait (at most 60 s) until the bridge sees the hostile sockets go."""
    deadline = time.monotonic() + 60
    while (still_open := len(bridge.net_connections("tcp"))) > 100:
        assert time.monotonic() < deadline, f"{still_open} connections still open after 60 s"
        await asyncio.sleep(0.2)


async def test_5000_hostile_sockets_legitimate_traffic_flows_memory_bounded(bridge_factory: Any) -> None:
    _raise_own_nofile(5000 + 500)
    bp: BridgeProcess = bridge_factory("--head-timeout", "120", "--body-timeout", "120")
    bridge = psutil.Process(bp.pid)
    assert bridge.rlimit(psutil.RLIMIT_NOFILE)[0] >= 5000  # raised by the bridge itself to fit --max-connections
    async with _client(bp) as http:
        for n in range(20):  # warm up
            assert (await post(http, case_payload(n))).status_code == 200
        idle_rss = bridge.memory_info().rss
        quiet = [await _timed_post(http, 100 + n) for n in range(50)]
        async with hostile_sockets(bp, 5000, addresses=50) as writers:
            assert len(writers) == 5000
            await _all_accepted(bridge, 5000)  # connected on our side can still mean waiting in the listen backlog
            assert (await http.get("/healthz")).status_code == 200
            under_attack = [await _timed_post(http, 200 + n) for n in range(50)]
            attacked_rss = bridge.memory_info().rss
        await _all_gone(bridge)
        after = [await _timed_post(http, 300 + n) for n in range(20)]
        # Memory returns: glibc's heap is trimmed once the connections are gone. How much of it the OS gets back
        # depends on fragmentation (Python's small-object arenas go back only when wholly empty), so the firm checks
        # are that RSS falls below the attack's level and that a second attack reuses what the first one freed
        # instead of growing: bounded over any number of attacks, not only one.
        target, settle = idle_rss + (attacked_rss - idle_rss) // 3, time.monotonic() + 10  # typically within 2-4 s
        while (after_rss := bridge.memory_info().rss) > target and time.monotonic() < settle:
            await asyncio.sleep(0.2)
        assert after_rss < attacked_rss, f"RSS {after_rss >> 20} MiB (idle {idle_rss >> 20}, attacked " \
                                         f"{attacked_rss >> 20}) 10 s after the sockets went"
        async with hostile_sockets(bp, 5000, addresses=50) as writers:
            assert len(writers) == 5000
            await _all_accepted(bridge, 5000)
            assert (await http.get("/healthz")).status_code == 200
            second_rss = bridge.memory_info().rss
        await _all_gone(bridge)
        assert second_rss - idle_rss < (attacked_rss - idle_rss) * 1.2, \
            f"a second attack grew RSS to {second_rss >> 20} MiB (first {attacked_rss >> 20}, idle {idle_rss >> 20})"
    mib = 1 << 20
    print(f"\nedge: legit webhook p50 quiet {statistics.median(quiet):.1f} ms, under 5,000 hostile sockets "
          f"{statistics.median(under_attack):.1f} ms (max {max(under_attack):.1f}), after "
          f"{statistics.median(after):.1f} ms; RSS idle {idle_rss / mib:.0f} MiB, with 5,000 sockets "
          f"{attacked_rss / mib:.0f} MiB, after {after_rss / mib:.0f} MiB, a second attack {second_rss / mib:.0f} MiB")
    assert attacked_rss - idle_rss < 5000 * 100 * 1024  # bounded: < 100 KiB per hostile socket
    await assert_healthy(bp)


async def _timed_post(http: httpx.AsyncClient, n: int) -> float:
    started = time.perf_counter()
    response = await post(http, case_payload(n))
    assert response.status_code == 200, response.text
    return (time.perf_counter() - started) * 1000


# -- replays -------------------------------------------------------------------------------------------------------

async def test_replay_after_the_window_is_refused_and_within_it_is_a_duplicate(bridge_factory: Any) -> None:
    bp: BridgeProcess = bridge_factory("--retention-days", "1")
    async with _client(bp) as http:
        fresh = case_payload(1)
        assert (await post(http, fresh)).json() == {"seq": 1, "duplicate": False}
        assert (await post(http, fresh)).json() == {"seq": 1, "duplicate": True}
        for stamp in (datetime.now(UTC) - timedelta(days=1, minutes=1)).isoformat(), time.time() - 90_000:
            captured = {**case_payload(2), "timestamp": stamp}
            answer = await post(http, captured)
            assert answer.status_code == 400, answer.text
            assert "older than the replay window of 1 days" in answer.json()["error"]
        assert (await http.get("/readyz")).json()["head"] == 1  # nothing stored, no popup
        no_time = {k: v for k, v in case_payload(3).items() if k != "timestamp"}
        assert (await post(http, no_time)).status_code == 200  # no event time: only the dedupe window applies
    await assert_healthy(bp)


# -- secrets in logs -----------------------------------------------------------------------------------------------

def _require_password(port: int, password: str) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"CONFIG SET requirepass {password}\r\n".encode())
        assert s.recv(64).startswith(b"+OK")


async def test_debug_log_of_a_full_session_holds_no_secret(bridge_factory: Any, tmp_path: Any) -> None:
    from tests.support.redis_server import redis_server

    password = "r3dis-pa55word-xyz"
    secret_file = tmp_path / "secrets"
    short = "tiny,secret"  # kept whole (comma included) and warned about: under 16 characters
    secret_file.write_text(f"# the webhook secrets\n{SECRET}\n{short}\n")
    with redis_server(tmp_path) as redis:
        _require_password(redis.port, password)
        url = f"{redis.url}?password={password}"
        bp: BridgeProcess = bridge_factory("--log-level", "debug", "--access-log", "--secret-file", str(secret_file),
                                           "--redis-url", url, secret="")
        bp.redis_url = url
        token = bp.token("Maria Lopez")
        async with _client(bp) as http:
            body, headers = signed(case_payload(1))
            assert (await http.post("/webhooks/acquire", content=body, headers=headers)).status_code == 200
            body, headers = signed(case_payload(2), secret=short)
            assert (await http.post("/webhooks/acquire", content=body, headers=headers)).status_code == 200
            forged, forged_headers = _forgery(1, 10)
            assert (await http.post("/webhooks/acquire", content=forged, headers=forged_headers)).status_code == 401
            assert (await http.get("/v1/events", headers={"Authorization": f"Bearer {token}"})).status_code == 200
            wrong = "tb_" + "x" * 43
            assert (await http.get("/v1/events", headers={"Authorization": f"Bearer {wrong}"})).status_code == 401
        ws = await connect(bp, token, since=0)
        await recv_until_caught_up(ws)
        await ws.close()
        bp.cli("token", "revoke", "Maria Lopez")
        bp.stop()
    # and Redis unreachable: the "waiting for Redis" warnings
    down = bridge_factory("--redis-url", f"redis://127.0.0.1:{_closed_port()}/0?password={password}", start=False)
    down.redis_url = None
    with pytest.raises(AssertionError):
        down.start(timeout=2)  # it waits for Redis instead of listening
    down.stop()
    log = bp.stderr() + down.stderr()
    assert "DEBUG" in log and "< authorization: ***" in log.lower()  # the handshake's headers were logged, masked
    assert "WEBHOOK SECRET #2 IS ONLY 11 CHARACTERS" in log
    assert "waiting for Redis at redis://127.0.0.1:" in log
    for secret in (SECRET, short, token, token[3:], wrong, password, headers["x-acquire-signature"],
                   forged_headers["x-acquire-signature"]):
        assert secret not in log, (secret, [line for line in log.splitlines() if secret in line][:3])


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- bounded reads, department scoping --------------------------------------------------------------------------

def _in_department(n: int, department: Any) -> dict[str, Any]:
    payload = case_payload(n)
    if department is not None:
        payload["data"]["case"]["department"] = department
    return payload


async def _events(http: httpx.AsyncClient, token: str, **params: int) -> list[int]:
    answer = await http.get("/v1/events", params=params, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    return [frame["seq"] for frame in answer.json()]


async def test_a_scoped_token_reads_only_its_departments_and_unassigned_events(bridge_factory: Any) -> None:
    bp: BridgeProcess = bridge_factory()
    everyone = bp.token("lead")
    added = json.loads(bp.cli("token", "add", "Maria", "--departments", "Sales, billing", "--json").stdout)
    assert added["departments"] == ["Sales", "billing"]
    assert "departments Sales, billing" in bp.cli("token", "list").stdout
    scoped = added["token"]
    bad = bp.cli("token", "add", "Nobody", "--departments", " , ", check=False)
    assert bad.returncode == 2 and "at least one department" in bad.stderr
    ws_all = await connect(bp, everyone)
    ws_scoped = await connect(bp, scoped)
    await recv_until_caught_up(ws_all)
    await recv_until_caught_up(ws_scoped)
    departments = ["Sales", "Support", None, "Billing", {"name": "Support"}, " sales ", {"name": "BILLING"}, ""]
    visible = [1, 3, 4, 6, 7, 8]  # Sales, unassigned, Billing, sales, BILLING, "" (unassigned)
    async with _client(bp) as http:
        for n, department in enumerate(departments, 1):
            assert (await post(http, _in_department(n, department))).json()["seq"] == n
        live_all = [(await _next_event(ws_all)) for _ in departments]
        live_scoped = [(await _next_event(ws_scoped)) for _ in visible]
        assert live_all == list(range(1, 9)) and live_scoped == visible
        assert (await post(http, _in_department(9, "Support"))).json()["seq"] == 9
        assert (await post(http, _in_department(10, "Sales"))).json()["seq"] == 10
        assert await _next_event(ws_scoped) == 10  # 9 passed over, live
        assert await _events(http, scoped) == [*visible, 10]
        assert await _events(http, scoped, limit=2) == [1, 3]
        assert await _events(http, scoped, since=4, limit=2) == [6, 7]
        assert await _events(http, everyone, limit=3) == [1, 2, 3]
    backlog = await connect(bp, scoped, since=0)
    _, frames, caught = await recv_until_caught_up(backlog)
    assert [f.seq for f in frames] == [*visible, 10] and caught.head == 10  # type: ignore[union-attr]
    for ws in (ws_all, ws_scoped, backlog):
        await ws.close()


async def _next_event(ws: Any) -> int:
    from trayapp.core import wire

    while True:
        frame = wire.decode(await asyncio.wait_for(ws.recv(), 10))
        if isinstance(frame, wire.EventFrame):
            return frame.seq


async def test_v1_events_is_bounded_by_bytes_and_streamed(bridge_factory: Any) -> None:
    bp: BridgeProcess = bridge_factory()
    token = bp.token()
    async with _client(bp) as http:
        for n in range(12):
            assert (await post(http, case_payload(n, pad=600_000))).status_code == 200
        answer = await http.get("/v1/events", params={"limit": 1000}, headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200 and "content-length" not in answer.headers  # streamed (chunked)
        first = [frame["seq"] for frame in answer.json()]
        assert 1 <= len(first) < 12 and len(answer.content) < (4 << 20) + 2 * 1_300_000
        rest = await _events(http, token, since=first[-1], limit=1000)
        while rest and rest[-1] < 12:
            rest += await _events(http, token, since=rest[-1], limit=1000)
        assert first + rest == list(range(1, 13))
        assert await _events(http, token, since=12) == []
