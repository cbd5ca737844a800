"""The real client (Connection + History) against a real ``trayapp-bridge serve`` process.

Events flow from signed webhooks, nothing is lost or repeated across a bridge kill/restart and a client restart,
a tampered ``sig`` (through a relay that alters frames) is rejected, ``gap`` frames are surfaced, a revoked token
turns into the ERROR state.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from tests.support.bridges import FIXTURE_WINDOW, BridgeProcess, case_payload, cli, load_fixtures, signed
from tests.support.client import Recorder, quick_delays, run_connection
from trayapp.client.connection import TOKEN_REVOKED, Connection, ConnectionConfig
from trayapp.client.history import Cursor, History
from trayapp.core.link import parse_link
from trayapp.model.connection import ConnectionState, Problem

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]  # real bridge processes


def token_link(bp: BridgeProcess, name: str = "agent") -> tuple[str, str, str]:
    """(token, key, link) for a new token, from ``token add --json``."""
    out = json.loads(cli("token", "add", name, "--json", "--url", bp.url, data_dir=bp.data_dir).stdout)
    return out["token"], out["key"], out["link"]


async def post_all(url: str, payloads: list[dict[str, Any] | str]) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        for payload in payloads:
            body, headers = signed(payload)
            response = await client.post("/webhooks/acquire", content=body, headers=headers)
            assert response.status_code in (200, 202), response.text


@contextlib.asynccontextmanager
async def client(config: ConnectionConfig, store: Any, rec: Recorder) -> AsyncIterator[Connection]:
    conn = Connection(config, store, rec, delays=lambda: quick_delays(0.1))
    async with run_connection(conn):
        yield conn


@pytest.fixture
def history(tmp_path: Path) -> Iterator[History]:
    with History(tmp_path / "client-history.sqlite3") as h:
        yield h


async def test_every_fixture_flows_verified(bridge_factory: Callable[..., BridgeProcess], history: History,
                                            recorder: Recorder) -> None:
    bridge = bridge_factory(*FIXTURE_WINDOW)
    token, key, link = token_link(bridge)
    assert parse_link(link).url == bridge.url
    valid = [f for f in load_fixtures() if f["expect"]["signature_valid"] and "http_status" not in f["expect"]]
    async with client(ConnectionConfig(bridge.url, token, key), history, recorder):
        await recorder.until(lambda: recorder.caught_up)
        async with httpx.AsyncClient(base_url=bridge.url, timeout=30) as http:
            for f in valid:
                response = await http.post("/webhooks/acquire", content=f["body"].encode(), headers=f["headers"])
                assert response.status_code in (200, 202), (f["name"], response.text)
        await recorder.until(lambda: len(recorder.events) == len(valid))
    for f, (row, replay) in zip(valid, recorder.events, strict=True):
        assert not replay
        assert row.event.body == f["body"]
        expect = f["expect"]
        assert (row.event.event.kind, row.event.event.status, row.event.event.case_id) == (
            expect["kind"], expect.get("status"), expect.get("case_id")), f["name"]
    assert recorder.failures == [] and recorder.gaps == []
    assert history.count() == len(valid)


async def test_bridge_killed_and_restarted_nothing_lost_nothing_twice(
    bridge_factory: Callable[..., BridgeProcess], tmp_path: Path, history: History, recorder: Recorder
) -> None:
    bp = bridge_factory()
    port = urlsplit(bp.url).port
    token, key, _ = token_link(bp)
    config = ConnectionConfig(bp.url, token, key)
    async with client(config, history, recorder):
        await recorder.until(lambda: recorder.caught_up)
        await post_all(bp.url, [case_payload(n) for n in range(1, 4)])
        await recorder.until(lambda: len(recorder.events) == 3)
        bp.kill9()
        await recorder.until(lambda: recorder.state is ConnectionState.OFFLINE)
        # Same data dir, same port: the client's backoff finds it again.
        bp2 = bridge_factory("--port", str(port), data_dir=bp.data_dir)
        await post_all(bp2.url, [case_payload(n) for n in range(4, 7)])
        await recorder.until(lambda: len(recorder.events) == 6 and recorder.state is ConnectionState.CONNECTED)
    # The client is stopped; events arrive meanwhile; a new client process (same history) resumes.
    await post_all(bp2.url, [case_payload(n) for n in range(7, 10)])
    await post_all(bp2.url, [case_payload(5)])  # a webhook retry: deduplicated by the bridge
    second = Recorder()
    async with client(config, history, second):
        await second.until(lambda: second.caught_up)
        await post_all(bp2.url, [case_payload(10)])
        await second.until(lambda: len(second.events) == 4)
    seqs = recorder.seqs + second.seqs
    assert seqs == list(range(1, 11)), seqs
    assert [r for _, r in second.events] == [True, True, True, False]
    assert second.caught_up == [3]
    assert history.count() == 10
    assert [r.event.event.case_id for r in history.recent()] == [str(n) for n in range(10, 0, -1)]
    cursor = history.cursor()
    assert cursor is not None and cursor.seq == 10


class TamperingRelay:
    """A WebSocket relay in front of the bridge that alters the body of chosen event frames (keeping ``sig``)."""

    def __init__(self, upstream: str, tamper_seqs: set[int]) -> None:
        self.upstream = upstream.replace("http://", "ws://")
        self.tamper_seqs = tamper_seqs

    async def __aenter__(self) -> TamperingRelay:
        self.server = await serve(self._handler, "127.0.0.1", 0, ping_interval=None)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        await self.server.wait_closed()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{next(iter(self.server.sockets)).getsockname()[1]}"

    async def _handler(self, down: ServerConnection) -> None:
        assert down.request is not None
        headers = {"Authorization": down.request.headers["Authorization"]}
        async with ws_connect(self.upstream + down.request.path, additional_headers=headers) as up:

            async def forward() -> None:
                with contextlib.suppress(ConnectionClosed):
                    async for text in up:
                        data = json.loads(text)
                        if data.get("type") == "event" and data["seq"] in self.tamper_seqs:
                            data["body"] = data["body"].replace("Visitor", "Attacker")
                            data["event"]["contact_name"] = "Attacker"
                            text = json.dumps(data)
                        await down.send(text)

            tasks = {asyncio.create_task(forward()), asyncio.create_task(down.wait_closed())}
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def test_tampered_sig_is_rejected(bridge: BridgeProcess, history: History, recorder: Recorder) -> None:
    token, key, _ = token_link(bridge)
    async with TamperingRelay(bridge.url, {2}) as relay, client(ConnectionConfig(relay.url, token, key), history,
                                                                 recorder) as conn:
        await recorder.until(lambda: recorder.caught_up)
        await post_all(bridge.url, [case_payload(n) for n in range(1, 4)])
        await recorder.until(lambda: len(recorder.events) == 2 and recorder.failures)
    assert recorder.seqs == [1, 3]
    assert len(recorder.failures) == 1 and "event 2" in recorder.failures[0]
    assert conn.failures == 1
    assert all("Attacker" not in r.event.body for r in history.recent(bodies=True))


async def test_pinned_key_mismatch_rejects_events(bridge_factory: Callable[..., BridgeProcess], history: History,
                                                  recorder: Recorder) -> None:
    bp = bridge_factory()
    other = bridge_factory()
    token, _, _ = token_link(bp)
    _, other_key, _ = token_link(other)
    await post_all(bp.url, [case_payload(1)])
    async with client(ConnectionConfig(bp.url, token, other_key, refused_retry=60.0), history, recorder):
        await recorder.until(lambda: recorder.state is ConnectionState.ERROR)
    assert recorder.states[-1].problem is Problem.KEY_MISMATCH  # at hello, before any event
    assert recorder.events == [] and recorder.caught_up == [] and history.count() == 0 and history.cursor() is None


async def test_epoch_gap_is_surfaced(bridge: BridgeProcess, history: History, recorder: Recorder) -> None:
    token, key, _ = token_link(bridge)
    await post_all(bridge.url, [case_payload(n) for n in range(1, 3)])
    history.skip_to("an-older-bridge", 7)  # a cursor from another store
    async with client(ConnectionConfig(bridge.url, token, key), history, recorder):
        await recorder.until(lambda: recorder.caught_up)
    assert [(g.first, g.last, g.reason) for g in recorder.gaps] == [(None, None, "epoch")]
    assert recorder.seqs == [1, 2] and recorder.caught_up == [2]
    cursor = history.cursor()
    assert cursor is not None and cursor != Cursor("an-older-bridge", 7) and cursor.seq == 2


async def test_retention_gap_is_surfaced(bridge_factory: Callable[..., BridgeProcess], history: History,
                                         recorder: Recorder) -> None:
    bp = bridge_factory()
    port = urlsplit(bp.url).port
    token, key, _ = token_link(bp)
    config = ConnectionConfig(bp.url, token, key)
    async with client(config, history, recorder):
        await recorder.until(lambda: recorder.caught_up)
        await post_all(bp.url, [case_payload(1)])
        await recorder.until(lambda: recorder.events)
    await post_all(bp.url, [case_payload(n) for n in range(2, 5)])  # the client is away
    bp.stop()
    # Restart with a retention of ~0.09 s: the start-up pass drops what the client missed.
    bp2 = bridge_factory("--port", str(port), "--retention-days", "0.000001", "--log-level", "info",
                         data_dir=bp.data_dir)
    await wait_for_log(bp2, "retention: dropped")
    second = Recorder()
    async with client(config, history, second):
        await second.until(lambda: second.caught_up)
    assert [(g.first, g.last, g.reason) for g in second.gaps] == [(2, 4, "retention")]
    cursor = history.cursor()
    assert cursor is not None and cursor.seq == 4  # the reported gap is not re-reported on the next connect


async def wait_for_log(bp: BridgeProcess, text: str, timeout: float = 15.0) -> None:
    async def poll() -> None:
        while text not in bp.stderr():
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), timeout)


async def test_revoked_token_is_an_error_state(bridge: BridgeProcess, history: History, recorder: Recorder) -> None:
    token, key, _ = token_link(bridge, "leaver")
    async with client(ConnectionConfig(bridge.url, token, key, refused_retry=60.0), history, recorder):
        await recorder.until(lambda: recorder.caught_up)
        await asyncio.to_thread(cli, "token", "revoke", "leaver", data_dir=bridge.data_dir)
        await recorder.until(lambda: recorder.state is ConnectionState.ERROR)
    assert recorder.states[-1].detail == TOKEN_REVOKED  # close 4001
    assert recorder.states[-1].problem is Problem.REVOKED
    refused = Recorder()
    async with client(ConnectionConfig(bridge.url, token, key, refused_retry=60.0), history, refused):
        await refused.until(lambda: refused.state is ConnectionState.ERROR)
    assert refused.states[-1].detail == TOKEN_REVOKED  # HTTP 403
    assert refused.states[-1].problem is Problem.REVOKED
