"""The storage interface of the bridge: everything the HTTP and WebSocket code needs from a backend.

The SQLite backend (:mod:`trayapp.bridge.store_sqlite`) is the embedded default; the Redis Streams backend
(:mod:`trayapp.bridge.store_redis`, ``--redis-url``) implements the same :class:`Store` methods, and
:func:`trayapp.bridge.store_factory.make_store` picks one. The HTTP / WebSocket code only ever sees this module.

Contract (every backend):

- ``append(item)`` stores one verified webhook and answers only once it is **durable**. It assigns the next gap-free
  ``seq`` (1, 2, 3, ... never reused while the ``epoch`` lives), stores the dedupe key in the same atomic step, and
  builds the signed wire frame with the :class:`FrameBuilder` it was given (the frame text is stored, so replay and
  fan-out send pre-encoded strings). A delivery whose dedupe key was accepted within ``dedupe_window`` seconds (the
  retention: ``make_store(dedupe_window=...)``; a key lives as long as the events are kept) answers the
  original ``seq`` with ``duplicate=True`` and stores nothing.
- after every durable append the store calls its listeners (``add_listener``) **in the event loop**, with the new
  events in ``seq`` order. A multi-process backend calls them for events appended by any process. The stream hub
  is such a listener. Listeners may be called **after** ``append`` returned (Redis: the fan-out task reads the
  stream back, so a webhook's 200 can precede its fan-out in this very process), and a listener must not assume it
  sees an event before a ``read`` can return it: the hub subscribes first and skips what it already sent.
- the :class:`FrameBuilder` is not only called inside ``append``: a backend may call it again later, for the same
  ``(seq, item)``, in **every** process (Redis stores the event's parts and builds the frame when a process first
  reads or fans it out). It must therefore be deterministic and side-effect free -- Ed25519 signatures are
  deterministic, and the frame id is ``<epoch>-<seq>``, so every process builds byte-identical frames.
- every appended item's ``case`` update is folded into its case's state (``core.cases.merge``) in the same atomic
  step that stores the event; ``open_cases()`` reads the open ones together with the head they reflect.
- ``read(since, limit, max_bytes)`` returns retained events with ``seq > since`` in order (bounded by count and,
  optionally, bytes); ``bounds()`` gives the first retained seq and the head (the last seq ever assigned, 0 for none).
- tokens are stored as SHA-256 hashes only; ``token_generation()`` changes whenever a token is revoked (by any
  process), so open streams can re-check their token cheaply.
- the Ed25519 signing key belongs to the store (a file in the SQLite data dir, a key in Redis), so every process
  behind one store signs with the same key.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from trayapp.core.cases import CaseState, CaseUpdate

DEFAULT_DEDUPE_WINDOW_S = 7 * 86400.0  # = the default --retention-days


@dataclass(frozen=True, slots=True)
class NewEvent:
    """A verified webhook ready to be stored.

    ``id`` may stay empty: the frame builder then uses ``<epoch>-<seq>`` (unique for the life of the store).
    ``body`` is the exact webhook body (text); ``event`` the normalised event as a JSON-able dict;
    ``dedupe_key`` the hex SHA-256 of the canonical body; ``received_at`` RFC 3339 UTC with milliseconds;
    ``received_ts`` the same instant as a POSIX timestamp (retention and dedupe window); ``case`` what the event says
    about its case (``core.cases.update_of``; ``None``: not a case event), folded into the case's state in the
    transaction that stores the event.
    """

    body: str
    event: dict[str, Any]
    dedupe_key: str
    received_at: str
    received_ts: float
    id: str = ""
    case: CaseUpdate | None = None


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One retained event: its place in the stream and its pre-encoded, signed wire frame."""

    seq: int
    received_ts: float
    frame: str


@dataclass(frozen=True, slots=True)
class AppendResult:
    seq: int
    duplicate: bool


@dataclass(frozen=True, slots=True)
class Bounds:
    """``first``: the oldest retained seq (``head + 1`` when nothing is retained); ``head``: the last seq assigned."""

    first: int
    head: int


