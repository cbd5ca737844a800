"""The client's side of one ``/v1/stream`` connection, without I/O: feed it frames, carry out what it decides.

Like websockets' ``protocol.py``: :class:`StreamSession` holds no socket and no clock. The caller opens the socket
with a fresh nonce (:func:`trayapp.core.wire.new_nonce`), hands every received text frame to
:meth:`StreamSession.receive` and carries out the returned decision: store an event, skip or drop one, report the end
of the replay or a gap, or close the connection. The rules (docs/protocol.md):

- the first frame is a ``hello`` of :data:`~trayapp.core.wire.PROTOCOL`, signed for this connection's nonce by the
  pinned key; anything else ends the connection (:class:`Fail`: not a bridge, another protocol, a wrong key, another
  connection's hello);
- event frames verify under the hello's epoch (:class:`Store`); a frame whose signature fails, a malformed frame or a
  second hello is dropped (:class:`Drop`) and the stream goes on; a genuine frame whose event cannot be derived is
  skipped (:class:`Skip`: the cursor moves past it); a frame of an unknown type is ignored (a newer bridge);
- ``caught_up``, ``gap`` and ``config`` verify over nonce and epoch, else the connection ends (a forged control frame
  is never acted on); the first ``caught_up`` ends the replay (:class:`CaughtUp` with ``first=True``); ``config`` is
  the bridge's settings (:class:`ConfigReceived`);
- a ``cases`` frame (every open case) verifies with the pinned key over ``trayapp-cases/1`` + its snapshot, and the
  snapshot must be of the hello's epoch and not older than its head (:class:`CasesReceived`); else, like a forged
  control frame, the connection ends;
- a ``test_alert`` (the agent asked for one) verifies over nonce and epoch and is shown, never stored
  (:class:`TestAlert`); one that does not verify is dropped.

Used by the desktop client's connection (``trayapp.client.connection``), and through it ``trayapp listen``, and by
the link check (``trayapp.client.connect``).

The bridge's side of the replay is planned here too, without I/O: :func:`resume_point` (where a connection's replay
starts, and whether the client's cursor belongs to another epoch) and :class:`ReplayPlan` (for each page of stored
seqs: which rows to send and which ``gap`` frames go before them), carried out by ``trayapp.bridge.stream``.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from . import cases, wire
from .errors import BadMessage, BadSignature
from .event import ReceivedEvent

_KNOWN_TYPES: Final = frozenset({"hello", "caught_up", "gap", "event", "config", "test_alert", "cases"})


class Failure(enum.Enum):
    """Why a connection must end."""

    NOT_A_BRIDGE = "not_a_bridge"  # the first frame is no hello
    PROTOCOL = "protocol"  # a hello of another protocol version
    OTHER_NONCE = "other_nonce"  # a hello signed for another connection
    KEY_MISMATCH = "key_mismatch"  # a hello that does not verify with the pinned key
    FORGED_CONTROL = "forged_control"  # a caught_up / gap that does not verify


@dataclass(frozen=True, slots=True)
class Connected:
    """The hello verified: the stream is the bridge's (``hello.epoch``, ``hello.head``); the replay begins."""

    hello: wire.Hello


@dataclass(frozen=True, slots=True)
class Store:
    """A verified event: store it (and present it); ``replay`` while the backlog is being replayed."""

    received: ReceivedEvent
    epoch: str
    replay: bool


@dataclass(frozen=True, slots=True)
class Skip:
    """A genuine event whose content cannot be read: move the cursor past ``seq`` and report it."""

    event_id: str
    seq: int
    epoch: str
    reason: str


@dataclass(frozen=True, slots=True)
class Drop:
    """A frame that is not to be trusted (bad signature, malformed, out of place): report it, go on."""

    reason: str


@dataclass(frozen=True, slots=True)
class Ignore:
    """A frame of a type this version does not know (a newer bridge): nothing to do."""

    reason: str


