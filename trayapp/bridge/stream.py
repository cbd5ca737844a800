"""``GET /v1/stream`` (WebSocket), ``GET /v1/events`` and the fan-out hub.

Per connection: authenticate (HTTP 401 / 403 denial response, never an upgrade), **subscribe to the hub**, accept,
send ``hello``, replay the backlog from the store (``gap`` frames where events are no longer retained or the epoch
changed), ``caught_up``, then live frames from the subscription queue, skipping every seq already sent. So no seq
is skipped, repeated or reordered, also for events that arrive during the replay.

The hub is a store listener: after each durable commit it appends the new (pre-encoded) frames to every
subscriber's bounded queue. A subscriber whose queue is full is closed with 4008 "slow consumer"; it resumes with
``since`` and loses nothing. Every ``revocation_poll`` seconds the hub reads the store's token generation; when it
changed, sockets whose token is no longer active are closed with 4001 "token revoked".
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import struct
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import parse_qs

from starlette.types import Receive, Scope, Send

from trayapp.core import wire

from .errors import BridgeError
from .ingest import send_json
from .metrics import Metrics
from .store import Store, StoredEvent
from .tokens import bearer, token_hash

log = logging.getLogger("trayapp.bridge.stream")

PAGE = 500
FAST_SEND = "trayapp.fast_send"  # ASGI extension of server.BridgeWebSocketProtocol
CLOSE_GOING_AWAY = wire.CLOSE_GOING_AWAY
CLOSE_REVOKED = wire.CLOSE_REVOKED
CLOSE_SLOW_CONSUMER = wire.CLOSE_SLOW_CONSUMER


def ws_text_frame(payload: bytes) -> bytes:
    """One unmasked, unfragmented, uncompressed server-to-client text frame (RFC 6455 5.2)."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return struct.pack("!BBH", 0x81, 126, n) + payload
    return struct.pack("!BBQ", 0x81, 127, n) + payload


class Subscriber:
    """One open stream. ``last`` is the last seq written to it. While ``idle`` (live, nothing pending, the pump
    waiting) the hub writes new frames straight to the socket with ``direct``; otherwise it queues them in
    ``pending`` for the pump, which sends them in order."""

    __slots__ = ("close_code", "close_reason", "closed", "direct", "idle", "last", "limit", "name", "pending",
                 "token_hash", "wake")

    def __init__(self, token_hash: str, name: str, limit: int, direct: Callable[[bytes], bool] | None) -> None:
        self.token_hash = token_hash
        self.name = name
        self.limit = limit
        self.direct = direct
        self.idle = False
        self.last = 0
        self.pending: list[StoredEvent] = []
        self.wake = asyncio.Event()
        self.closed = asyncio.Event()
        self.close_code = 0
        self.close_reason = ""

    def push(self, events: Sequence[StoredEvent]) -> bool:
        """Queue frames; False (and a close request) when the queue would overflow."""
        if self.close_code:
            return True
        if len(self.pending) + len(events) > self.limit:
            self.request_close(CLOSE_SLOW_CONSUMER, "slow consumer")
            return False
        self.pending.extend(events)
        self.wake.set()
        return True

    def request_close(self, code: int, reason: str) -> None:
        if not self.close_code:
            self.close_code = code
            self.close_reason = reason
            self.closed.set()
            self.wake.set()


