"""The client's connection logic against an in-process fake bridge: verify, store, resume, gaps, close codes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.support.client import Recorder, run_connection
from trayapp.client.connection import KEY_MISMATCH, TOKEN_REFUSED, TOKEN_REVOKED, Connection, ConnectionConfig
from trayapp.client.errors import ClientError, NotConfigured
from trayapp.client.history import Cursor, History
from trayapp.core import wire
from trayapp.model.connection import ConnectionState, Problem

from .fakebridge import FakeBridge, case_body, running, tampered


async def test_events_flow_verified_stored_and_cursor_advances(fake: FakeBridge, history: History,
                                                               recorder: Recorder) -> None:
    await fake.add(case_body(1))
    async with running(fake, history, recorder):
        await recorder.until(lambda: recorder.state is ConnectionState.CONNECTED and recorder.caught_up)
        assert recorder.caught_up == [0]  # first connection: no since → live only
        await fake.add(case_body(2))
        await fake.add(case_body(3, "chat.status.closed", "closed"))
        await recorder.until(lambda: len(recorder.events) == 2)
    assert recorder.seqs == [2, 3]
    assert [replay for _, replay in recorder.events] == [False, False]
    row = recorder.events[1][0]
    assert row.event.event.kind == "chat.status" and row.event.event.status == "closed"
    assert row.event.event.case_id == "3" and not row.read
    cursor = history.cursor()
    assert cursor is not None and (cursor.epoch, cursor.seq) == ("epoch-1", 3)
    assert [r.event.seq for r in history.recent()] == [3, 2]
    assert fake.seen[0].authorization == f"Bearer {fake.token}"
    assert fake.seen[0].since is None


async def test_resume_replays_backlog_with_since_and_epoch(fake: FakeBridge, history: History,
                                                           recorder: Recorder) -> None:
    async with running(fake, history, recorder):
        await recorder.until(lambda: recorder.caught_up)
        await fake.add(case_body(1))
        await recorder.until(lambda: len(recorder.events) == 1)
    # offline: two more events arrive
    await fake.add(case_body(2))
    await fake.add(case_body(3))
    async with running(fake, history, recorder):
        await recorder.until(lambda: len(recorder.caught_up) == 2)
    assert (fake.seen[-1].since, fake.seen[-1].epoch) == (1, "epoch-1")
    assert recorder.seqs == [1, 2, 3]
    assert [replay for _, replay in recorder.events] == [False, True, True]
    assert recorder.caught_up == [0, 2]


async def test_first_connection_remembers_head_so_a_drop_loses_nothing(fake: FakeBridge, history: History,
                                                                        recorder: Recorder) -> None:
    await fake.add(case_body(1))  # before this client existed: not replayed
    async with running(fake, history, recorder):
        await recorder.until(lambda: recorder.caught_up)
    assert history.cursor() is not None
    await fake.add(case_body(2))  # while the fresh client is offline, before it saw any event
    async with running(fake, history, recorder):
        await recorder.until(lambda: len(recorder.caught_up) == 2)
    assert (fake.seen[-1].since, fake.seen[-1].epoch) == (1, "epoch-1")
    assert recorder.seqs == [2]


async def test_tampered_frame_is_dropped_counted_and_reported(fake: FakeBridge, history: History,
                                                              recorder: Recorder) -> None:
    async with running(fake, history, recorder) as conn:
        await recorder.until(lambda: recorder.caught_up)
        fake.tamper = tampered
        await fake.add(case_body(1))
        await recorder.until(lambda: recorder.failures)
        fake.tamper = None
        await fake.add(case_body(2))
        await recorder.until(lambda: recorder.events)
    assert recorder.seqs == [2]
    assert "signature does not verify" in recorder.failures[0]
    assert conn.failures == 1
    assert history.get("evt-epoch-1-1") is None
    assert all("Evil" not in row.event.body for row in history.recent(bodies=True))


async def test_wrong_pinned_key_is_a_key_mismatch_at_hello(fake: FakeBridge, history: History,
                                                             recorder: Recorder) -> None:
    await fake.add(case_body(1))
    other = FakeBridge()
    async with running(fake, history, recorder, key=other.key_text, refused_retry=60.0):
        await recorder.until(lambda: recorder.state is ConnectionState.ERROR)
    assert recorder.states[-1].problem is Problem.KEY_MISMATCH
    assert recorder.states[-1].detail == KEY_MISMATCH
    assert ConnectionState.CONNECTED not in [s.state for s in recorder.states]  # never said "connected"
    assert recorder.events == [] and recorder.caught_up == [] and history.count() == 0
    assert history.cursor() is None  # nothing from that bridge was acted on
    assert len(fake.seen) == 1  # a slow retry: the key will not fix itself


async def test_hello_replayed_from_another_connection_is_refused(fake: FakeBridge, history: History,
                                                                 recorder: Recorder) -> None:
    old = fake.control(wire.Hello(epoch=fake.epoch, head=0), "an-earlier-connection-nonce")
    fake.before_hello = lambda: old
    async with running(fake, history, recorder):
        await recorder.until(lambda: recorder.state is ConnectionState.OFFLINE)
    assert "another connection's hello" in recorder.states[-1].detail
    assert fake.seen[0].nonce and wire.check_nonce(fake.seen[0].nonce)
    assert len({seen.nonce for seen in fake.seen}) == len(fake.seen)  # a fresh nonce per connection


@pytest.mark.parametrize("forged", [wire.CaughtUp(head=100), wire.Gap(1, 100, "retention")])
async def test_unsigned_or_foreign_control_frames_are_not_acted_on(fake: FakeBridge, history: History,
                                                                    recorder: Recorder,
                                                                    forged: wire.ControlFrame) -> None:
    history.skip_to(fake.epoch, 0)
    await fake.add(case_body(1))
    other = Ed25519PrivateKey.generate()
    nonces: list[str] = []

    def forge(frame: wire.EventFrame) -> wire.EventFrame:
        nonces.append(fake.seen[-1].nonce)
        return frame

    fake.tamper = forge
    injected = {"done": False}

    async def inject() -> None:
        await recorder.until(lambda: recorder.events)
        injected["done"] = True
        for ws in fake.connections:
            await ws.send(wire.encode(wire.sign_control(other, forged, nonces[-1], fake.epoch)))

    async with running(fake, history, recorder, backoff_initial=30.0):
        task = asyncio.create_task(inject())
        await recorder.until(lambda: recorder.failures)
        await task
    assert "does not verify" in recorder.failures[0]
    assert history.cursor() == Cursor(fake.epoch, 1)  # the forged head / range was not skipped to
    assert recorder.gaps == []


async def test_malformed_frame_is_reported(fake: FakeBridge, history: History, recorder: Recorder) -> None:
    fake.tamper = lambda f: replace(f, sig="not base64!")
    async with running(fake, history, recorder):
        await recorder.until(lambda: recorder.caught_up)
        await fake.add(case_body(1))
        await recorder.until(lambda: recorder.failures)
    assert history.count() == 0


async def test_retention_gap_is_reported_and_skipped(fake: FakeBridge, history: History, recorder: Recorder) -> None:
    history.skip_to("epoch-1", 0)
    for n in range(1, 6):
        await fake.add(case_body(n))
    fake.retained_from = 4
    async with running(fake, history, recorder):
        await recorder.until(lambda: recorder.caught_up)
    assert recorder.gaps == [wire.Gap(1, 3, "retention")]
    assert recorder.seqs == [4, 5]
    assert recorder.caught_up == [2]


async def test_epoch_change_gap_then_full_replay_deduped(fake: FakeBridge, history: History,
                                                         recorder: Recorder) -> None:
    async with running(fake, history, recorder):
        await recorder.until(lambda: recorder.caught_up)
        await fake.add(case_body(1), event_id="same-id")
        await recorder.until(lambda: recorder.events)
    fake.epoch = "epoch-2"  # the bridge's store was replaced; the same event comes again
    async with running(fake, history, recorder):
        await recorder.until(lambda: len(recorder.caught_up) == 2)
    assert recorder.gaps == [wire.Gap(None, None, "epoch")]
    assert recorder.seqs == [1]  # not twice
    cursor = history.cursor()
    assert cursor is not None and cursor.epoch == "epoch-2"


async def test_epoch_change_to_an_empty_store_is_reported_once(fake: FakeBridge, history: History,
                                                                recorder: Recorder) -> None:
    history.skip_to("old-epoch", 9)
    async with running(fake, history, recorder) as conn:
        await recorder.until(lambda: recorder.caught_up)
        conn.reconnect_now()
        await recorder.until(lambda: len(recorder.caught_up) == 2)
    assert len(recorder.gaps) == 1
    assert (fake.seen[-1].since, fake.seen[-1].epoch) == (0, "epoch-1")


async def test_unknown_frame_types_are_ignored(fake: FakeBridge, history: History, recorder: Recorder) -> None:
    fake.before_hello = None
    async with running(fake, history, recorder):
        await recorder.until(lambda: recorder.caught_up)
        assert fake.connections
        await fake.connections[-1].send('{"type":"news","text":"from a newer bridge"}')
        await fake.add(case_body(1))
        await recorder.until(lambda: recorder.events)
    assert recorder.failures == []


@pytest.mark.parametrize(("status", "problem", "detail"), [(401, Problem.TOKEN_REFUSED, TOKEN_REFUSED),
                                                          (403, Problem.REVOKED, TOKEN_REVOKED)])
async def test_token_refused_at_handshake(fake: FakeBridge, history: History, recorder: Recorder,
                                          status: int, problem: Problem, detail: str) -> None:
    fake.refuse_status = status
    async with running(fake, history, recorder, refused_retry=60.0):
        await recorder.until(lambda: recorder.state is ConnectionState.ERROR)
    assert recorder.states[-1].detail == detail
    assert recorder.states[-1].problem is problem
    assert len(fake.seen) == 1  # the slow retry did not hammer


async def test_close_4001_means_revoked(fake: FakeBridge, history: History, recorder: Recorder) -> None:
    async with running(fake, history, recorder, refused_retry=60.0):
        await recorder.until(lambda: recorder.caught_up)
        await fake.close_all(wire.CLOSE_REVOKED, "token revoked")
        await recorder.until(lambda: recorder.state is ConnectionState.ERROR)
    assert recorder.states[-1].detail == TOKEN_REVOKED
    assert recorder.states[-1].problem is Problem.REVOKED


async def test_close_4008_resumes_at_once_and_loses_nothing(fake: FakeBridge, history: History,
                                                            recorder: Recorder) -> None:
    async with running(fake, history, recorder, backoff_initial=30.0):
        await recorder.until(lambda: recorder.caught_up)
        await fake.add(case_body(1))
        await recorder.until(lambda: recorder.events)
        await fake.close_all(wire.CLOSE_SLOW_CONSUMER, "slow consumer")
        await fake.add(case_body(2))
        await recorder.until(lambda: len(recorder.caught_up) == 2 and len(recorder.events) == 2)
    assert fake.seen[-1].since == 1
    assert recorder.seqs == [1, 2]


async def test_history_failure_is_an_error_state_not_a_dead_task(fake: FakeBridge, history: History,
                                                                   recorder: Recorder,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from trayapp.client.errors import HistoryError

    def disk_full(*args: object) -> None:
        raise HistoryError("cannot store an event in the history: database or disk is full")

    async with running(fake, history, recorder):
        await recorder.until(lambda: recorder.caught_up)
        with monkeypatch.context() as m:
            m.setattr(history, "add", disk_full)
            await fake.add(case_body(1))
            await recorder.until(lambda: recorder.state is ConnectionState.ERROR)
            assert "disk is full" in recorder.states[-1].detail
            assert recorder.states[-1].problem is Problem.INTERNAL
        await recorder.until(lambda: recorder.events and recorder.state is ConnectionState.CONNECTED)
    assert recorder.seqs == [1]  # not lost: the cursor had not moved


async def test_repeated_4008_backs_off(fake: FakeBridge, history: History, recorder: Recorder) -> None:
    config = ConnectionConfig(bridge_url=fake.url, token=fake.token, key=fake.key_text)
    conn = Connection(config, history, recorder, delays=lambda: iter([30.0] * 10))
    async with run_connection(conn):
        await recorder.until(lambda: recorder.caught_up)
        await fake.close_all(wire.CLOSE_SLOW_CONSUMER, "slow consumer")
        await recorder.until(lambda: len(recorder.caught_up) == 2)  # at once
        await fake.close_all(wire.CLOSE_SLOW_CONSUMER, "slow consumer")
        await recorder.until(lambda: "retrying in 30 s" in recorder.states[-1].detail)  # not a tight loop


async def test_reconnects_after_going_away_and_backoff_state(fake: FakeBridge, history: History,
                                                             recorder: Recorder) -> None:
    async with running(fake, history, recorder):
        await recorder.until(lambda: recorder.caught_up)
        await fake.close_all(wire.CLOSE_GOING_AWAY, "restarting")
        await recorder.until(lambda: recorder.state is ConnectionState.OFFLINE)
        assert "closed the connection (1001 restarting)" in recorder.states[-1].detail
        await recorder.until(lambda: len(recorder.caught_up) == 2)
    assert recorder.state is ConnectionState.CONNECTED


async def test_reconnect_now_drops_and_reconnects(fake: FakeBridge, history: History, recorder: Recorder) -> None:
    async with running(fake, history, recorder, backoff_initial=30.0) as conn:
        await recorder.until(lambda: recorder.caught_up)
        conn.reconnect_now()
        await recorder.until(lambda: len(recorder.caught_up) == 2)
    assert len(fake.seen) == 2
    assert ConnectionState.OFFLINE not in [s.state for s in recorder.states]  # an asked-for reconnect is no outage


async def test_unreachable_bridge_is_offline_with_words(history: History, recorder: Recorder) -> None:
    fb = FakeBridge()
    async with fb:
        url = fb.url
    config = ConnectionConfig(bridge_url=url, token="tb_x" * 5, key=fb.key_text)
    conn = Connection(config, history, recorder, delays=lambda: iter([30.0] * 10))
    async with run_connection(conn):
        await recorder.until(lambda: recorder.state is ConnectionState.OFFLINE)
    assert "cannot reach 127.0.0.1" in recorder.states[-1].detail
    assert "retrying in 30 s" in recorder.states[-1].detail
    assert recorder.states[-1].problem is Problem.UNREACHABLE


async def test_not_a_bridge_first_frame(fake: FakeBridge, history: History, recorder: Recorder) -> None:
    fake.before_hello = lambda: wire.encode(wire.CaughtUp(0))
    async with running(fake, history, recorder):
        await recorder.until(lambda: recorder.state is ConnectionState.OFFLINE)
    assert "did not start with hello" in recorder.states[-1].detail


async def test_token_never_logged(fake: FakeBridge, history: History, recorder: Recorder,
                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with running(fake, history, recorder):
        await recorder.until(lambda: recorder.caught_up)
    client_logs = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("websockets.server"))
    assert "Bearer ***" in client_logs  # websockets logged the header, redacted
    assert fake.token not in client_logs
    assert fake.token not in repr(ConnectionConfig(fake.url, fake.token, fake.key_text))


async def test_dead_socket_detected_by_ping(history: History, recorder: Recorder) -> None:
    """A peer that stops answering (a frozen TCP relay) is noticed by the keepalive ping."""
    async with FakeBridge() as fb:
        relay = FrozenRelay(fb.url)
        await relay.start()
        try:
            config = ConnectionConfig(bridge_url=relay.url, token=fb.token, key=fb.key_text, ping_interval=0.2,
                                      ping_timeout=0.3, close_timeout=0.2)
            conn = Connection(config, history, recorder, delays=lambda: iter([30.0] * 10))
            async with run_connection(conn):
                await recorder.until(lambda: recorder.caught_up)
                relay.frozen = True
                await recorder.until(lambda: recorder.state is ConnectionState.OFFLINE, timeout=5)
        finally:
            await relay.stop()
    assert "lost the connection" in recorder.states[-1].detail or "1011" in recorder.states[-1].detail


def test_config_checks() -> None:
    with pytest.raises(NotConfigured):
        ConnectionConfig("", "", "").check()
    key = FakeBridge().key_text
    with pytest.raises(ClientError, match="unencrypted"):
        ConnectionConfig("http://bridge.example.com", "tok", key).check()
    with pytest.raises(ClientError, match="key"):
        ConnectionConfig("https://bridge.example.com", "tok", "ed25519:nope").check()
    ConnectionConfig("https://bridge.example.com", "tok", key).check()
    ConnectionConfig("http://[::1]:8787", "tok", key).check()


def test_ca_file_problem_in_words(tmp_path: Path) -> None:
    from trayapp.client.connection import ssl_context

    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate")
    with pytest.raises(ClientError, match="cannot use the certificate file"):
        ssl_context(str(bad))


class FrozenRelay:
    """A TCP relay that can stop forwarding in both directions (a dead network path)."""

    def __init__(self, upstream: str) -> None:
        host_port = upstream.split("://", 1)[1]
        self.up_host, port = host_port.rsplit(":", 1)
        self.up_port = int(port)
        self.frozen = False
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.writers: list[asyncio.StreamWriter] = []

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while data := await reader.read(65536):
                if not self.frozen:
                    writer.write(data)
                    await writer.drain()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(self.up_host, self.up_port)
        self.writers += [writer, up_writer]
        for t in (self._pipe(reader, up_writer), self._pipe(up_reader, writer)):
            task = asyncio.create_task(t)
            self.tasks.add(task)

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for w in self.writers:
            w.close()
            with contextlib.suppress(Exception):
                await w.wait_closed()
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


async def test_a_cases_frame_signed_by_another_key_is_reported_and_not_handed_on(
        fake: FakeBridge, history: History, recorder: Recorder) -> None:
    from trayapp.core import cases

    history.skip_to(fake.epoch, 0)
    await fake.add(case_body(1))
    other = Ed25519PrivateKey.generate()

    async def inject() -> None:
        await recorder.until(lambda: recorder.events)
        text = cases.snapshot_text(fake.epoch, 99, [])
        for ws in fake.connections:
            await ws.send(wire.encode(wire.CasesFrame(text, cases.sign_snapshot(other, text))))

    async with running(fake, history, recorder, backoff_initial=30.0):
        task = asyncio.create_task(inject())
        await recorder.until(lambda: recorder.failures)
        await task
    assert "cases frame" in recorder.failures[0] and recorder.cases == []
