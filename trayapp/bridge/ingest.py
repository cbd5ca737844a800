"""``POST /webhooks/acquire``: verify, dedupe, store durably, answer.

A raw ASGI endpoint (no framework body buffering) so the size limit is enforced while the body streams in.
Checks, first failure answers: 405 (other methods), 429 (this address sent too many bad signatures lately:
:mod:`.limits`; ``Retry-After``; the body is not read), 413 (``Content-Length`` over ``max_body``), then the request
waits for one of its address's **unverified slots** (:class:`.limits.AddressSlots`; 429 if none comes free in time,
or if the address's bad-signature budget, counting the requests of that address still in flight, is spent
meanwhile), 413 (the bytes read so far over ``max_body``), 401 (missing / wrong ``x-acquire-signature``; the slot is
released once the signature is judged), 400 (not UTF-8, not JSON, not an object, nested deeper than 512), 400 (the
payload's own ``timestamp`` is older than the replay window, i.e. the retention: its dedupe key would be gone).
200 ``{"seq": N, "duplicate": false}`` only once the event is committed; a repeat within the retention answers the
original seq with ``"duplicate": true``. What the event says about its case (``core.cases.update_of``) travels
with it, so the store folds it into the case's state in the same transaction. A store that fails answers 503
(Acquire retries). Every error body is ``{"error": "..."}``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.types import Receive, Scope, Send

from trayapp.core import cases, text, wire
from trayapp.core.acquire import EventTable, normalise
from trayapp.core.errors import BadPayload, BadSignature
from trayapp.core.event import Event
from trayapp.core.signature import HEADER, Verified, verify_webhook

from .errors import BridgeError
from .limits import AddressSlots, TokenBuckets
from .metrics import Metrics
from .store import NewEvent, Store

log = logging.getLogger("trayapp.bridge.ingest")


_THREAD_VERIFY_BYTES = 64 * 1024  # verify bigger bodies off the event loop


_second_cache: list[Any] = [None, ""]


def rfc3339_ms(ts: float) -> str:
    """``2026-11-23T09:58:01.120Z`` (UTC, milliseconds); the per-second prefix is cached."""
    second, ms = divmod(int(ts * 1000), 1000)
    if _second_cache[0] != second:
        _second_cache[1] = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        _second_cache[0] = second
    return f"{_second_cache[1]}{ms:03d}Z"


async def send_json(send: Send, status: int, data: Any, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps(data, separators=(",", ":")).encode()
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                    *(headers or [])],
    })
    await send({"type": "http.response.body", "body": body})


class FrameSigner:
    """Builds the stored, signed event frame for ``(seq, item)``, and signs a connection's control frames; key and
    epoch are set once the store is open.

    The event ``id`` is ``<epoch>-<seq>``: unique for the life of the store, and free to compute.
    """

    def __init__(self) -> None:
        self.key: Ed25519PrivateKey | None = None
        self.epoch = ""

    def __call__(self, seq: int, item: NewEvent) -> str:
        assert self.key is not None, "signing key not loaded"
        event_id = item.id or f"{self.epoch}-{seq}"
        return wire.encode(wire.EventFrame(
            epoch=self.epoch, seq=seq, id=event_id, received_at=item.received_at, event=item.event, body=item.body,
            sig=wire.sign_event(self.key, self.epoch, seq, event_id, item.received_at, item.body),
        ))

    def control(self, message: wire.ControlFrame, nonce: str) -> str:
        """The encoded control frame, signed for the connection that sent ``nonce``."""
        assert self.key is not None, "signing key not loaded"
        return wire.encode(wire.sign_control(self.key, message, nonce, self.epoch))


_EVENT_FIELDS = tuple(f for f in Event.__dataclass_fields__ if f != "extra")


def event_json(event: Event) -> dict[str, Any]:
    """``Event.to_json()`` without ``dataclasses.asdict``'s deep copies (a hot path at 2,000 webhooks/s)."""
    out = {name: getattr(event, name) for name in _EVENT_FIELDS}
    if event.extra:
        out["extra"] = event.extra
    return out


def _signature_reason(header: str | None, exc: BadSignature) -> str:
    if header is None or not header.strip():
        return "missing"
    if "not a hex" in str(exc):
        return "malformed"
    return "mismatch"


def _event_of(payload: dict[str, Any], table: EventTable) -> dict[str, Any]:
    try:
        return event_json(normalise(payload, table))
    except Exception:  # never lose a verified delivery over a normaliser bug: keep it as "other"
        log.exception("normaliser failed; storing the event as kind 'other'")
        name = payload.get("event")
        return Event(kind="other", acquire_event=text.field("acquire_event", name if isinstance(name, str) else None)
                     or "").to_json()


def case_of(payload: dict[str, Any], event: dict[str, Any], received_at: str) -> cases.CaseUpdate | None:
    """What the event says about its case (``core.cases.update_of``); a fold bug never loses the delivery."""
    try:
        return cases.update_of(payload, event, received_at)
    except Exception:
        log.exception("case fold failed; storing the event without a case update")
        return None