class Hub:
    def __init__(self, store: Store, metrics: Metrics, queue_size: int, revocation_poll: float) -> None:
        self.store = store
        self.metrics = metrics
        self.queue_size = queue_size
        self.revocation_poll = revocation_poll
        self.subscribers: set[Subscriber] = set()
        self._gone = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._outbox: list[StoredEvent] = []
        self._flush_scheduled = False
        self.accepting = True

    def start(self) -> None:
        self.store.add_listener(self.on_events)
        self._task = asyncio.get_running_loop().create_task(self._watch_revocations())

    async def stop(self) -> None:
        self.store.remove_listener(self.on_events)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def on_events(self, events: Sequence[StoredEvent]) -> None:
        """Store listener (loop thread, right after a commit): collect, and flush on the next loop turn. Events
        committed while a fan-out is running are thus written together -- one write per socket for several
        frames -- so the fan-out catches up instead of queueing when the loop falls behind."""
        self._outbox.extend(events)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        """Fan-out: encode each frame once; write the run of frames a socket is missing straight to every idle,
        live socket that can take it (one write); queue them for the others (their pump sends in order)."""
        events, self._outbox, self._flush_scheduled = self._outbox, [], False
        if not events:
            return
        started = time.perf_counter()
        packets: list[bytes] | None = None
        joined: dict[int, bytes] = {}
        contiguous = all(b.seq == a.seq + 1 for a, b in itertools.pairwise(events))
        first, last = events[0].seq, events[-1].seq
        written = 0
        for sub in self.subscribers:
            rest: Sequence[StoredEvent] = events
            if (contiguous and sub.idle and sub.direct is not None and not sub.pending and not sub.close_code
                    and first <= sub.last + 1 <= last):
                start = sub.last + 1 - first
                data = joined.get(start)
                if data is None:
                    if packets is None:
                        packets = [ws_text_frame(ev.frame.encode()) for ev in events]
                    data = joined[start] = b"".join(packets[start:])
                if sub.direct(data):
                    written += last - sub.last
                    sub.last = last
                    rest = ()
            elif sub.last >= last and sub.idle:
                rest = ()  # already has them all
            if rest and not sub.push(rest):
                self.metrics.slow_consumer_closes.inc()
        if written:
            self.metrics.events_sent.inc(written)
        self.metrics.fanout_seconds.observe(time.perf_counter() - started)

    def subscribe(self, token_hash: str, name: str, direct: Callable[[bytes], bool] | None = None) -> Subscriber:
        sub = Subscriber(token_hash, name, self.queue_size, direct)
        self.subscribers.add(sub)
        self.metrics.clients.set(len(self.subscribers))
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)
        self.metrics.clients.set(len(self.subscribers))
        if not self.subscribers:
            self._gone.set()

    async def close_all(self, code: int, reason: str, timeout: float = 2.0) -> None:
        """Ask every socket to close with ``code``; wait (bounded) until their handlers are done."""
        self.accepting = False
        if not self.subscribers:
            return
        self._gone.clear()
        for sub in list(self.subscribers):
            sub.request_close(code, reason)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._gone.wait(), timeout)

    async def _watch_revocations(self) -> None:
        generation: int | None = None
        while True:
            try:
                current = await self.store.token_generation()
                if generation is not None and current != generation:
                    await self._close_revoked()
                generation = current
            except BridgeError as exc:
                log.warning("revocation check failed: %s", exc.reason)
            await asyncio.sleep(self.revocation_poll)

    async def _close_revoked(self) -> None:
        for hashed in {sub.token_hash for sub in self.subscribers}:
            info = await self.store.lookup_token(hashed)
            if info is None or not info.active:
                for sub in [s for s in self.subscribers if s.token_hash == hashed]:
                    sub.request_close(CLOSE_REVOKED, "token revoked")
                    self.metrics.revoked_closes.inc()


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _query(scope: Scope) -> dict[str, str]:
    try:
        parsed = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    except ValueError:
        return {}
    return {k: v[-1] for k, v in parsed.items()}


def _int_param(params: dict[str, str], name: str, minimum: int = 0) -> int | None:
    """``None`` if absent; raises ValueError if present but not an integer >= minimum."""
    if name not in params:
        return None
    text = params[name].strip()
    if not text.isdigit() or len(text) > 18:
        raise ValueError(f"{name} must be a non-negative integer")
    value = int(text)
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}")
    return value


async def authenticate(store: Store, scope: Scope) -> tuple[int, str, str]:
    """(0, hash, name) for a valid token, else (HTTP status, reason, "")."""
    token = bearer(_header(scope, b"authorization"))
    if token is None:
        return 401, "missing or malformed Authorization: Bearer <token>", ""
    hashed = token_hash(token)
    info = await store.lookup_token(hashed)
    if info is None:
        return 401, "unknown token", ""
    if not info.active:
        return 403, "token revoked", ""
    return 0, hashed, info.name