@dataclass(frozen=True, slots=True)
class OpenCases:
    """Every case that is not closed, oldest ``status_since`` first (``core.cases.order_key``), and ``head``: the
    last seq folded into them (read in one consistent step with them)."""

    head: int
    cases: list[CaseState]


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """``departments``: the token reads only these departments' events and unassigned ones (empty: all)."""

    name: str
    created_at: str
    revoked_at: str | None
    departments: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return self.revoked_at is None


# (seq, item) -> the encoded, signed event frame (``wire.encode(EventFrame(...))``)
FrameBuilder = Callable[[int, NewEvent], str]
Listener = Callable[[Sequence[StoredEvent]], None]


class Store(abc.ABC):
    """A bridge backend. Create it, ``await open()``, use it from one event loop, ``await close()``."""

    def __init__(self, dedupe_window: float = DEFAULT_DEDUPE_WINDOW_S) -> None:
        self._listeners: list[Listener] = []
        self.dedupe_window = dedupe_window

    # -- lifecycle -------------------------------------------------------------------------------
    @abc.abstractmethod
    async def open(self, frame_builder: FrameBuilder | None = None) -> None:
        """Connect / create. ``frame_builder`` is required to ``append`` (token commands do without)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Finish pending appends, release everything. Idempotent."""

    @property
    @abc.abstractmethod
    def epoch(self) -> str:
        """A random id of this store; changes only when the store is recreated."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise :class:`~trayapp.bridge.errors.StoreUnavailable` unless the store answers (``/readyz``)."""

    # -- events ----------------------------------------------------------------------------------
    @abc.abstractmethod
    async def append(self, item: NewEvent) -> AppendResult:
        """Store durably (or find the duplicate); see the module docstring."""

    @abc.abstractmethod
    async def read(self, since: int, limit: int, max_bytes: int | None = None) -> list[StoredEvent]:
        """Retained events with ``seq > since``, ascending, at most ``limit``, and with ``max_bytes`` no more
        frames once their text reaches that many characters (at least one)."""

    @abc.abstractmethod
    async def bounds(self) -> Bounds: ...

    @abc.abstractmethod
    async def prune(self, older_than_ts: float) -> int:
        """Drop events received before ``older_than_ts``, expired dedupe keys and the state of cases closed before
        then (open cases keep theirs, however old their events); the number of events dropped."""

    @abc.abstractmethod
    async def open_cases(self) -> OpenCases:
        """The state of every case that is not closed (see :class:`OpenCases`)."""

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _notify(self, events: Sequence[StoredEvent]) -> None:
        """Call every listener (in the loop thread) with newly appended events."""
        for listener in list(self._listeners):
            listener(events)

    # -- tokens ----------------------------------------------------------------------------------
    @abc.abstractmethod
    async def add_token(self, name: str, token_hash: str, departments: tuple[str, ...] = ()) -> None:
        """Raise :class:`~trayapp.bridge.errors.BadRequest` if an active token of that name exists."""

    @abc.abstractmethod
    async def list_tokens(self) -> list[TokenInfo]: ...

    @abc.abstractmethod
    async def revoke_token(self, name: str) -> bool:
        """Revoke every active token called ``name``; False if there was none."""

    @abc.abstractmethod
    async def lookup_token(self, token_hash: str) -> TokenInfo | None: ...

    @abc.abstractmethod
    async def token_generation(self) -> int:
        """A number that changes whenever a token is revoked (by any process)."""

    # -- signing key -----------------------------------------------------------------------------
    @abc.abstractmethod
    async def signing_key(self) -> Ed25519PrivateKey:
        """The bridge's Ed25519 key, created on first use."""


def within_bytes(rows: Iterable[StoredEvent], max_bytes: int | None) -> list[StoredEvent]:
    """The leading ``rows`` up to and including the one whose frames reach ``max_bytes`` (all without a bound)."""
    out: list[StoredEvent] = []
    size = 0
    for row in rows:
        out.append(row)
        size += len(row.frame)
        if max_bytes is not None and size >= max_bytes:
            break
    return out
