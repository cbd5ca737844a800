"""The asyncio WebSocket client of the bridge's ``/v1/stream`` (``docs/protocol.md``). No Qt here.

:class:`Connection` owns one reconnect loop: connect with ``Authorization: Bearer``, resume with ``since`` + ``epoch``
from the store's cursor, verify every event frame with the pinned Ed25519 key (``core.wire.verify_frame``: the displayed
event is derived from the *signed* body), store it (which advances the cursor), then report it to a :class:`Listener`.

- A frame that fails verification or is malformed is dropped, logged (without secrets) and counted
  (``Connection.failures``), and reported with ``on_verification_failed``. A ``gap`` is reported, never swallowed.
- Keepalive: ``ping_interval`` 20 s + ``ping_timeout`` 20 s, so a dead socket is noticed within ~40 s.
- Reconnect delays come from ``core.backoff`` (jittered, 1 s → 60 s); the sequence is reset after a healthy connection
  (``caught_up`` received or up for ``healthy_after`` seconds). Close 4008 (slow consumer) resumes at once.
  HTTP 401/403 at the handshake or close 4001 → ERROR "token refused" and a slow retry (``refused_retry``).
- ``wss://`` uses the system trust store plus the optional ``ca_file``; ``ws://`` only to loopback hosts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final, Protocol
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from ..core import wire
from ..core.backoff import backoff
from ..core.errors import BadLink, BadMessage, BadSignature
from ..core.event import ReceivedEvent
from ..core.link import check_bridge_url, stream_url
from .errors import ClientError, ConnectionFailed, NotConfigured, TokenRefused, TokenRevoked
from .history import Cursor, HistoryRow
from .state import ConnectionState, ConnectionStatus

log = logging.getLogger(__name__)

TOKEN_REFUSED: Final = "token refused: ask your admin for a new link"
MAX_FRAME: Final = 4 * 1024 * 1024


class EventStore(Protocol):
    """What the connection needs from the history (``History`` or ``MemoryCursor``)."""

    def cursor(self) -> Cursor | None: ...

    def add(self, received: ReceivedEvent, epoch: str) -> HistoryRow | None: ...

    def skip_to(self, epoch: str, seq: int) -> None: ...


class Listener(Protocol):
    """Receives what happens on the connection, in the connection's thread."""

    def on_state(self, status: ConnectionStatus) -> None: ...

    def on_event(self, row: HistoryRow, replay: bool) -> None: ...

    def on_caught_up(self, count: int) -> None: ...

    def on_gap(self, gap: wire.Gap) -> None: ...

    def on_verification_failed(self, reason: str) -> None: ...

    def on_test_alert(self, received: ReceivedEvent) -> None: ...


@dataclass(frozen=True)
class ConnectionConfig:
    bridge_url: str
    token: str = field(repr=False)
    key: str
    ca_file: str | None = None
    ping_interval: float = 20.0
    ping_timeout: float = 20.0
    open_timeout: float = 15.0
    close_timeout: float = 1.0
    healthy_after: float = 30.0
    backoff_initial: float = 1.0
    backoff_max: float = 60.0
    refused_retry: float = 300.0

    def check(self) -> None:
        """Raise :class:`NotConfigured` / :class:`ClientError` when this cannot be used."""
        if not self.bridge_url or not self.key or not self.token:
            raise NotConfigured("not connected yet: paste the connection link from your admin")
        try:
            check_bridge_url(self.bridge_url)
            wire.key_from_text(self.key)
        except (BadLink, BadMessage) as exc:
            raise ClientError(str(exc)) from None