class StreamEndpoint:
    """The ``/v1/stream`` WebSocket (raw ASGI)."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.store = hub.store

    async def _deny(self, send: Send, status: int, reason: str) -> None:
        body = json.dumps({"error": reason}).encode()
        await send({"type": "websocket.http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "websocket.http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        if not self.hub.accepting:
            await self._deny(send, 503, "server shutting down")
            return
        params = _query(scope)
        try:
            since = _int_param(params, "since")
        except ValueError as exc:
            await self._deny(send, 400, str(exc))
            return
        epoch = params.get("epoch")
        try:
            status, hashed, name = await authenticate(self.store, scope)
        except BridgeError as exc:
            await self._deny(send, 503, exc.reason)
            return
        if status:
            await self._deny(send, status, hashed)
            return
        # subscribe before reading anything from the store: nothing can slip between backlog and live
        sub = self.hub.subscribe(hashed, name, scope.get("extensions", {}).get(FAST_SEND))
        try:
            await send({"type": "websocket.accept"})
            await self._run(sub, since, epoch, receive, send)
        except OSError:
            pass  # the peer went away
        finally:
            self.hub.unsubscribe(sub)

    async def _run(self, sub: Subscriber, since: int | None, epoch: str | None, receive: Receive, send: Send
                   ) -> None:
        pump = asyncio.create_task(self._pump(sub, since, epoch, send))
        drain = asyncio.create_task(self._drain(receive))
        closer = asyncio.create_task(sub.closed.wait())
        try:
            done, _ = await asyncio.wait({pump, drain, closer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (pump, drain, closer):
                task.cancel()
            for task in (pump, drain, closer):
                with contextlib.suppress(asyncio.CancelledError, OSError, RuntimeError):
                    await task
        if drain in done:
            return  # the client closed (or vanished)
        if pump in done and not sub.close_code:
            exc = pump.exception() if not pump.cancelled() else None
            if exc is not None and not isinstance(exc, OSError):
                log.error("stream failed: %r", exc)
                sub.request_close(1011, "internal error")
            elif not sub.close_code:
                sub.request_close(1011, "store unavailable")
        with contextlib.suppress(OSError, RuntimeError):
            await send({"type": "websocket.close", "code": sub.close_code, "reason": sub.close_reason})

    @staticmethod
    async def _drain(receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return

    async def _pump(self, sub: Subscriber, since: int | None, epoch: str | None, send: Send) -> None:
        store = self.store
        metrics = self.hub.metrics

        async def text(frame: str) -> None:
            await send({"type": "websocket.send", "text": frame})

        bounds = await store.bounds()
        head = bounds.head
        await text(wire.encode(wire.Hello(epoch=store.epoch, head=head)))
        if since is None:
            last = head
        else:
            if (epoch is not None and epoch != store.epoch) or since > head:
                await text(wire.encode(wire.Gap(None, None, "epoch")))
                since = 0
            last = await self._replay(since, None, text)
        await text(wire.encode(wire.CaughtUp(head=last)))
        sub.last = last
        while True:
            if not sub.pending:
                sub.wake.clear()
                sub.idle = True  # the hub may now write to the socket directly (and advance sub.last)
                try:
                    await sub.wake.wait()
                finally:
                    sub.idle = False
            if sub.close_code:
                return
            batch, sub.pending = sub.pending, []
            for ev in batch:
                if ev.seq <= sub.last:
                    continue
                if ev.seq > sub.last + 1:  # should not happen (commit before publish); refill from the store
                    sub.last = await self._replay(sub.last, ev.seq - 1, text)
                await text(ev.frame)
                metrics.events_sent.inc()
                sub.last = ev.seq

    async def _replay(self, last: int, until: int | None, text: Any) -> int:
        """Send stored events after ``last`` (up to ``until``, else to the end); gap frames for missing ones."""
        while True:
            # The head is read *before* the page: every seq up to it was committed before the read started, so
            # one missing from the page was dropped by retention (not merely committed a moment later).
            known = until if until is not None else (await self.store.bounds()).head
            rows = await self.store.read(last, PAGE)
            if until is not None:
                rows = [r for r in rows if r.seq <= until]
            for row in rows:
                if row.seq > last + 1:
                    await text(wire.encode(wire.Gap(last + 1, row.seq - 1, "retention")))
                await text(row.frame)
                last = row.seq
            if len(rows) < PAGE:
                break
        if known > last:
            await text(wire.encode(wire.Gap(last + 1, known, "retention")))
            last = known
        return last


class EventsEndpoint:
    """``GET /v1/events?since=N&limit=M``: the same event frames as a JSON array (oldest first)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            await send_json(send, 405, {"error": "use GET"}, [(b"allow", b"GET")])
            return
        try:
            status, reason, _ = await authenticate(self.store, scope)
        except BridgeError as exc:
            await send_json(send, exc.status, {"error": exc.reason})
            return
        if status:
            await send_json(send, status, {"error": reason}, [(b"www-authenticate", b"Bearer")])
            return
        params = _query(scope)
        try:
            since = _int_param(params, "since") or 0
            limit = min(_int_param(params, "limit", 1) or PAGE, 1000)
        except ValueError as exc:
            await send_json(send, 400, {"error": str(exc)})
            return
        try:
            rows = await self.store.read(since, limit)
        except BridgeError as exc:
            await send_json(send, exc.status, {"error": exc.reason})
            return
        body = ("[" + ",".join(r.frame for r in rows) + "]").encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