@dataclass(frozen=True, slots=True)
class CaughtUp:
    """Everything up to ``head`` was sent: move the cursor there. ``first``: the replay ended just now."""

    head: int
    epoch: str
    first: bool


@dataclass(frozen=True, slots=True)
class GapFound:
    """Events the bridge no longer has; ``gap.last`` (when set) is where the cursor may move."""

    gap: wire.Gap
    epoch: str


@dataclass(frozen=True, slots=True)
class ConfigReceived:
    """The bridge's settings for its agents (``conversation_url``: the conversation address template, or empty)."""

    conversation_url: str


@dataclass(frozen=True, slots=True)
class CasesReceived:
    """The bridge's signed snapshot of every open case; events up to ``snapshot.head`` are already in it."""

    snapshot: cases.Snapshot


@dataclass(frozen=True, slots=True)
class TestAlert:
    """A test alert the agent asked for: show it (seq 0), never store it."""

    __test__ = False  # not a pytest test class

    received: ReceivedEvent


@dataclass(frozen=True, slots=True)
class Fail:
    """End the connection: ``close`` is the WebSocket close (code, reason) to send (``None``: just drop it)."""

    failure: Failure
    reason: str
    close: tuple[int, str] | None = None
    dropped: str | None = None  # also report this frame as dropped


Decision = (Connected | Store | Skip | Drop | Ignore | CaughtUp | GapFound | ConfigReceived | CasesReceived | TestAlert
            | Fail)


def frame_type(text: str | bytes) -> object:
    """The ``type`` of a frame that is a JSON object, else ``None``."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return data.get("type", None) if isinstance(data, dict) else None


class StreamSession:
    """One connection's state: ``nonce`` (sent with ``/v1/stream``), the pinned ``key``, the hello once it came."""

    def __init__(self, key: Ed25519PublicKey, nonce: str) -> None:
        self.key = key
        self.nonce = nonce
        self.hello: wire.Hello | None = None
        self.replaying = True

    def receive(self, text: str | bytes) -> Decision:
        try:
            message = wire.decode(text)
        except BadMessage as exc:
            if frame_type(text) not in _KNOWN_TYPES:
                return Ignore("a frame of an unknown type (a newer bridge?)")
            return Drop(f"malformed frame from the bridge: {exc}")
        if self.hello is None:
            return self._hello(message)
        epoch = self.hello.epoch
        if isinstance(message, wire.EventFrame):
            return self._event(message, epoch)
        if isinstance(message, wire.Hello):
            return Drop("unexpected hello in the middle of the stream")
        if isinstance(message, wire.CheckFrame):
            try:
                return TestAlert(wire.verify_check(self.key, message, self.nonce, epoch))
            except BadSignature as exc:
                return Drop(str(exc))
        if isinstance(message, wire.CasesFrame):
            return self._cases(message)
        try:
            wire.verify_control(self.key, message, self.nonce, epoch)
        except BadSignature as exc:
            return Fail(Failure.FORGED_CONTROL, f"sent a {message.TYPE} frame that does not verify", dropped=str(exc))
        if isinstance(message, wire.CaughtUp):
            first, self.replaying = self.replaying, False
            return CaughtUp(message.head, epoch, first)
        if isinstance(message, wire.Config):
            return ConfigReceived(message.conversation_url)
        return GapFound(message, epoch)

    def _cases(self, message: wire.CasesFrame) -> Decision:
        """A snapshot is signed once for everyone (not for this nonce): it must also be of this hello's epoch and
        not older than it, so a recorded one cannot be played into a later connection."""
        assert self.hello is not None
        try:
            snapshot = cases.verify_snapshot(self.key, message.snapshot, message.sig)
            if snapshot.epoch != self.hello.epoch or snapshot.head < self.hello.head:
                raise BadSignature(f"cases frame: a snapshot of epoch {snapshot.epoch!r} at head {snapshot.head}, "
                                   f"not of this connection (head {self.hello.head})")
        except (BadSignature, BadMessage) as exc:
            return Fail(Failure.FORGED_CONTROL, "sent a cases frame that does not verify", dropped=str(exc))
        return CasesReceived(snapshot)

    def _hello(self, message: wire.Message) -> Decision:
        if not isinstance(message, wire.Hello):
            return Fail(Failure.NOT_A_BRIDGE, "did not start with hello: not a trayapp bridge?")
        if message.protocol != wire.PROTOCOL:
            return Fail(Failure.PROTOCOL, f"speaks stream protocol {message.protocol}; this app speaks "
                                          f"{wire.PROTOCOL}: update", close=(1002, "unsupported protocol"))
        try:
            wire.verify_hello(self.key, message, self.nonce)
        except BadSignature:
            if message.nonce != self.nonce:
                return Fail(Failure.OTHER_NONCE, "answered with another connection's hello",
                            close=(1008, "hello does not verify"))
            return Fail(Failure.KEY_MISMATCH, "the signed hello does not verify with the link's key",
                        close=(1008, "hello does not verify"))
        self.hello = message
        return Connected(message)

    def _event(self, frame: wire.EventFrame, epoch: str) -> Decision:
        try:
            received = wire.verify_frame(self.key, frame, epoch=epoch)
        except BadSignature as exc:
            return Drop(str(exc))
        except Exception as exc:  # genuine, but no event can be derived (BadPayload, or a parser bug)
            return Skip(frame.id, frame.seq, epoch, f"its event cannot be read: {type(exc).__name__}: {exc}")
        return Store(received, epoch, self.replaying)


