"""The fan-out hub: every open stream's subscription, fed by the store after each durable commit.

The hub is a store listener. Newly stored events are collected and flushed once per event-loop turn: each frame is
encoded once as a WebSocket frame and the run of frames a socket is missing is written to it in one write, directly,
when that socket is idle and live (caught up, nothing queued, its pump waiting); otherwise the events are appended
to the socket's bounded queue, which its pump (:mod:`.stream`) sends in order. A queue that would overflow closes
its socket with 4008 "slow consumer" (the client resumes with ``since``; nothing is lost). Every ``revocation_poll``
seconds the hub reads the store's token generation; when it changed, sockets whose token is no longer active are
closed with 4001 "token revoked". ``close_all`` closes every socket (1001 at shutdown). Sockets of department-scoped
tokens (:mod:`.scope`) always go through their pump, which passes over the events outside their scope.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import struct
import time
from collections.abc import Callable, Sequence

from trayapp.core import wire

from .errors import BridgeError
from .metrics import Metrics
from .scope import TokenScope
from .store import Store, StoredEvent

log = logging.getLogger("trayapp.bridge.hub")

CLOSE_REVOKED = wire.CLOSE_REVOKED
CLOSE_SLOW_CONSUMER = wire.CLOSE_SLOW_CONSUMER
MAX_EXTRA = 8  # out-of-band frames queued per socket


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

    __slots__ = ("close_code", "close_reason", "closed", "direct", "extra", "idle", "last", "limit", "name",
                 "nonce", "pending", "scope", "token_hash", "wake")

    def __init__(self, token_hash: str, name: str, limit: int, direct: Callable[[bytes], bool] | None,
                 scope: TokenScope | None = None) -> None:
        self.token_hash = token_hash
        self.name = name
        self.limit = limit
        self.direct = direct
        self.scope = scope  # a department-scoped token: its pump filters, so it never takes the direct path
        self.idle = False
        self.last = 0
        self.pending: list[StoredEvent] = []
        self.extra: list[str] = []  # out-of-band frames (test alerts): no seq, sent as soon as the socket is live
        self.nonce = ""  # the client's nonce: out-of-band frames are signed for this connection
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

    def push_extra(self, frame: str) -> bool:
        """An out-of-band frame (a test alert): written at once when the socket is live and idle, else queued
        for the pump (after ``caught_up``, before later events). False when the socket is closing or holds
        :data:`MAX_EXTRA` such frames already."""
        if self.close_code or len(self.extra) >= MAX_EXTRA:
            return False
        if (self.idle and self.direct is not None and not self.pending and not self.extra
                and self.direct(ws_text_frame(frame.encode()))):
            return True
        self.extra.append(frame)
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
        self.per_token: dict[str, int] = {}  # open sockets per token hash (limits.py)
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
            if (contiguous and sub.idle and sub.direct is not None and sub.scope is None and not sub.pending
                    and not sub.close_code and first <= sub.last + 1 <= last):
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

    def send_extra(self, token_hash: str, frame_for: Callable[[Subscriber], str]) -> int:
        """An out-of-band frame (``frame_for(sub)``: signed for that connection) to every open stream of one token,
        never to anyone else's; how many took it."""
        return sum(sub.push_extra(frame_for(sub)) for sub in list(self.subscribers) if sub.token_hash == token_hash)

    def subscribe(self, token_hash: str, name: str, direct: Callable[[bytes], bool] | None = None,
                  scope: TokenScope | None = None) -> Subscriber:
        sub = Subscriber(token_hash, name, self.queue_size, direct, scope)
        self.subscribers.add(sub)
        self.per_token[token_hash] = self.per_token.get(token_hash, 0) + 1
        self.metrics.clients.set(len(self.subscribers))
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        if sub in self.subscribers:
            left = self.per_token.get(sub.token_hash, 1) - 1
            if left > 0:
                self.per_token[sub.token_hash] = left
            else:
                self.per_token.pop(sub.token_hash, None)
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
