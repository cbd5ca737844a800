"""Everything that reaches into uvicorn beyond its public ``Config`` / ``Server`` API, in one place.

Every private name used here is listed in :data:`UVICORN_INTERNALS`; ``tests/unit/test_uvicorn_internals.py``
checks each one against the installed uvicorn and fails naming it, so a uvicorn bump that moves one fails there.

- :class:`BridgeHttpProtocol` (uvicorn's httptools protocol):
  - **connection caps**: each new connection is counted in :class:`~.limits.ConnectionCaps` (total and per peer
    address); one over a cap gets ``503`` (total) or ``429`` (per address) with ``Retry-After`` and is closed before
    anything is read;
  - **deadlines**: the request head (line + headers) must arrive within ``head_timeout`` of the connection or of the
    request's first byte, its body within ``body_timeout`` of the head; otherwise ``408`` and close. Between requests
    uvicorn's keep-alive timeout applies;
  - **bounded head**: ``431`` once the request line plus headers exceed :data:`MAX_HEAD_BYTES` (64 KiB), and a
    connection whose unfinished head has buffered over 1 MiB is closed.
- :class:`BridgeWebSocketProtocol` (uvicorn's ``websockets`` sans-I/O protocol): releases the connection's cap
  slot; the ``trayapp.fast_send`` ASGI extension (the hub writes each event's pre-encoded frame straight to idle
  sockets); a close frame is queued even behind a full write buffer (stock ``websocket.close`` waits for it to drain,
  so a slow consumer could never be closed); invalid UTF-8 from a client closes 1007 quietly (stock: an ERROR with a
  traceback); a refused handshake (HTTP 401 / 403 denial) is not logged as an ERROR.
- :class:`BridgeServer`: a TLS handshake must finish within ``tls_handshake_timeout`` (uvicorn passes no
  ``ssl_handshake_timeout`` to ``create_server``: asyncio's default is 60 s); the real URL is reported once bound;
  shutdown stops accepting first and lets the app close its streams with 1001. When the open connections have
  fallen to half of their peak (by 1,000 or more), the C heap is trimmed (glibc ``malloc_trim``), so the memory that
  thousands of hostile connections took is given back to the system when they go.

The 1001 close at shutdown and the clean exit 0 on SIGTERM need no override: the app's hub closes every stream
before uvicorn's own shutdown runs, and :func:`.server.run` installs no-op handlers that uvicorn restores and
re-raises into.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import functools
import json
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.protocols.websockets.auto import AutoWebSocketsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State as WsState

from .limits import ConnectionCaps, trusted_hosts
from .stream import FAST_SEND

MAX_HEAD_BYTES = 64 * 1024
MAX_RAW_HEAD_BYTES = 1024 * 1024

# (class or module, name): what this module relies on beyond uvicorn's public API
UVICORN_INTERNALS: tuple[tuple[Any, str], ...] = (
    (HttpToolsProtocol, "connection_made"), (HttpToolsProtocol, "connection_lost"),
    (HttpToolsProtocol, "data_received"), (HttpToolsProtocol, "on_message_begin"), (HttpToolsProtocol, "on_url"),
    (HttpToolsProtocol, "on_header"), (HttpToolsProtocol, "on_headers_complete"),
    (HttpToolsProtocol, "on_message_complete"), (HttpToolsProtocol, "send_400_response"),
    (HttpToolsProtocol, "self.transport"), (HttpToolsProtocol, "self.client"), (HttpToolsProtocol, "self.cycle"),
    (HttpToolsProtocol, "self.config"), (HttpToolsProtocol, "self.loop"), (HttpToolsProtocol, "self.logger"),
    (HttpToolsProtocol, "self.transport.set_protocol(protocol)"), (RequestResponseCycle, "self.response_started"),
    (WebSocketsSansIOProtocol, "handle_connect"), (WebSocketsSansIOProtocol, "send_receive_event_to_app"),
    (WebSocketsSansIOProtocol, "handle_parser_exception"), (WebSocketsSansIOProtocol, "send"),
    (WebSocketsSansIOProtocol, "connection_lost"), (WebSocketsSansIOProtocol, "self.scope"),
    (WebSocketsSansIOProtocol, "self.close_sent"), (WebSocketsSansIOProtocol, "self.handshake_complete"),
    (WebSocketsSansIOProtocol, "self.initial_response"), (WebSocketsSansIOProtocol, "self.writable"),
    (WebSocketsSansIOProtocol, "self.frames"), (WebSocketsSansIOProtocol, "self.curr_msg_data_type"),
    (WebSocketsSansIOProtocol, "self.conn"), (WebSocketsSansIOProtocol, "self.client"),
    (uvicorn.Server, "startup"), (uvicorn.Server, "shutdown"), (uvicorn.Server, "self.servers"),
    (uvicorn.Server, "loop.create_server("), (uvicorn.Server, "ssl=config.ssl"),
    (uvicorn.Server, "signal.raise_signal(captured_signal)"), (uvicorn.Config, "self.forwarded_allow_ips"),
)

assert AutoWebSocketsProtocol is WebSocketsSansIOProtocol, "uvicorn ws='auto' should pick websockets (sans-I/O)"


@dataclass(frozen=True)
class Edge:
    """The per-server limits both protocols read (through :class:`EdgeConfig`)."""

    caps: ConnectionCaps
    head_timeout: float
    body_timeout: float
    tls_handshake_timeout: float


class EdgeConfig(uvicorn.Config):
    """uvicorn's ``Config`` carrying the :class:`Edge` (uvicorn hands its config to every protocol it creates).
    Peers uvicorn trusts for ``X-Forwarded-For`` (``FORWARDED_ALLOW_IPS``) have no per-address connection cap."""

    def __init__(self, app: Any, *, max_connections: int, max_connections_per_address: int, head_timeout: float,
                 body_timeout: float, tls_handshake_timeout: float, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        caps = ConnectionCaps(max_connections, max_connections_per_address, trusted_hosts(self.forwarded_allow_ips))
        self.edge = Edge(caps, head_timeout, body_timeout, tls_handshake_timeout)


def _reply(status: str, reason: str, retry_after: int | None = None) -> bytes:
    body = json.dumps({"error": reason}).encode()
    extra = b"retry-after: %d\r\n" % retry_after if retry_after is not None else b""
    return (b"HTTP/1.1 " + status.encode() + b"\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
            % len(body) + extra + b"connection: close\r\n\r\n" + body)


class _HeadTooLarge(Exception):
    pass


class BridgeHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with connection caps, deadlines and a bounded head (see the module docstring)."""

    _head_bytes = 0
    _raw_head_bytes = 0
    _in_head = True
    _head_too_large = False
    _admitted = False
    _peer = ""
    _deadline: asyncio.TimerHandle | None = None

    @property
    def edge(self) -> Edge:
        edge: Edge = self.config.edge  # type: ignore[attr-defined]
        return edge

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._peer = self.client[0] if self.client else ""
        refused = self.edge.caps.admit(self._peer)
        if refused is not None:
            status, reason = refused
            self.logger.info("connection from %s refused: %s", self._peer, reason)
            line = "429 Too Many Requests" if status == 429 else "503 Service Unavailable"
            transport.write(_reply(line, f"too many connections: {reason}", retry_after=1))
            transport.close()
            return
        self._admitted = True
        self._arm(self.edge.head_timeout, "request head")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._admitted:
            self._admitted = False
            self.edge.caps.release(self._peer)
        super().connection_lost(exc)

    # -- deadlines ---------------------------------------------------------------------------------
    def _arm(self, seconds: float, what: str) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired, what, seconds)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self, what: str, seconds: float) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        self.logger.info("%s from %s not complete within %g s: closing", what, self._peer, seconds)
        if self.cycle is None or not self.cycle.response_started:
            self.transport.write(_reply("408 Request Timeout", f"{what} not complete within {seconds:g} s"))
        self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = 0
        self._in_head = True
        self._arm(self.edge.head_timeout, "request head")

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._raw_head_bytes = 0
        self._arm(self.edge.body_timeout, "request body")
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        self._in_head = True
        super().on_message_complete()

    # -- bounded head ------------------------------------------------------------------------------
    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def _count(self, n: int) -> None:
        self._head_bytes += n
        if self._head_bytes > MAX_HEAD_BYTES:
            self._head_too_large = True
            raise _HeadTooLarge  # httptools turns it into a parser error: uvicorn calls send_400_response

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.transport.get_protocol() is not self:  # upgraded: the WebSocket protocol owns the cap slot now
            self._disarm()
            self._admitted = False
            return
        if self._in_head and not self.transport.is_closing():
            self._raw_head_bytes += len(data)  # a head still unfinished after this chunk
            if self._raw_head_bytes > MAX_RAW_HEAD_BYTES:
                self._head_too_large = True
                self.send_400_response("")

    def send_400_response(self, msg: str) -> None:
        self._disarm()
        if not self._head_too_large:
            super().send_400_response(msg)
            return
        self.transport.write(_reply("431 Request Header Fields Too Large", f"request head over {MAX_HEAD_BYTES} bytes"))
        self.transport.close()


class BridgeWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's ``ws="auto"`` protocol with the fixes described in the module docstring, plus one ASGI extension:
    ``scope["extensions"]["trayapp.fast_send"](frame: bytes) -> bool`` writes an already-encoded, complete
    server-to-client WebSocket frame straight to the transport (the hub encodes each event once for all sockets)
    and answers False -- writing nothing -- when the socket is not open or its write buffer is full (the caller
    then takes the ordinary, back-pressured ``websocket.send`` path)."""

    def connection_lost(self, exc: Exception | None) -> None:
        edge: Edge | None = getattr(self.config, "edge", None)
        if edge is not None:  # every upgrade comes from an admitted HTTP connection, which handed its slot over
            edge.caps.release(self.client[0] if self.client else "")
        super().connection_lost(exc)

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"][FAST_SEND] = self.fast_send

    def fast_send(self, frame: bytes) -> bool:
        if (self.close_sent or not self.handshake_complete or self.initial_response is not None
                or not self.writable.is_set() or self.transport.is_closing()):
            return False
        self.transport.write(frame)
        return True

    def send_receive_event_to_app(self) -> None:
        # stock uvicorn logs invalid UTF-8 in a client's text message as an ERROR with a traceback; it is the
        # client's fault: close 1007 (invalid payload) quietly
        if self.curr_msg_data_type == "text" and not self.close_sent:
            try:
                b"".join(self.frames).decode()
            except UnicodeDecodeError:
                self.frames = []
                self.logger.info("invalid UTF-8 in a text message from a client: closing with 1007")
                if self.conn.state is WsState.OPEN:  # (stock uvicorn raises here when a close came in the same read)
                    self.conn.send_close(1007)
                if self.conn.close_sent is not None:
                    self.handle_parser_exception()
                return
        super().send_receive_event_to_app()

    async def send(self, message: Any) -> None:
        if message["type"] == "websocket.close" and self.handshake_complete and not self.close_sent:
            self.writable.set()  # queue the close frame now, even behind a full write buffer
        await super().send(message)
        if message["type"] == "websocket.http.response.body" and not message.get("more_body", False):
            # stock uvicorn forgets that a denial response ends the handshake and logs an ERROR for it
            self.handshake_complete = True


class BridgeServer(uvicorn.Server):
    """``on_ready(url)`` is called once the socket is bound (the real port with port 0); ``before_shutdown`` runs
    after the listening sockets are closed and before uvicorn shuts the connections down."""

    def __init__(self, config: EdgeConfig, scheme: str, host: str, on_ready: Callable[[str, int], None],
                 before_shutdown: Callable[[], Any]) -> None:
        super().__init__(config)
        self.url = ""
        self._trimmer: asyncio.Task[None] | None = None
        self.edge = config.edge
        self.scheme = scheme
        self.host = host
        self.on_ready = on_ready
        self.before_shutdown = before_shutdown

    @contextlib.contextmanager
    def _tls_handshake_deadline(self) -> Generator[None, None, None]:
        if self.config.ssl is None:
            yield
            return
        loop = asyncio.get_running_loop()
        loop.create_server = functools.partial(  # type: ignore[method-assign]
            loop.create_server, ssl_handshake_timeout=self.edge.tls_handshake_timeout)
        try:
            yield
        finally:
            del loop.create_server

    async def startup(self, sockets: Any = None) -> None:
        with self._tls_handshake_deadline():
            await super().startup(sockets)
        if self.should_exit or not getattr(self, "servers", None):
            return
        self._trimmer = asyncio.get_running_loop().create_task(_trim_after_drops(self.edge.caps))
        self.on_ready(self.host, self.servers[0].sockets[0].getsockname()[1])

    async def shutdown(self, sockets: Any = None) -> None:
        if self._trimmer is not None:
            self._trimmer.cancel()
        for server in getattr(self, "servers", []):
            server.close()  # stop accepting first
        await self.before_shutdown()
        await super().shutdown(sockets)


def _malloc_trim() -> Callable[[], None] | None:
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
        return lambda: trim(0) and None
    return None


async def _trim_after_drops(caps: ConnectionCaps, every: float = 2.0, drop: int = 1000) -> None:
    trim = _malloc_trim()
    if trim is None:  # not glibc
        return
    while True:
        await asyncio.sleep(every)
        if caps.peak - caps.total >= drop and caps.total <= caps.peak // 2:
            trim()
            caps.peak = caps.total