# --- the bridge's side: planning a replay ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Resume:
    """Where a connection's stream starts: after seq ``after``; ``replay``: send the stored events after it first;
    ``epoch_gap``: the client's cursor is of another epoch (or ahead of the head): say so, replay from the start."""

    after: int
    replay: bool
    epoch_gap: bool = False


def resume_point(since: int | None, client_epoch: str | None, epoch: str, head: int) -> Resume:
    """``since``/``client_epoch`` as the client sent them (``since=None``: start live, at ``head``)."""
    if since is None:
        return Resume(head, replay=False)
    if (client_epoch is not None and client_epoch != epoch) or since > head:
        return Resume(0, replay=True, epoch_gap=True)
    return Resume(since, replay=True)


@dataclass(frozen=True, slots=True)
class Missing:
    """Seqs ``first``..``last`` are gone (retention): a ``gap`` frame."""

    first: int
    last: int


class ReplayPlan:
    """One replay of stored events after ``after`` (up to ``until``, else to the end), page by page.

    Read the head, then a page of stored seqs (ascending, all after :attr:`last`); :meth:`page` says what to send, in
    order: a :class:`Missing` before a row whose predecessors are gone, and each row's seq (the caller still passes
    over rows outside a token's scope). Repeat while not :attr:`done`; then :meth:`finish` with the head read before
    the last page: the events up to it that no page had are gone too.
    """

    def __init__(self, after: int, until: int | None = None) -> None:
        self.last = after
        self.until = until
        self.done = False

    def page(self, seqs: Sequence[int]) -> list[int | Missing]:
        kept = [seq for seq in seqs if self.until is None or seq <= self.until]
        out: list[int | Missing] = []
        for seq in kept:
            if seq > self.last + 1:
                out.append(Missing(self.last + 1, seq - 1))
            out.append(seq)
            self.last = seq
        if not kept or (self.until is not None and self.last >= self.until):
            self.done = True
        return out

    def finish(self, known: int) -> Missing | None:
        """The gap up to ``known`` (the head read before the last page), if any; :attr:`last` is then ``known``."""
        if known <= self.last:
            return None
        missing = Missing(self.last + 1, known)
        self.last = known
        return missing
