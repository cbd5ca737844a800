"""The asyncio WebSocket client of the bridge's ``/v1/stream``, protocol version 2 (``docs/protocol.md``). No Qt here.

:class:`Connection` owns one reconnect loop: connect with ``Authorization: Bearer`` and a fresh random ``nonce``,
resume with ``since`` + ``epoch`` from the store's cursor, verify the signed ``hello`` with the pinned Ed25519 key
*before anything else* (a wrong or stale key: ERROR ``Problem.KEY_MISMATCH`` at once), then verify every frame it acts
on -- ``caught_up`` and ``gap`` (signed for this nonce and epoch), the ``cases`` snapshot (handed on with
``on_cases``) and every event frame (``core.wire.verify_frame``: this epoch, and the displayed event is derived from
the *signed* body) -- store each event (which advances the cursor), then report it to a :class:`Listener`.

- An event frame that fails verification or is malformed is dropped, logged (without secrets) and counted
  (``Connection.failures``), and reported with ``on_verification_failed``; a ``caught_up`` or ``gap`` that fails
  verification is reported the same way and the connection starts again. A ``gap`` is reported, never swallowed.
- **No single event can stop the stream**: a genuine event that cannot be derived, stored or presented is skipped --
  logged with the reason, counted (``Connection.skipped``), reported with ``on_event_skipped(event_id, reason)``, and
  the cursor moves past it. Only a history that cannot be written at all (disk full) stops the stream, without moving
  the cursor, and the connection retries.
- Keepalive: ``ping_interval`` 20 s + ``ping_timeout`` 20 s, so a dead socket is noticed within ~40 s.
- When to reconnect is ``core.reconnect.ReconnectPolicy`` (``core.backoff``: jittered, 1 s → 60 s); the sequence is
  reset after a healthy connection (``caught_up`` received or up for ``healthy_after`` seconds). Close 4008 (slow
  consumer) resumes at once.
- What each frame means (hello, replay, caught_up, gaps, dropped and skipped frames) is ``core.stream.StreamSession``.
  HTTP 401 at the handshake → ERROR ``Problem.TOKEN_REFUSED``; HTTP 403 or close 4001 → ERROR ``Problem.REVOKED``;
  a ``hello`` that does not verify → ERROR ``Problem.KEY_MISMATCH``; each with a slow retry (``refused_retry``). A
  bridge that cannot be reached is OFFLINE ``Problem.UNREACHABLE``; a bug or an unwritable history is ERROR
  ``Problem.INTERNAL`` (retried with backoff).
- ``wss://`` uses the system trust store plus the optional ``ca_file``; ``ws://`` only to loopback hosts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final, Protocol
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from trayapp.model.connection import ConnectionState, ConnectionStatus, Problem

from ..core import stream, wire
from ..core.backoff import backoff
from ..core.cases import Snapshot
from ..core.errors import BadLink, BadMessage
from ..core.event import ReceivedEvent
from ..core.link import check_bridge_url, stream_url
from ..core.reconnect import Ending, ReconnectPolicy
from ..core.stream import StreamSession
from ..model.rows import HistoryRow
from .errors import (
    ClientError,
    ConnectionFailed,
    EventNotStored,
    KeyMismatch,
    NotConfigured,
    TokenRefused,
    TokenRevoked,
)
from .history import Cursor

log = logging.getLogger(__name__)

TOKEN_REFUSED: Final = "token refused: ask your admin for a new link"
TOKEN_REVOKED: Final = "access turned off (token revoked): ask your admin for a new link"
KEY_MISMATCH: Final = ("this link does not match the alert server (its signing key differs): "
                       "ask your admin for a new link")
MAX_FRAME: Final = wire.CLIENT_MAX_FRAME


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

    def on_event_skipped(self, event_id: str, reason: str) -> None:
        """A genuine event could not be derived, stored or shown; the stream went on without it."""

    def on_test_alert(self, received: ReceivedEvent) -> None:
        """A test alert the agent asked for (verified for this connection; seq 0, never stored)."""

    def on_config(self, conversation_url: str) -> None:
        """The admin's settings for every app (signed ``config`` frame): where a click on an alert goes."""

    def on_cases(self, snapshot: Snapshot) -> None:
        """The bridge's signed snapshot of every open case (first start, and after a gap); events up to
        ``snapshot.head`` are already folded into it."""


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
        if code == 401:
            raise TokenRefused(TOKEN_REFUSED) from None
        if code == 403:
            raise TokenRevoked(TOKEN_REVOKED) from None
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
        self.skipped = 0  # genuine events that could not be derived, stored or shown
        self.connects = 0
        self._key = wire.key_from_text(config.key)
        self._delays = delays or (lambda: backoff(config.backoff_initial, config.backoff_max))  # per healthy run
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

    def _set(self, state: ConnectionState, detail: str, problem: Problem | None = None) -> None:
        new = self._status.follow(state, detail, problem=problem)
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
        """Connect, and reconnect, until cancelled (when: :class:`~trayapp.core.reconnect.ReconnectPolicy`)."""
        host = host_of(self.config.bridge_url)
        self._set(self._status.state, f"connecting to {host}")
        loop = asyncio.get_running_loop()
        policy = ReconnectPolicy(loop.time, healthy_after=self.config.healthy_after,
                                 refused_retry=self.config.refused_retry, delays=self._delays)
        while True:
            self._wake.clear()
            policy.attempt()
            self._healthy = False
            ending = Ending.LOST
            problem: Problem | None = None
            try:
                await self._session()
            except _Closed as closed:
                if closed.code is None:
                    detail = f"lost the connection to {host}"
                else:
                    detail = f"{host} closed the connection ({closed.code} {closed.reason})".replace(" )", ")")
                if closed.code == wire.CLOSE_REVOKED:
                    ending, problem, detail = Ending.REFUSED, Problem.REVOKED, TOKEN_REVOKED
                elif closed.code == wire.CLOSE_SLOW_CONSUMER:
                    ending = Ending.SLOW_CONSUMER
            except TokenRevoked:
                ending, problem, detail = Ending.REFUSED, Problem.REVOKED, TOKEN_REVOKED
            except TokenRefused:
                ending, problem, detail = Ending.REFUSED, Problem.TOKEN_REFUSED, TOKEN_REFUSED
            except KeyMismatch as exc:
                log.error("connection: %s", exc)
                ending, problem, detail = Ending.REFUSED, Problem.KEY_MISMATCH, KEY_MISMATCH
            except ConnectionFailed as exc:
                detail, problem = str(exc), Problem.UNREACHABLE
            except ClientError as exc:  # e.g. the history cannot be written (disk full)
                log.error("connection: %s", exc)
                ending, detail = Ending.FAILED, str(exc)
            except Exception:  # a bug: keep the app alive, say so, retry with backoff
                log.exception("connection: unexpected error")
                ending, detail = Ending.FAILED, "internal error in the connection (see the log)"
            delay = policy.ended(ending, healthy=self._healthy, woken=self._wake.is_set())
            if ending is Ending.SLOW_CONSUMER and delay == 0 and not self._wake.is_set():
                log.info("connection: closed as a slow consumer; resuming at once")
            if ending is Ending.REFUSED:
                self._set(ConnectionState.ERROR, detail, problem)
            elif ending is Ending.FAILED:
                self._set(ConnectionState.ERROR, f"{detail}; retrying in {delay:.0f} s", Problem.INTERNAL)
            elif self._wake.is_set() and self._status.state is ConnectionState.CONNECTED:
                self._set(ConnectionState.CONNECTING, f"reconnecting to {host}")  # asked for: not an outage
            else:
                when = f"retrying in {delay:.0f} s" if delay >= 1 else "reconnecting"
                self._set(ConnectionState.OFFLINE, f"{detail}; {when}", problem)
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)

    def _url(self, nonce: str) -> str:
        cursor = self.store.cursor()
        if cursor is None:
            return stream_url(self.config.bridge_url, nonce=nonce)
        return stream_url(self.config.bridge_url, since=cursor.seq, epoch=cursor.epoch or None, nonce=nonce)

    async def _session(self) -> None:
        host = host_of(self.config.bridge_url)
        nonce = wire.new_nonce()
        ws = await open_stream(self.config, self._url(nonce), self._ssl)
        self.connects += 1
        self._ws = ws
        try:
            await self._read(ws, host, nonce)
        except ConnectionClosed as exc:
            rcvd = exc.rcvd
            raise _Closed(rcvd.code if rcvd else None, rcvd.reason if rcvd else "") from None
        finally:
            self._ws = None
            await ws.close()
        raise _Closed(ws.close_code, ws.close_reason or "")

    async def _read(self, ws: ClientConnection, host: str, nonce: str) -> None:
        """Feed every frame to a :class:`~trayapp.core.stream.StreamSession` and carry out what it decides."""
        loop = asyncio.get_running_loop()
        opened = loop.time()
        session = StreamSession(self._key, nonce)
        replayed = 0
        async for text in ws:
            if not self._healthy and loop.time() - opened >= self.config.healthy_after:
                self._healthy = True
            decision = session.receive(text)
            if isinstance(decision, stream.Store):
                row = self._store(decision)
                if row is not None:
                    replayed += decision.replay
                    self._present(row, decision.replay)
            elif isinstance(decision, stream.Connected):
                hello = decision.hello
                self.epoch, self.head = hello.epoch, hello.head
                if self.store.cursor() is None:
                    # A first connection starts live; remember where, so a drop before the first event still
                    # resumes from here and loses nothing.
                    self.store.skip_to(hello.epoch, hello.head)
                self._set(ConnectionState.CONNECTED, f"connected to {host}; catching up")
            elif isinstance(decision, stream.Skip):
                self._skip(decision.event_id, decision.seq, decision.epoch, decision.reason)
            elif isinstance(decision, stream.Drop):
                self._drop(decision.reason)
            elif isinstance(decision, stream.Ignore):
                log.info("connection: ignoring %s", decision.reason)
            elif isinstance(decision, stream.CaughtUp):
                # Everything up to head was sent before this (stored, deduplicated, skipped or dropped and reported).
                self.store.skip_to(decision.epoch, decision.head)
                if decision.first:
                    self._healthy = True
                    self._set(ConnectionState.CONNECTED, f"connected to {host}")
                    self.listener.on_caught_up(replayed)
            elif isinstance(decision, stream.TestAlert):  # a test alert the agent asked for: shown, never stored
                log.info("connection: test alert %s arrived", decision.received.id)
                self.listener.on_test_alert(decision.received)
            elif isinstance(decision, stream.ConfigReceived):
                log.info("connection: the bridge's settings: conversation address %s", decision.conversation_url)
                self.listener.on_config(decision.conversation_url)
            elif isinstance(decision, stream.CasesReceived):
                snapshot = decision.snapshot
                log.info("connection: %d open cases at seq %d", len(snapshot.cases), snapshot.head)
                self.listener.on_cases(snapshot)
            elif isinstance(decision, stream.GapFound):
                gap = decision.gap
                log.warning("connection: gap %s..%s (%s)", gap.first, gap.last, gap.reason)
                self.listener.on_gap(gap)
                if gap.last is not None:
                    self.store.skip_to(decision.epoch, gap.last)
            else:
                await self._fail(ws, host, decision)

    async def _fail(self, ws: ClientConnection, host: str, fail: stream.Fail) -> None:
        if fail.dropped is not None:
            self._drop(fail.dropped)
        if fail.close is not None:
            await ws.close(*fail.close)
        if fail.failure is stream.Failure.KEY_MISMATCH:
            raise KeyMismatch(f"{host}: {fail.reason}")
        raise ConnectionFailed(f"{host} {fail.reason}")

    def _store(self, decision: stream.Store) -> HistoryRow | None:
        """Store one verified event; ``None`` when skipped or already stored."""
        received = decision.received
        try:
            return self.store.add(received, decision.epoch)
        except EventNotStored as exc:  # this event's content; a history that cannot be written raises on
            self._skip(received.id, received.seq, decision.epoch, str(exc))
            return None

    def _present(self, row: HistoryRow, replay: bool) -> None:
        try:
            self.listener.on_event(row, replay)
        except Exception as exc:  # stored (the cursor is past it), but it could not be shown
            log.exception("connection: presenting event %s failed", row.event.id)
            self._report_skip(row.event.id, f"it could not be shown: {type(exc).__name__}: {exc}")

    def _skip(self, event_id: str, seq: int, epoch: str, reason: str) -> None:
        self.store.skip_to(epoch, seq)
        self._report_skip(event_id, reason)

    def _report_skip(self, event_id: str, reason: str) -> None:
        self.skipped += 1
        log.warning("connection: skipped event %s (%d so far): %s", event_id, self.skipped, reason)
        self.listener.on_event_skipped(event_id, reason)

    def _drop(self, reason: str) -> None:
        self.failures += 1
        log.warning("connection: dropped a frame (%d so far): %s", self.failures, reason)
        self.listener.on_verification_failed(reason)


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