def event_time(payload: dict[str, Any]) -> float | None:
    """The payload's own event time (its top-level ``timestamp``: RFC 3339 with a zone, or POSIX seconds /
    milliseconds), or None where it carries none the bridge can read unambiguously."""
    value = payload.get("timestamp")
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) / 1000 if value > 1e11 else float(value)
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return when.timestamp() if when.tzinfo is not None else None


class IngestEndpoint:
    def __init__(self, store: Store, secrets: tuple[str, ...], table: EventTable, max_body: int,
                 metrics: Metrics, bad_signatures: TokenBuckets | None = None,
                 unverified: AddressSlots | None = None, replay_window: float = 7 * 86400.0) -> None:
        self.bad_signature_buckets = bad_signatures if bad_signatures is not None else TokenBuckets(0, 0)
        self.unverified = unverified if unverified is not None else AddressSlots(0, 0)
        self.store = store
        self.secrets = secrets
        self.table = table
        self.max_body = max_body
        self.metrics = metrics
        self.replay_window = replay_window

    def _throttled(self, address: str, pending: int = 0) -> tuple[str, list[tuple[bytes, bytes]]] | None:
        wait = self.bad_signature_buckets.retry_after(address, pending)
        if not wait:
            return None
        return f"too many bad signatures from {address}: retry in {wait} s", [(b"retry-after", b"%d" % wait)]

    async def _fail(self, send: Send, status: int, reason: str, headers: list[tuple[bytes, bytes]] | None = None
                    ) -> None:
        self.metrics.rejected.labels(str(status)).inc()
        if status in (413, 429):  # answered before the body was read: close, so the rest is not received for nothing
            headers = [*(headers or []), (b"connection", b"close")]
        await send_json(send, status, {"error": reason}, headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        if scope["method"] != "POST":
            await self._fail(send, 405, f"method {scope['method']} not allowed: use POST", [(b"allow", b"POST")])
            return
        client = scope.get("client")
        address = str(client[0]) if client else ""
        throttled = self._throttled(address)
        if throttled:
            await self._fail(send, 429, *throttled)
            return
        signature: str | None = None
        length: int | None = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    await self._fail(send, 400, "Content-Length is not a number")
                    return
            elif name == HEADER.encode():
                signature = value.decode("latin-1")
        if length is not None and length > self.max_body:
            await self._fail(send, 413, f"body of {length} bytes is over the limit of {self.max_body} bytes")
            return
        async with self.unverified.hold(address) as slot:
            if not slot:
                await self._fail(send, 429, f"too many unverified webhooks from {address} at once: retry in 1 s",
                                 [(b"retry-after", b"1")])
                return
            # checked again now: the requests that held the slots meanwhile may have spent the budget
            throttled = self._throttled(address, self.unverified.held(address) - 1)
            if throttled:
                await self._fail(send, 429, *throttled)
                return
            verified = await self._read_verified(address, receive, send, signature)
        if verified is None:
            return
        timestamp = event_time(verified.payload)
        if timestamp is not None and timestamp < time.time() - self.replay_window:
            await self._fail(send, 400, f"event time {rfc3339_ms(timestamp)} is older than the replay window of "
                             f"{self.replay_window / 86400:g} days: refused as a possible replay")
            return
        now = time.time()
        received_at = rfc3339_ms(now)
        event = _event_of(verified.payload, self.table)
        item = NewEvent(
            body=verified.text,
            event=event,
            dedupe_key=verified.dedupe_key,
            received_at=received_at,
            received_ts=now,
            case=case_of(verified.payload, event, received_at),
        )
        try:
            result = await self.store.append(item)
        except BridgeError as exc:
            log.warning("webhook not stored: %s", exc.reason)
            await self._fail(send, exc.status, exc.reason, [(b"retry-after", b"1")])
            return
        if result.duplicate:
            self.metrics.duplicates.inc()
        else:
            self.metrics.accepted.inc()
            self.metrics.head.set(result.seq)
        self.metrics.ingest_seconds.observe(time.perf_counter() - started)
        body = b'{"seq":%d,"duplicate":%s}' % (result.seq, b"true" if result.duplicate else b"false")
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]})
        await send({"type": "http.response.body", "body": body})

    async def _read_verified(self, address: str, receive: Receive, send: Send, signature: str | None
                             ) -> Verified | None:
        """The body, read and verified, or None once the failure was answered."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                await self._fail(send, 413, f"body is over the limit of {self.max_body} bytes")
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:
            if size > _THREAD_VERIFY_BYTES:
                return await asyncio.to_thread(verify_webhook, body, signature, self.secrets)
            return verify_webhook(body, signature, self.secrets)
        except BadSignature as exc:
            self.metrics.bad_signatures.labels(_signature_reason(signature, exc)).inc()
            self.bad_signature_buckets.take(address)
            await self._fail(send, 401, str(exc))
        except BadPayload as exc:
            await self._fail(send, 400, str(exc))
        return None
