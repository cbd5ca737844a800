"""``GET /v1/stream`` (WebSocket) and ``GET /v1/events``; the fan-out itself is :mod:`.hub`.

Per connection: check the query (``since``, ``epoch``, ``nonce``: 400 with the reason), authenticate (HTTP 401 /
403 denial response, never an upgrade; 429 with ``Retry-After`` when the token already holds ``max_per_token`` sockets
in this process), **subscribe to the hub**, accept, send ``hello``, replay the backlog from the store (``gap`` frames
where events are no longer retained or the epoch changed), the signed ``cases`` snapshot (:mod:`.cases`: right
after ``config`` without ``since``, and after the backlog when it had a ``gap``), ``caught_up``, then live frames
from the subscription queue, skipping every seq already sent. So no seq is skipped, repeated or reordered, also for
events that arrive during the replay. ``hello``, ``gap`` and ``caught_up`` are signed for this connection (its
``nonce``, the epoch) by the :class:`~.ingest.FrameSigner`; event frames were signed when they were stored.

Each socket runs two tasks: the pump (the sequence above, then its queue) and a reader that notices the client
going away; a close requested by the hub (4001, 4008, 1001) cancels the pump and sends the close frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs

from starlette.types import Receive, Scope, Send

from trayapp.core import wire
from trayapp.core.errors import BadMessage
from trayapp.core.stream import Missing, ReplayPlan, resume_point
from trayapp.core.urls import DEFAULT_TEMPLATE

from .cases import CaseSnapshots
from .errors import BridgeError
from .hub import Hub, Subscriber
from .ingest import FrameSigner, send_json
from .scope import TokenScope, scope_of
from .store import Store, TokenInfo
from .tokens import bearer, token_hash

log = logging.getLogger("trayapp.bridge.stream")

PAGE = 500
PAGE_BYTES = 4 << 20  # a backlog / events page holds at most this many bytes of frames (and at least one frame)
EVENTS_PAGE = 100  # /v1/events reads (and sends) this many frames at a time
EVENTS_MAX_BYTES = 4 << 20  # one /v1/events answer: at most this many bytes of frames (and at least one frame)
FAST_SEND = "trayapp.fast_send"  # ASGI extension of protocols.BridgeWebSocketProtocol


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


async def authenticate(store: Store, scope: Scope) -> tuple[int, str, TokenInfo | None]:
    """(0, hash, token) for a valid token, else (HTTP status, reason, None)."""
    token = bearer(_header(scope, b"authorization"))
    if token is None:
        return 401, "missing or malformed Authorization: Bearer <token>", None
    hashed = token_hash(token)
    info = await store.lookup_token(hashed)
    if info is None:
        return 401, "unknown token", None
    if not info.active:
        return 403, "token revoked", None
    return 0, hashed, info


async def authenticate_http(store: Store, scope: Scope, send: Send) -> tuple[str, TokenInfo] | None:
    """An HTTP route's ``Authorization: Bearer``: (token hash, token), or ``None`` once the refusal was answered
    (401 / 403 with ``WWW-Authenticate``; 503 when the store cannot be asked)."""
    try:
        status, reason, token = await authenticate(store, scope)
    except BridgeError as exc:
        await send_json(send, exc.status, {"error": exc.reason})
        return None
    if status or token is None:
        await send_json(send, status, {"error": reason}, [(b"www-authenticate", b"Bearer")])
        return None
    return reason, token


class StreamEndpoint:
    """The ``/v1/stream`` WebSocket (raw ASGI)."""

    def __init__(self, hub: Hub, signer: FrameSigner, max_per_token: int = 0,
                 conversation_url: str = DEFAULT_TEMPLATE, cases: CaseSnapshots | None = None) -> None:
        self.hub = hub
        self.store = hub.store
        self.signer = signer
        self.cases = cases or CaseSnapshots(hub.store, signer)  # the cases frame: first start, and after gaps
        self.max_per_token = max_per_token
        self.conversation_url = conversation_url  # the admin's: sent in the signed config frame after hello

    async def _deny(self, send: Send, status: int, reason: str,
                    headers: list[tuple[bytes, bytes]] | None = None) -> None:
        body = json.dumps({"error": reason}).encode()
        await send({"type": "websocket.http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                *(headers or [])]})
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
            nonce = wire.check_nonce(params["nonce"]) if "nonce" in params else ""
        except (ValueError, BadMessage) as exc:
            await self._deny(send, 400, str(exc))
            return
        epoch = params.get("epoch")
        try:
            status, hashed, token = await authenticate(self.store, scope)
        except BridgeError as exc:
            await self._deny(send, 503, exc.reason)
            return
        if status or token is None:
            await self._deny(send, status, hashed)
            return
        if self.max_per_token and self.hub.per_token.get(hashed, 0) >= self.max_per_token:
            self.hub.metrics.rejected_streams.inc()
            await self._deny(send, 429, f"too many open streams for this token (at most {self.max_per_token}); "
                                        "close one or use a token per agent", [(b"retry-after", b"10")])
            return
        # subscribe before reading anything from the store: nothing can slip between backlog and live
        sub = self.hub.subscribe(hashed, token.name, scope.get("extensions", {}).get(FAST_SEND),
                                 scope_of(token.departments))
        sub.nonce = nonce
        try:
            await send({"type": "websocket.accept"})
            await self._run(sub, since, epoch, nonce, receive, send)
        except OSError:
            pass  # the peer went away
        finally:
            self.hub.unsubscribe(sub)

    async def _run(self, sub: Subscriber, since: int | None, epoch: str | None, nonce: str, receive: Receive,
                   send: Send) -> None:
        pump = asyncio.create_task(self._pump(sub, since, epoch, nonce, send))
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

    async def _pump(self, sub: Subscriber, since: int | None, epoch: str | None, nonce: str, send: Send) -> None:
        store = self.store
        metrics = self.hub.metrics

        async def text(frame: str) -> None:
            await send({"type": "websocket.send", "text": frame})

        gaps = [0, 0]  # gap frames sent, and how many of them a cases frame followed

        async def control(message: wire.ControlFrame) -> None:
            gaps[0] += isinstance(message, wire.Gap)
            await text(self.signer.control(message, nonce))

        async def cases_after_gaps() -> None:
            if gaps[0] != gaps[1]:
                gaps[1] = gaps[0]
                await text(await self.cases.frame(sub.scope))

        bounds = await store.bounds()
        head = bounds.head
        await control(wire.Hello(epoch=store.epoch, head=head))
        await control(wire.Config(self.conversation_url))
        if since is None:  # a first start: who is waiting now, without a replay
            await text(await self.cases.frame(sub.scope))
        resume = resume_point(since, epoch, store.epoch, head)
        if resume.epoch_gap:
            await control(wire.Gap(None, None, "epoch"))
        last = await self._replay(resume.after, None, text, control, sub.scope) if resume.replay else resume.after
        await cases_after_gaps()
        await control(wire.CaughtUp(head=last))
        sub.last = last
        while True:
            if not sub.pending and not sub.extra:
                sub.wake.clear()
                sub.idle = True  # the hub may now write to the socket directly (and advance sub.last)
                try:
                    await sub.wake.wait()
                finally:
                    sub.idle = False
            if sub.close_code:
                return
            extra, sub.extra = sub.extra, []
            for frame in extra:  # test alerts (no seq): they do not touch the order of events
                await text(frame)
            batch, sub.pending = sub.pending, []
            for ev in batch:
                if ev.seq <= sub.last:
                    continue
                if ev.seq > sub.last + 1:  # should not happen (commit before publish); refill from the store
                    sub.last = await self._replay(sub.last, ev.seq - 1, text, control, sub.scope)
                    await cases_after_gaps()
                if sub.scope is None or sub.scope.allows(ev):
                    await text(ev.frame)
                    metrics.events_sent.inc()
                sub.last = ev.seq

    async def _replay(self, last: int, until: int | None, text: Callable[[str], Awaitable[None]],
                      control: Callable[[wire.ControlFrame], Awaitable[None]], scope: TokenScope | None = None
                      ) -> int:
        """Send stored events after ``last`` (up to ``until``, else to the end); gap frames for missing ones.
        Read in pages of at most :data:`PAGE` frames and :data:`PAGE_BYTES` bytes; events outside ``scope`` are
        passed over without a word. What to send is planned by :class:`~trayapp.core.stream.ReplayPlan`."""
        plan = ReplayPlan(last, until)
        known = last
        while not plan.done:
            # The head is read *before* the page: every seq up to it was committed before the read started, so
            # one missing from the page was dropped by retention (not merely committed a moment later).
            known = until if until is not None else (await self.store.bounds()).head
            rows = {row.seq: row for row in await self.store.read(plan.last, PAGE, PAGE_BYTES)}
            for step in plan.page(list(rows)):
                if isinstance(step, Missing):
                    await control(wire.Gap(step.first, step.last, "retention"))
                elif scope is None or scope.allows(rows[step]):
                    await text(rows[step].frame)
        missing = plan.finish(known)
        if missing is not None:
            await control(wire.Gap(missing.first, missing.last, "retention"))
        return plan.last


class EventsEndpoint:
    """``GET /v1/events?since=N&limit=M``: the same event frames as a JSON array (oldest first), streamed, and
    bounded by count (``limit``, at most 1,000) and by bytes (:data:`EVENTS_MAX_BYTES` of frames; at least one
    frame): a client that got fewer than it asked for continues with ``since`` = the last seq it got. A department-
    scoped token gets only its departments' and unassigned events."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            await send_json(send, 405, {"error": "use GET"}, [(b"allow", b"GET")])
            return
        caller = await authenticate_http(self.store, scope, send)
        if caller is None:
            return
        token = caller[1]
        params = _query(scope)
        try:
            since = _int_param(params, "since") or 0
            limit = min(_int_param(params, "limit", 1) or PAGE, 1000)
        except ValueError as exc:
            await send_json(send, 400, {"error": str(exc)})
            return
        allowed = scope_of(token.departments)
        page = min(limit, EVENTS_PAGE) if allowed is None else EVENTS_PAGE  # (a scope passes over some)
        try:
            rows = await self.store.read(since, page, PAGE_BYTES)
        except BridgeError as exc:
            await send_json(send, exc.status, {"error": exc.reason})
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]})
        sent = size = 0
        separator = b"["
        while rows:
            chunk = []
            for row in rows:
                since = row.seq
                if allowed is not None and not allowed.allows(row):
                    continue
                chunk.append(separator + row.frame.encode())
                separator = b","
                sent += 1
                size += len(chunk[-1])
                if sent >= limit or size >= EVENTS_MAX_BYTES:
                    break
            if chunk:
                await send({"type": "http.response.body", "body": b"".join(chunk), "more_body": True})
            if sent >= limit or size >= EVENTS_MAX_BYTES or (allowed is None and len(rows) < page):
                break  # (a scoped read goes on to an empty page: a short one may be short by bytes)
            try:
                rows = await self.store.read(since, page, PAGE_BYTES)
            except BridgeError as exc:  # the answer has begun: cut it short (the JSON is then invalid)
                log.warning("/v1/events cut short: %s", exc.reason)
                raise
        await send({"type": "http.response.body", "body": b"[]" if separator == b"[" else b"]"})
