"""Run the bridge under uvicorn, with the stack's pitfalls fixed.

- WebSockets: uvicorn's ``ws="auto"`` protocol (the ``websockets`` sans-I/O implementation), subclassed so that a
  shutdown closes sockets with **1001** (stock: 1012), and so that a close frame is queued even when the peer stopped
  reading (stock: ``websocket.close`` waits for the write buffer to drain, so a slow consumer could never be closed),
  and so that a refused handshake (HTTP 401 / 403 denial response) is not logged as an ERROR.
- HTTP: uvicorn's httptools protocol has no limit on the request head (a client could send megabytes of headers
  that are all buffered); ``BridgeHttpProtocol`` answers **431** once the request line plus headers exceed
  ``MAX_HEAD_BYTES`` (64 KiB), and closes a connection whose unfinished head has buffered over 1 MiB.
- Signals: SIGTERM / SIGINT stop accepting, close every socket with 1001 and return; the signal is **not** re-raised
  (stock uvicorn re-raises it after shutdown, so the process would die with -15 instead of exiting 0).
- Logs (and the access log, off unless asked for) go to stderr; stdout carries exactly one line,
  ``trayapp-bridge listening on http://HOST:PORT`` (the real port with ``--port 0``), printed and flushed once the
  socket is bound and the store is open. The same URL is written to ``<data-dir>/bridge.url``.

- Redis down at start (``--redis-url``): ``run`` waits for it before it binds the port, logging one WARNING line
  per attempt (``waiting for Redis at URL: ...; retrying in N s``, backoff 0.5 s to 5 s), so bridges started
  before Redis (compose, boot order) come up by themselves, and a load balancer sees no port until the bridge can
  serve. SIGTERM / SIGINT during the wait exit 0; a URL the store refuses exits 2 at once.

``run(config)`` blocks until shutdown; ``BridgeServer`` is reused by :mod:`trayapp.demo.bridge` in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import logging.config
import signal
import sys
import threading
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.protocols.websockets.auto import AutoWebSocketsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State as WsState

from trayapp.core import wire
from trayapp.private_files import write_private

from .app import BridgeApp, create_app
from .config import BridgeConfig
from .errors import StoreUnavailable
from .store import Store
from .stream import FAST_SEND

URL_FILE = "bridge.url"
log = logging.getLogger("trayapp.bridge")

assert AutoWebSocketsProtocol is WebSocketsSansIOProtocol, "uvicorn ws='auto' should pick websockets (sans-I/O)"


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - no httptools: h11, which limits the head by itself (16 KiB)
    HttpToolsProtocol = None  # type: ignore[assignment,misc]

MAX_HEAD_BYTES = 64 * 1024
MAX_RAW_HEAD_BYTES = 1024 * 1024


class _HeadTooLarge(Exception):
    pass


if HttpToolsProtocol is not None:

    class BridgeHttpProtocol(HttpToolsProtocol):
        """uvicorn's httptools protocol with a bounded request head (431 Request Header Fields Too Large)."""

        _head_bytes = 0
        _raw_head_bytes = 0
        _in_head = True
        _head_too_large = False

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._head_bytes = 0
            self._in_head = True

        def on_url(self, url: bytes) -> None:
            self._count(len(url))
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._count(len(name) + len(value) + 4)
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            self._in_head = False
            self._raw_head_bytes = 0
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self._in_head = True
            super().on_message_complete()

        def _count(self, n: int) -> None:
            self._head_bytes += n
            if self._head_bytes > MAX_HEAD_BYTES:
                self._head_too_large = True
                raise _HeadTooLarge  # httptools turns it into a parser error: uvicorn calls send_400_response

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self._in_head and not self.transport.is_closing():
                self._raw_head_bytes += len(data)  # a head still unfinished after this chunk
                if self._raw_head_bytes > MAX_RAW_HEAD_BYTES:
                    self._head_too_large = True
                    self.send_400_response("")

        def send_400_response(self, msg: str) -> None:
            if not self._head_too_large:
                super().send_400_response(msg)
                return
            body = b'{"error":"request head over %d bytes"}' % MAX_HEAD_BYTES
            self.transport.write(b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
                                 b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body))
            self.transport.close()


class BridgeWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's ``ws="auto"`` protocol with the fixes described in the module docstring, plus one ASGI extension:
    ``scope["extensions"]["trayapp.fast_send"](frame: bytes) -> bool`` writes an already-encoded, complete
    server-to-client WebSocket frame straight to the transport (the hub encodes each event once for all sockets)
    and answers False -- writing nothing -- when the socket is not open or its write buffer is full (the caller
    then takes the ordinary, back-pressured ``websocket.send`` path)."""

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

    def shutdown(self) -> None:
        if self.handshake_complete and not self.close_sent and self.initial_response is None:
            self.stop_keepalive()
            self.queue.put_nowait({"type": "websocket.disconnect", "code": wire.CLOSE_GOING_AWAY})
            self.conn.send_close(wire.CLOSE_GOING_AWAY, "server shutting down")
            self.transport.write(b"".join(self.conn.data_to_send()))
            self.close_sent = True
            self.transport.close()
            return
        super().shutdown()

    async def send(self, message: Any) -> None:
        if message["type"] == "websocket.close" and self.handshake_complete and not self.close_sent:
            self.writable.set()  # queue the close frame now, even behind a full write buffer
        await super().send(message)
        if message["type"] == "websocket.http.response.body" and not message.get("more_body", False):
            # stock uvicorn forgets that a denial response ends the handshake and logs an ERROR for it
            self.handshake_complete = True


def log_config(level: str) -> dict[str, Any]:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr",
                                "formatter": "plain"}},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"level": level.upper()},
            "uvicorn.access": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "trayapp.bridge": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
        },
    }


def format_url(scheme: str, host: str, port: int) -> str:
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    return f"{scheme}://{host}:{port}"


class BridgeServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, bridge_config: BridgeConfig,
                 on_ready: Callable[[str], None] | None = None) -> None:
        super().__init__(config)
        self.bridge_config = bridge_config
        self.on_ready = on_ready
        self.url = ""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        original = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)
        # unlike uvicorn: do not re-raise the captured signal; a requested stop is a clean exit (0)

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        if self.should_exit or not getattr(self, "servers", None):
            return
        port = self.servers[0].sockets[0].getsockname()[1]
        self.url = format_url(self.bridge_config.scheme, self.bridge_config.host, port)
        write_url_file(self.bridge_config.data_dir, self.url)
        if self.on_ready is not None:
            self.on_ready(self.url)

    async def shutdown(self, sockets: Any = None) -> None:
        app = self.config.app
        if isinstance(app, BridgeApp):
            for server in getattr(self, "servers", []):
                server.close()  # stop accepting first
            await app.bridge.hub.close_all(wire.CLOSE_GOING_AWAY, "server shutting down")
        await super().shutdown(sockets)


def write_url_file(data_dir: Path, url: str) -> None:
    write_private(data_dir / URL_FILE, url + "\n")


def read_url_file(data_dir: Path) -> str | None:
    try:
        text = (data_dir / URL_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return text or None


def make_server(config: BridgeConfig, store: Store | None = None,
                on_ready: Callable[[str], None] | None = None, own_logging: bool = True) -> BridgeServer:
    """The uvicorn server for ``config``. ``own_logging``: the bridge process configures logging (stderr);
    an embedded bridge (``own_logging=False``) leaves the host's logging alone and logs through it."""
    app = create_app(config, store)
    uv_config = uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        ws=BridgeWebSocketProtocol,
        http=BridgeHttpProtocol if HttpToolsProtocol is not None else "h11",
        loop="auto",
        lifespan="on",
        access_log=config.access_log,
        log_config=log_config(config.log_level) if own_logging else None,
        ws_ping_interval=config.ping_interval,
        ws_ping_timeout=config.ping_timeout,
        ws_max_size=64 * 1024,
        ws_per_message_deflate=False,  # frames are small JSON; compressing per socket costs more than it saves
        ssl_certfile=str(config.tls_cert) if config.tls_cert else None,
        ssl_keyfile=str(config.tls_key) if config.tls_key else None,
        timeout_graceful_shutdown=3,
        # Longer than common clients' idle pools (httpx: 5 s), so a client never reuses a connection at the very
        # moment the server closes it (uvicorn's default is also 5 s: a race that loses the request).
        timeout_keep_alive=30,
        server_header=False,
        backlog=4096,
    )
    return BridgeServer(uv_config, config, on_ready)


async def _wait_for_redis(url: str, max_delay: float = 5.0) -> bool:
    """Ping Redis until it answers (True) or SIGTERM / SIGINT arrives (False). ConfigError propagates."""
    from .store_redis import probe, redact_url

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        delay = 0.5
        waited = False
        while True:
            try:
                await probe(url)
            except StoreUnavailable as exc:
                log.warning("waiting for Redis at %s: %s; retrying in %.1f s (the bridge listens once Redis "
                            "answers)", redact_url(url), exc.reason, delay)
                waited = True
            else:
                if waited:
                    log.warning("Redis at %s answers: starting", redact_url(url))
                return True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
                log.warning("stopped while waiting for Redis")
                return False
            delay = min(delay * 2, max_delay)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def run(config: BridgeConfig) -> int:
    """Serve until SIGTERM / SIGINT; 0 on a clean stop."""

    def ready(url: str) -> None:
        print(f"trayapp-bridge listening on {url}", flush=True)

    if config.redis_url:
        from .store_factory import make_store

        make_store(data_dir=config.data_dir, redis_url=config.redis_url)  # a URL it refuses: ConfigError (exit 2)
        logging.config.dictConfig(log_config(config.log_level))
        if not asyncio.run(_wait_for_redis(config.redis_url)):
            return 0

    # The store's writer thread and the event loop share the GIL: hand it over after 1 ms instead of 5 ms, so a
    # commit (or a fan-out) is not kept waiting behind the other thread's Python work.
    sys.setswitchinterval(0.001)
    server = make_server(config, on_ready=ready)
    server.run()
    return 0 if server.started else 1
