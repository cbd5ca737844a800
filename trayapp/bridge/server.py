"""Run the bridge under uvicorn (whose internals the bridge touches only in :mod:`.protocols`).

- Limits at the edge (flags in :class:`~.config.BridgeConfig`; see :mod:`.protocols`): connection caps in total and
  per address, deadlines for a request head, a body and a TLS handshake, the idle keep-alive timeout. ``run`` raises
  the process's open-files limit (soft, up to the hard limit) to fit ``--max-connections``, and lowers the cap to
  what the limit allows, so the bridge refuses connections cleanly instead of failing ``accept`` for lack of files.
- Signals: SIGTERM / SIGINT stop accepting, close every socket with 1001 and return 0 (``run`` installs no-op
  handlers: uvicorn restores them and re-raises the signal into them after its shutdown).
- Logs (and the access log, off unless asked for) go to stderr through :mod:`trayapp.logs`' filter on every handler;
  stdout carries exactly one line, ``trayapp-bridge listening on http://HOST:PORT`` (the real port with
  ``--port 0``), printed and flushed once the socket is bound and the store is open. The same URL is written to
  ``<data-dir>/bridge.url``. Webhook secrets shorter than 16 characters are warned about at start.
- Redis down at start (``--redis-url``): ``run`` waits for it before it binds the port, logging one WARNING line
  per attempt (``waiting for Redis at URL: ...; retrying in N s``, ``core.backoff`` 0.5 s to 5 s), so bridges started
  before Redis (compose, boot order) come up by themselves, and a load balancer sees no port until the bridge can
  serve. SIGTERM / SIGINT during the wait exit 0; a URL the store refuses exits 2 at once.

``run(config)`` blocks until shutdown; :func:`make_server` is reused by :mod:`trayapp.demo.bridge` in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import logging
import logging.config
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trayapp.core import wire
from trayapp.private_files import write_private

from .. import logs
from ..core.backoff import backoff
from .app import create_app
from .config import BridgeConfig, weak_secret_warnings
from .errors import StoreUnavailable
from .protocols import BridgeHttpProtocol, BridgeServer, BridgeWebSocketProtocol, EdgeConfig
from .store import Store

URL_FILE = "bridge.url"
FILES_IN_RESERVE = 64  # open files kept for the store, logs and the listening sockets beyond --max-connections
log = logging.getLogger("trayapp.bridge")


def log_config(level: str) -> dict[str, Any]:
    """stderr for uvicorn's, the bridge's and every other logger (root), each record through the redaction filter."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": logs.RedactFilter}},
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr",
                                "formatter": "plain", "filters": ["redact"]}},
        "root": {"handlers": ["stderr"], "level": "WARNING"},
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
    uv_config = EdgeConfig(
        app,
        max_connections=config.max_connections,
        max_connections_per_address=config.max_connections_per_address,
        head_timeout=config.head_timeout,
        body_timeout=config.body_deadline,
        tls_handshake_timeout=config.tls_handshake_timeout,
        host=config.host,
        port=config.port,
        ws=BridgeWebSocketProtocol,
        http=BridgeHttpProtocol,
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
        # Longer than common clients' idle pools (httpx: 5 s) by default, so a client never reuses a connection at
        # the very moment the server closes it (uvicorn's default is also 5 s: a race that loses the request).
        timeout_keep_alive=config.keep_alive_timeout,
        server_header=False,
        backlog=4096,
    )

    def ready(host: str, port: int) -> None:
        server.url = format_url(config.scheme, host, port)
        write_url_file(config.data_dir, server.url)
        if on_ready is not None:
            on_ready(server.url)

    async def close_streams() -> None:
        await app.bridge.hub.close_all(wire.CLOSE_GOING_AWAY, "server shutting down")

    server = BridgeServer(uv_config, config.scheme, config.host, ready, close_streams)
    return server


def fit_open_files(max_connections: int) -> int:
    """Raise the soft open-files limit towards ``max_connections`` (up to the hard limit); the cap that fits."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows: no such limit
        return max_connections
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max_connections + FILES_IN_RESERVE
    if soft != resource.RLIM_INFINITY and soft < want:
        target = want if hard == resource.RLIM_INFINITY else min(want, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY or soft >= want:
        return max_connections
    fitted = max(1, soft - FILES_IN_RESERVE)
    log.warning("--max-connections %d lowered to %d: the open-files limit is %d (raise it: ulimit -n, or "
                "LimitNOFILE= in the systemd unit)", max_connections, fitted, soft)
    return fitted


async def _wait_for_redis(url: str, max_delay: float = 5.0) -> bool:
    """Ping Redis until it answers (True) or SIGTERM / SIGINT arrives (False). ConfigError propagates."""
    from .store_redis import probe

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        delays = backoff(0.5, max_delay)
        waited = False
        while True:
            delay = next(delays)
            try:
                await probe(url)
            except StoreUnavailable as exc:
                log.warning("waiting for Redis at %s: %s; retrying in %.1f s (the bridge listens once Redis "
                            "answers)", logs.redact_url(url), exc.reason, delay)
                waited = True
            else:
                if waited:
                    log.warning("Redis at %s answers: starting", logs.redact_url(url))
                return True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
                log.warning("stopped while waiting for Redis")
                return False
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _ignore_signal(sig: int, frame: Any) -> None:
    """Installed for SIGTERM / SIGINT before uvicorn runs: uvicorn restores it and re-raises the signal that stopped
    it into it, so a requested stop ends in a clean exit 0 (with the default handlers the process would die of it)."""


def run(config: BridgeConfig) -> int:
    """Serve until SIGTERM / SIGINT; 0 on a clean stop."""

    def ready(url: str) -> None:
        print(f"trayapp-bridge listening on {url}", flush=True)

    logs.remember_secrets(config.secrets)
    logging.config.dictConfig(log_config(config.log_level))
    for warning in weak_secret_warnings(config.secrets):
        log.warning(warning)
    if config.redis_url:
        from .store_factory import make_store

        make_store(data_dir=config.data_dir, redis_url=config.redis_url)  # a URL it refuses: ConfigError (exit 2)
        if not asyncio.run(_wait_for_redis(config.redis_url)):
            return 0

    # The store's writer thread and the event loop share the GIL: hand it over after 1 ms instead of 5 ms, so a
    # commit (or a fan-out) is not kept waiting behind the other thread's Python work.
    sys.setswitchinterval(0.001)
    config = dataclasses.replace(config, max_connections=fit_open_files(config.max_connections))
    server = make_server(config, on_ready=ready)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, _ignore_signal)
    server.run()
    return 0 if server.started else 1
