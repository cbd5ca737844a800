"""The Starlette application of the bridge and its lifespan.

``create_app(config, store=None)`` builds the ASGI app; ``app.state.bridge`` is the :class:`Bridge` (store, hub,
metrics) once the lifespan started. The store defaults to what the config says (:func:`.store_factory.make_store`:
Redis with ``config.redis_url``, else SQLite in ``config.data_dir``); tests may pass their own as ``store=``. Routes:

- ``POST /webhooks/acquire`` (:mod:`.ingest`), ``GET /v1/stream`` WebSocket and ``GET /v1/events`` (:mod:`.stream`);
- ``GET /v1/cases`` (:mod:`.cases`): the signed snapshot of every open case;
- ``POST /v1/test-alert`` (:mod:`.test_alert`): a signed test alert to the caller's own open streams;
- ``GET /v1/key`` → ``{"key": "ed25519:<base64>"}``; ``GET /healthz``; ``GET /readyz`` (503 if the store does not
  answer); ``GET /metrics`` (Prometheus text);
- with ``config.demo``: ``GET /demo/case/{case_id}``, a small offline page the demo notifications open.

Every error, Starlette's own 404 / 405 included, is JSON ``{"error": "..."}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import Receive, Scope, Send

from trayapp.core import wire

from .cases import CasesEndpoint, CaseSnapshots
from .config import BridgeConfig
from .errors import BridgeError
from .hub import Hub
from .ingest import FrameSigner, IngestEndpoint, send_json
from .limits import AddressSlots, TokenBuckets
from .metrics import Metrics
from .store import Store
from .store_factory import make_store
from .stream import EventsEndpoint, StreamEndpoint
from .test_alert import SelfTestEndpoint

log = logging.getLogger("trayapp.bridge")


class Bridge:
    """Everything one running bridge owns."""

    def __init__(self, config: BridgeConfig, store: Store | None = None) -> None:
        self.config = config
        self.store = store if store is not None else make_store(data_dir=config.data_dir, redis_url=config.redis_url,
                                                                dedupe_window=config.replay_window)
        self.metrics = Metrics()
        self.signer = FrameSigner()
        self.hub = Hub(self.store, self.metrics, config.queue_size, config.revocation_poll)
        self.key_text = ""
        self._prune_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.store.open(self.signer)
        key = await self.store.signing_key()
        self.signer.key = key
        self.signer.epoch = self.store.epoch
        self.key_text = wire.key_to_text(key.public_key())
        self.metrics.head.set((await self.store.bounds()).head)
        self.hub.start()
        await self._prune()  # the first retention pass before anything is served
        self._prune_task = asyncio.get_running_loop().create_task(self._prune_loop())

    async def stop(self) -> None:
        if self._prune_task is not None:
            self._prune_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._prune_task
        await self.hub.close_all(wire.CLOSE_GOING_AWAY, "server shutting down")
        await self.hub.stop()
        await self.store.close()

    async def _prune(self) -> None:
        try:
            n = await self.store.prune(time.time() - self.config.retention_days * 86400)
            if n:
                log.info("retention: dropped %d events older than %s days", n, self.config.retention_days)
        except BridgeError as exc:
            log.warning("retention pass failed: %s", exc.reason)

    async def _prune_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.prune_interval)
            await self._prune()


class _Lazy:
    """An ASGI endpoint resolved from ``app.state.bridge`` at request time (the bridge exists after startup)."""

    def __init__(self, app: Starlette, attr: str) -> None:
        self.app = app
        self.attr = attr

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = getattr(self.app.state, self.attr, None)
        if endpoint is None:
            if scope["type"] == "http":
                await send_json(send, 503, {"error": "starting up"})
            return
        await endpoint(scope, receive, send)


def _error(status: int, reason: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=status, headers=headers)


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    reasons = {404: f"no such endpoint: {request.url.path}", 405: f"method {request.method} not allowed"}
    return _error(exc.status_code, reasons.get(exc.status_code, str(exc.detail)), exc.headers)


async def _bridge_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BridgeError)
    return _error(exc.status, exc.reason)


DEMO_PAGE = """<!doctype html><html lang="en"><meta charset="utf-8"><title>Case {case}</title>
<style>body{{font-family:system-ui,sans-serif;margin:3rem;max-width:40rem}}
code{{background:#eee;padding:0 .3em}}</style>
<h1>Case {case}</h1><p>This is the trayapp demo bridge. In a real setup this link opens the conversation
<code>{case}</code> in Acquire.</p><p>Nothing here is sent anywhere: the page is served by the bridge on your own
computer.</p></html>
"""


class BridgeApp:
    """The ASGI app: webhooks go straight to the ingest endpoint (the hot path skips Starlette's router and
    middleware); everything else, lifespan included, goes to the Starlette app."""

    def __init__(self, starlette: Starlette, bridge: Bridge) -> None:
        self.starlette = starlette
        self.bridge = bridge
        self.state = starlette.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/webhooks/acquire":
            ingest = getattr(self.state, "ingest", None)
            if ingest is not None:
                await ingest(scope, receive, send)
                return
        await self.starlette(scope, receive, send)


def create_app(config: BridgeConfig, store: Store | None = None) -> BridgeApp:
    bridge = Bridge(config, store)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await bridge.start()
        app.state.bridge = bridge
        app.state.ingest = IngestEndpoint(
            bridge.store, config.secrets, config.event_table, config.max_body, bridge.metrics,
            TokenBuckets(config.bad_signature_rate, config.bad_signature_burst),
            AddressSlots(config.max_unverified_per_address, config.unverified_wait), config.replay_window)
        snapshots = CaseSnapshots(bridge.store, bridge.signer)
        app.state.stream = StreamEndpoint(bridge.hub, bridge.signer, config.max_sockets_per_token,
                                          config.conversation_url, snapshots)
        app.state.cases = CasesEndpoint(snapshots)
        app.state.events = EventsEndpoint(bridge.store)
        app.state.test_alert = SelfTestEndpoint(bridge.hub, bridge.signer)
        try:
            yield
        finally:
            await bridge.stop()

    async def key(request: Request) -> Response:
        return JSONResponse({"key": bridge.key_text})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def readyz(request: Request) -> Response:
        try:
            await asyncio.wait_for(bridge.store.ping(), 2.0)
        except (BridgeError, TimeoutError) as exc:
            return _error(503, f"store not reachable: {exc}")
        return JSONResponse({"ok": True, "epoch": bridge.store.epoch, "head": (await bridge.store.bounds()).head})

    async def metrics(request: Request) -> Response:
        return Response(bridge.metrics.render(), media_type=bridge.metrics.content_type)

    async def stream_over_http(request: Request) -> Response:
        return _error(426, "this is a WebSocket endpoint: connect with ws:// or wss://", {"upgrade": "websocket"})

    async def demo_case(request: Request) -> Response:
        case = html.escape(request.path_params["case_id"])
        return HTMLResponse(DEMO_PAGE.format(case=case))

    app = Starlette(
        routes=[],
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_exception, BridgeError: _bridge_error},
    )
    routes: list[Any] = [
        Route("/webhooks/acquire", _Lazy(app, "ingest")),
        WebSocketRoute("/v1/stream", _Lazy(app, "stream")),
        Route("/v1/stream", stream_over_http),
        Route("/v1/events", _Lazy(app, "events")),
        Route("/v1/cases", _Lazy(app, "cases")),
        Route("/v1/test-alert", _Lazy(app, "test_alert")),
        Route("/v1/key", key),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
    ]
    if config.demo:
        routes.append(Route("/demo/case/{case_id}", demo_case))
    app.router.routes.extend(routes)
    return BridgeApp(app, bridge)