def ssl_context(ca_file: str | None) -> ssl.SSLContext:
    """The system trust store, plus ``ca_file`` (a CA bundle or a self-signed certificate, PEM) when given."""
    context = ssl.create_default_context()
    if ca_file:
        try:
            context.load_verify_locations(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ClientError(f"cannot use the certificate file {ca_file}: {exc}") from None
    return context


async def open_stream(config: ConnectionConfig, url: str, context: ssl.SSLContext | None) -> ClientConnection:
    """Open ``/v1/stream`` (handshake only). Raises :class:`TokenRefused` or :class:`ConnectionFailed`."""
    host = host_of(config.bridge_url)
    try:
        return await connect(
            url,
            additional_headers={"Authorization": f"Bearer {config.token}"},
            ssl=context,
            ping_interval=config.ping_interval,
            ping_timeout=config.ping_timeout,
            open_timeout=config.open_timeout,
            close_timeout=config.close_timeout,
            max_size=MAX_FRAME,
            max_queue=64,
            user_agent_header=f"trayapp/{_version()}",
            logger=_WS_LOGGER,
        )
    except InvalidStatus as exc:
        code = exc.response.status_code
        if code == 403:
            raise TokenRevoked(TOKEN_REFUSED) from None
        if code == 401:
            raise TokenRefused(TOKEN_REFUSED) from None
        raise ConnectionFailed(f"{host} answered HTTP {code}") from None
    except ssl.SSLCertVerificationError as exc:
        raise ConnectionFailed(f"{host}: the certificate is not trusted ({exc.verify_message})") from None
    except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
        raise ConnectionFailed(f"cannot reach {host}: {_words(exc)}") from None


def host_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc or url


class _Closed(Exception):
    """The session ended; ``code`` is the close code (None if the socket died)."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason


class Connection:
    """One bridge connection with its reconnect loop. Use from one asyncio loop: ``await run()``; cancel to stop."""

    def __init__(
        self,
        config: ConnectionConfig,
        store: EventStore,
        listener: Listener,
        *,
        delays: Callable[[], Iterator[float]] | None = None,
        initial: ConnectionStatus | None = None,
    ) -> None:
        config.check()
        self.config = config
        self.store = store
        self.listener = listener
        self.failures = 0  # frames dropped (bad signature / malformed)
        self.connects = 0
        self._key = wire.key_from_text(config.key)
        self._delays = delays or (lambda: backoff(config.backoff_initial, config.backoff_max))
        self._status = initial or ConnectionStatus(ConnectionState.CONNECTING, detail="connecting")
        self._wake = asyncio.Event()
        self._ws: ClientConnection | None = None
        self._healthy = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._ssl = ssl_context(config.ca_file) if stream_url(config.bridge_url).startswith("wss:") else None
        self.epoch: str | None = None
        self.head: int | None = None

    @property
    def status(self) -> ConnectionStatus:
        return self._status

    def _set(self, state: ConnectionState, detail: str) -> None:
        new = self._status.follow(state, detail)
        if new != self._status:
            self._status = new
            log.info("connection: %s (%s)", state.value, detail)
            self.listener.on_state(new)

    def reconnect_now(self) -> None:
        """Drop the current socket (if any) and connect again without waiting (call in the loop's thread)."""
        self._wake.set()
        if self._ws is not None:
            task = asyncio.get_running_loop().create_task(self._ws.close(1000, "reconnecting"))
            self._tasks.add(task)  # keep a reference until it is done
            task.add_done_callback(self._tasks.discard)

    async def run(self) -> None:
        """Connect, and reconnect, until cancelled."""
        delays = self._delays()
        host = host_of(self.config.bridge_url)
        self._set(self._status.state, f"connecting to {host}")
        loop = asyncio.get_running_loop()
        slow_again = False
        while True:
            self._wake.clear()
            started = loop.time()
            self._healthy = False
            refused = failed = False
            delay: float | None = None
            try:
                await self._session()
            except _Closed as closed:
                if closed.code is None:
                    detail = f"lost the connection to {host}"
                else:
                    detail = f"{host} closed the connection ({closed.code} {closed.reason})".replace(" )", ")")
                if closed.code == wire.CLOSE_REVOKED:
                    refused = True
                elif closed.code == wire.CLOSE_SLOW_CONSUMER and not slow_again:
                    log.info("connection: closed as a slow consumer; resuming at once")
                    delay = 0.0
                slow_again = closed.code == wire.CLOSE_SLOW_CONSUMER  # twice in a row: back off instead
            except TokenRefused:
                refused = True
                slow_again = False
            except ConnectionFailed as exc:
                detail = str(exc)
                slow_again = False
            except ClientError as exc:  # e.g. the history cannot be written (disk full)
                log.error("connection: %s", exc)
                detail, failed, slow_again = str(exc), True, False
            except Exception:  # a bug: keep the app alive, say so, retry with backoff
                log.exception("connection: unexpected error")
                detail, failed, slow_again = "internal error in the connection (see the log)", True, False
            if self._healthy or loop.time() - started >= self.config.healthy_after:
                delays = self._delays()  # a healthy connection resets the backoff
            if refused:
                delay = self.config.refused_retry
            elif delay is None:
                delay = next(delays)
            if self._wake.is_set():
                delay = 0.0
            if refused:
                self._set(ConnectionState.ERROR, TOKEN_REFUSED)
            elif failed:
                self._set(ConnectionState.ERROR, f"{detail}; retrying in {delay:.0f} s")
            elif self._wake.is_set() and self._status.state is ConnectionState.CONNECTED:
                self._set(ConnectionState.CONNECTING, f"reconnecting to {host}")  # asked for: not an outage
            else:
                when = f"retrying in {delay:.0f} s" if delay >= 1 else "reconnecting"
                self._set(ConnectionState.OFFLINE, f"{detail}; {when}")
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)

    def _url(self) -> str:
        cursor = self.store.cursor()
        if cursor is None:
            return stream_url(self.config.bridge_url)
        return stream_url(self.config.bridge_url, since=cursor.seq, epoch=cursor.epoch or None)

    async def _session(self) -> None:
        host = host_of(self.config.bridge_url)
        ws = await open_stream(self.config, self._url(), self._ssl)
        self.connects += 1
        self._ws = ws
        try:
            await self._read(ws, host)
        except ConnectionClosed as exc:
            rcvd = exc.rcvd
            raise _Closed(rcvd.code if rcvd else None, rcvd.reason if rcvd else "") from None
        finally:
            self._ws = None
            await ws.close()
        raise _Closed(ws.close_code, ws.close_reason or "")

    async def _read(self, ws: ClientConnection, host: str) -> None:
        loop = asyncio.get_running_loop()
        opened = loop.time()
        hello: wire.Hello | None = None
        replay = True
        replayed = 0
        async for text in ws:
            if not self._healthy and loop.time() - opened >= self.config.healthy_after:
                self._healthy = True
            try:
                message = wire.decode(text)
            except BadMessage as exc:
                if _frame_type(text) not in _KNOWN_TYPES:
                    log.info("connection: ignoring a frame of an unknown type (a newer bridge?)")
                    continue
                self._drop(f"malformed frame from the bridge: {exc}")
                continue
            if hello is None:
                if not isinstance(message, wire.Hello):
                    raise ConnectionFailed(f"{host} did not start with hello: not a trayapp bridge?")
                if message.protocol != wire.PROTOCOL:
                    await ws.close(1002, "unsupported protocol")
                    raise ConnectionFailed(
                        f"{host} speaks stream protocol {message.protocol}; this app speaks {wire.PROTOCOL}: update"
                    )
                hello = message
                self.epoch, self.head = message.epoch, message.head
                if self.store.cursor() is None:
                    # A first connection starts live; remember where, so a drop before the first event still
                    # resumes from here and loses nothing.
                    self.store.skip_to(message.epoch, message.head)
                self._set(ConnectionState.CONNECTED, f"connected to {host}; catching up")
                continue
            if isinstance(message, wire.EventFrame):
                try:
                    received = wire.verify_frame(self._key, message)
                except BadSignature as exc:
                    self._drop(str(exc))
                    continue
                row = self.store.add(received, hello.epoch)
                if row is not None:
                    replayed += replay
                    self.listener.on_event(row, replay)
            elif isinstance(message, wire.CaughtUp):
                # Everything up to head was sent before this (stored, deduplicated, or dropped and reported).
                self.store.skip_to(hello.epoch, message.head)
                if replay:
                    replay = False
                    self._healthy = True
                    self._set(ConnectionState.CONNECTED, f"connected to {host}")
                    self.listener.on_caught_up(replayed)
            elif isinstance(message, wire.CheckFrame):  # a test alert the agent asked for: shown, never stored
                try:
                    checked = wire.verify_check(self._key, message)
                except BadSignature as exc:
                    self._drop(str(exc))
                    continue
                log.info("connection: test alert %s arrived", checked.id)
                self.listener.on_test_alert(checked)
            elif isinstance(message, wire.Gap):
                log.warning("connection: gap %s..%s (%s)", message.first, message.last, message.reason)
                self.listener.on_gap(message)
                if message.last is not None:
                    self.store.skip_to(hello.epoch, message.last)
            else:
                self._drop("unexpected hello in the middle of the stream")

    def _drop(self, reason: str) -> None:
        self.failures += 1
        log.warning("connection: dropped a frame (%d so far): %s", self.failures, reason)
        self.listener.on_verification_failed(reason)


_KNOWN_TYPES: Final = frozenset({"hello", "caught_up", "gap", "event", "test_alert"})


def _frame_type(text: str | bytes) -> object:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return data.get("type", None) if isinstance(data, dict) else None


def _words(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    text = str(exc) or type(exc).__name__
    return text


def _version() -> str:
    from .. import __version__

    return __version__


class _RedactingLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """websockets logs request headers at DEBUG: never let the bearer token reach a log."""

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if len(args) == 2 and isinstance(args[0], str) and args[0].lower() == "authorization":
            args = (args[0], "Bearer ***")
        super().log(level, msg, *args, **kwargs)


_WS_LOGGER: Final = _RedactingLogger(logging.getLogger("websockets.client"), {})
