"""``POST /v1/test-alert``: *Send me a test alert* — a signed test alert to the caller's own open streams.

Authenticated like the stream (``Authorization: Bearer <token>``; 401 unknown, 403 revoked). The alert is a
``test_alert`` control frame (``core.wire.CheckFrame``: id, received_at, body; signed by the bridge's key for each
connection's nonce and the epoch, so it cannot be replayed into another one) sent only to the open streams of *this
token* (:meth:`Hub.send_extra`): never stored, never replayed, never seen by another token. At most :data:`BURST`
in a row per token, then one every ``1 / RATE`` seconds (429 with ``Retry-After``).
The answer is ``{"sent": N, "id": I}``: how many of the token's streams took it (0: the agent's app is not connected).
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from typing import Final

from starlette.types import Receive, Scope, Send

from trayapp.core import wire

from .hub import Hub
from .ingest import FrameSigner, rfc3339_ms, send_json
from .limits import TokenBuckets
from .stream import authenticate_http

log = logging.getLogger("trayapp.bridge.test_alert")

RATE: Final = 0.2  # test alerts per second and token, after the burst
BURST: Final = 3
EVENT: Final = "trayapp.test_alert"


def test_alert_body(alert_id: str, sent_at: str) -> str:
    """The signed body of a test alert (what the app derives its popup from)."""
    return json.dumps({"event": EVENT, "id": alert_id, "sent_at": sent_at}, separators=(",", ":"))


test_alert_body.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


class SelfTestEndpoint:
    """The ``/v1/test-alert`` route (raw ASGI)."""

    def __init__(self, hub: Hub, signer: FrameSigner) -> None:
        self.hub = hub
        self.signer = signer
        self.limit = TokenBuckets(RATE, BURST)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            await send_json(send, 405, {"error": f"method {scope['method']} not allowed: use POST"},
                            [(b"allow", b"POST")])
            return
        caller = await authenticate_http(self.hub.store, scope, send)
        if caller is None:
            return
        hashed, name = caller
        wait = self.limit.retry_after(hashed)
        if wait:
            await send_json(send, 429, {"error": f"too many test alerts: retry in {wait} s"},
                            [(b"retry-after", str(wait).encode())])
            return
        self.limit.take(hashed)
        alert_id = "test-" + secrets.token_hex(8)
        sent_at = rfc3339_ms(time.time())
        alert = wire.CheckFrame(alert_id, sent_at, test_alert_body(alert_id, sent_at))
        sent = self.hub.send_extra(hashed, lambda sub: self.signer.control(alert, sub.nonce))
        log.info("test alert %s for token %r: sent to %d open stream(s)", alert_id, name, sent)
        await send_json(send, 200, {"sent": sent, "id": alert_id})
