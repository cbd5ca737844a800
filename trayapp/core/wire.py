"""Messages on the bridge → app WebSocket, protocol version 2 (``docs/protocol.md``), and their Ed25519 signatures.

Server → client text frames, each a JSON object with a ``type``; every one the client acts on is signed:

- ``hello``: ``{"type":"hello","protocol":2,"epoch":E,"head":H,"nonce":N,"sig":S}``, always first;
- ``caught_up``: ``{"type":"caught_up","head":H,"sig":S}`` after the backlog;
- ``gap``: ``{"type":"gap","from":A,"to":B,"reason":R,"sig":S}`` -- seqs that cannot be delivered;
- ``event``: ``{"type":"event","seq":N,"epoch":E,"id":I,"received_at":T,"event":{...},"body":B,"sig":S}``;
- ``config``: ``{"type":"config","conversation_url":T,"sig":S}`` after ``hello``, before ``caught_up``: where a
  click on an alert goes, as the admin set it (``serve --conversation-url``);
- ``test_alert``: ``{"type":"test_alert","id":I,"received_at":T,"body":B,"sig":S}`` -- a test alert the agent asked
  for (``POST /v1/test-alert``), only on that token's open streams, never stored (no ``seq``);
- ``cases``: ``{"type":"cases","snapshot":J,"sig":S}`` -- every open case (:class:`CasesFrame`, ``core.cases``),
  after ``config`` to a client that connects without ``since`` and after a ``gap`` (before ``caught_up``).

Signing inputs are UTF-8 lines joined by ``\\n``, ``None`` written ``null``: a context line, then the fields.
Control frames (:data:`CONTROL_FRAMES`) sign ``CONTEXT, nonce, epoch, *SIGNED`` (the nonce the client sent with
``/v1/stream``, empty without one; the epoch of the ``hello``), so none can be replayed into another connection;
event frames sign ``trayapp-event/2, epoch, seq, id, received_at, body``, so none can be replayed under another id.
A new control frame is a dataclass with ``TYPE``, ``CONTEXT``, ``FIELDS`` and ``SIGNED``, added to
:data:`CONTROL_FRAMES`: :func:`encode`, :func:`decode`, :func:`sign_control` and :func:`verify_control` then handle it.

Frames are UTF-8 JSON escaping only what JSON requires (``"``, ``\\``, controls); surrogates that are not part of a
pair are written as ``\\udxxx`` escapes. :func:`max_event_frame` bounds an event frame's size for a webhook body of
``max_body`` bytes; :data:`CLIENT_MAX_FRAME` is the app's frame limit, and the bridge refuses a ``--max-body`` whose
worst case would not fit (:func:`max_body_problem`).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, TypeVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from . import text
from .acquire import EventTable, parse_body
from .errors import BadMessage, BadPayload, BadSignature
from .event import Event, ReceivedEvent
from .jsonobj import load_object

PROTOCOL: Final = 2
KEY_PREFIX: Final = "ed25519:"
EVENT_CONTEXT: Final = "trayapp-event/2"
NONCE_RE: Final = re.compile(r"[A-Za-z0-9_-]{16,64}")

#: The largest frame the app accepts (its WebSocket ``max_size``), in bytes.
CLIENT_MAX_FRAME: Final = 4 * 1024 * 1024

# WebSocket close codes the bridge uses.
CLOSE_GOING_AWAY: Final = 1001
CLOSE_REVOKED: Final = 4001
CLOSE_SLOW_CONSUMER: Final = 4008


@dataclass(frozen=True, slots=True)
class _Field:
    attr: str
    key: str
    kind: type | tuple[type, ...]
    optional: bool = False


@dataclass(frozen=True, slots=True)
class Hello:
    TYPE: ClassVar[str] = "hello"
    CONTEXT: ClassVar[str] = "trayapp-hello/2"
    FIELDS: ClassVar[tuple[_Field, ...]] = (
        _Field("protocol", "protocol", int), _Field("epoch", "epoch", str), _Field("head", "head", int),
        _Field("nonce", "nonce", str),
    )
    SIGNED: ClassVar[tuple[str, ...]] = ("head",)

    epoch: str
    head: int
    nonce: str = ""
    sig: str = field(default="", compare=False)  # transport: two frames saying the same are equal
    protocol: int = PROTOCOL


@dataclass(frozen=True, slots=True)
class CaughtUp:
    TYPE: ClassVar[str] = "caught_up"
    CONTEXT: ClassVar[str] = "trayapp-caught-up/2"
    FIELDS: ClassVar[tuple[_Field, ...]] = (_Field("head", "head", int),)
    SIGNED: ClassVar[tuple[str, ...]] = ("head",)

    head: int
    sig: str = field(default="", compare=False)  # transport: two frames saying the same are equal


@dataclass(frozen=True, slots=True)
class Gap:
    """Events ``first``..``last`` (inclusive) cannot be delivered; both ``None`` for an epoch change."""

    TYPE: ClassVar[str] = "gap"
    CONTEXT: ClassVar[str] = "trayapp-gap/2"
    FIELDS: ClassVar[tuple[_Field, ...]] = (
        _Field("first", "from", int, True), _Field("last", "to", int, True), _Field("reason", "reason", str),
    )
    SIGNED: ClassVar[tuple[str, ...]] = ("first", "last", "reason")

    first: int | None
    last: int | None
    reason: str  # "retention" or "epoch"
    sig: str = field(default="", compare=False)  # transport: two frames saying the same are equal


@dataclass(frozen=True, slots=True)
class EventFrame:
    epoch: str
    seq: int
    id: str
    received_at: str
    event: dict[str, Any]
    body: str
    sig: str


@dataclass(frozen=True, slots=True)
class Config:
    """Where a click on an alert goes (``{case_id}``, ``{account}``), as the admin set it for every app."""

    TYPE: ClassVar[str] = "config"
    CONTEXT: ClassVar[str] = "trayapp-config/2"
    FIELDS: ClassVar[tuple[_Field, ...]] = (_Field("conversation_url", "conversation_url", str),)
    SIGNED: ClassVar[tuple[str, ...]] = ("conversation_url",)

    conversation_url: str
    sig: str = field(default="", compare=False)  # transport: two frames saying the same are equal


@dataclass(frozen=True, slots=True)
class CheckFrame:
    """A test alert (*Send me a test alert*): signed for one connection, with no seq, never stored."""

    TYPE: ClassVar[str] = "test_alert"
    CONTEXT: ClassVar[str] = "trayapp-test-alert/2"
    FIELDS: ClassVar[tuple[_Field, ...]] = (
        _Field("id", "id", str), _Field("received_at", "received_at", str), _Field("body", "body", str),
    )
    SIGNED: ClassVar[tuple[str, ...]] = ("id", "received_at", "body")

    id: str
    received_at: str
    body: str
    sig: str = field(default="", compare=False)  # transport: two frames saying the same are equal


@dataclass(frozen=True, slots=True)
class CasesFrame:
    """Every open case (``core.cases``): ``snapshot`` is JSON text, ``sig`` signs ``trayapp-cases/1`` LF snapshot
    (``core.cases.snapshot_input``) -- the same as ``GET /v1/cases`` answers, so it is not bound to a connection;
    the client checks that its epoch is the hello's and its head not older than the hello's."""

    TYPE: ClassVar[str] = "cases"

    snapshot: str
    sig: str = field(default="", compare=False)


ControlFrame = Hello | CaughtUp | Gap | Config | CheckFrame
C = TypeVar("C", bound=ControlFrame)
Message = Hello | CaughtUp | Gap | Config | CheckFrame | CasesFrame | EventFrame
#: Every signed control frame type, by its wire ``type``.
CONTROL_FRAMES: Final[dict[str, type[ControlFrame]]] = {
    cls.TYPE: cls for cls in (Hello, CaughtUp, Gap, Config, CheckFrame)}


# --- signing ---------------------------------------------------------------------------------------------------


def utf8(value: str) -> bytes:
    """UTF-8 of ``value`` as any JSON reader will see it: surrogate pairs joined, lone surrogates kept (the frame
    carries them as ``\\udxxx`` escapes), so both ends sign the same bytes."""
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:
        joined = value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
        return joined.encode("utf-8", "surrogatepass")


def _line(value: str | int | None) -> str:
    return "null" if value is None else str(value)


def _signing_input(context: str, *values: str | int | None) -> bytes:
    return utf8("\n".join([context, *map(_line, values)]))


def event_input(epoch: str, seq: int, event_id: str, received_at: str, body: str) -> bytes:
    """The bytes an event frame's ``sig`` covers."""
    return _signing_input(EVENT_CONTEXT, epoch, seq, event_id, received_at, body)


def control_input(message: ControlFrame, nonce: str, epoch: str) -> bytes:
    """The bytes a control frame's ``sig`` covers, for the connection with this ``nonce`` and ``epoch``."""
    return _signing_input(message.CONTEXT, nonce, epoch, *(getattr(message, name) for name in message.SIGNED))


def _sign(private_key: Ed25519PrivateKey, data: bytes) -> str:
    return base64.b64encode(private_key.sign(data)).decode("ascii")


def _verify(public_key: Ed25519PublicKey, sig: str, data: bytes) -> bool:
    try:
        public_key.verify(base64.b64decode(sig, validate=True), data)
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True


def sign_event(private_key: Ed25519PrivateKey, epoch: str, seq: int, event_id: str, received_at: str,
               body: str) -> str:
    return _sign(private_key, event_input(epoch, seq, event_id, received_at, body))


def sign_control(private_key: Ed25519PrivateKey, message: C, nonce: str, epoch: str) -> C:
    """``message`` with its ``sig`` (a ``hello`` also carries the nonce it answers)."""
    if isinstance(message, Hello):
        message = dataclasses.replace(message, nonce=nonce)
    return dataclasses.replace(message, sig=_sign(private_key, control_input(message, nonce, epoch)))


def verify_control(public_key: Ed25519PublicKey, message: ControlFrame, nonce: str, epoch: str) -> None:
    """Raise :class:`BadSignature` unless ``message`` was signed for this connection (our ``nonce``, its epoch)."""
    if not _verify(public_key, message.sig, control_input(message, nonce, epoch)):
        raise BadSignature(f"{message.TYPE} frame: signature does not verify with the pinned key for this connection")


def verify_hello(public_key: Ed25519PublicKey, hello: Hello, nonce: str) -> None:
    """:func:`verify_control` for the ``hello`` that answers ``nonce``: a wrong or stale key fails here, at once."""
    verify_control(public_key, hello, nonce, hello.epoch)


def new_nonce() -> str:
    """A fresh random nonce for one ``/v1/stream`` connection (32 URL-safe base64 characters)."""
    return secrets.token_urlsafe(24)


def check_nonce(value: str) -> str:
    """``value`` if it is a usable nonce (16-64 URL-safe base64 characters), else :class:`BadMessage`."""
    if not NONCE_RE.fullmatch(value):
        raise BadMessage("nonce must be 16 to 64 URL-safe base64 characters (A-Z, a-z, 0-9, '-', '_')")
    return value


def key_to_text(public_key: Ed25519PublicKey) -> str:
    """``ed25519:<standard padded base64 of the 32 raw bytes>``."""
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return KEY_PREFIX + base64.b64encode(raw).decode("ascii")


def key_from_text(value: str) -> Ed25519PublicKey:
    """Parse :func:`key_to_text` output; :class:`BadMessage` if it is not an Ed25519 public key."""
    if not isinstance(value, str) or not value.startswith(KEY_PREFIX):
        raise BadMessage("key must look like ed25519:<base64>")
    try:
        raw = base64.b64decode(value[len(KEY_PREFIX) :], validate=True)
        if len(raw) != 32:
            raise ValueError("an Ed25519 public key is 32 bytes")
        return Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, binascii.Error) as exc:
        raise BadMessage(f"key is not an Ed25519 public key: {exc}") from None


# --- encoding --------------------------------------------------------------------------------------------------

_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def _escape_surrogate(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def dumps(data: Any) -> str:
    """Compact JSON that escapes only what JSON requires, and surrogates (so the text is always valid UTF-8).

    A surrogate can only stand inside a string literal of the output, so writing it as its ``\\u`` escape keeps the
    JSON valid and its meaning the same."""
    out = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    if not out.isascii():
        try:
            out.encode("utf-8")
        except UnicodeEncodeError:
            out = _SURROGATE.sub(_escape_surrogate, out)
    return out


def encode(message: Message) -> str:
    """Compact JSON text for one frame."""
    if isinstance(message, EventFrame):
        return dumps({"type": "event", "seq": message.seq, "epoch": message.epoch, "id": message.id,
                      "received_at": message.received_at, "event": message.event, "body": message.body,
                      "sig": message.sig})
    if isinstance(message, CasesFrame):
        return dumps({"type": message.TYPE, "snapshot": message.snapshot, "sig": message.sig})
    data: dict[str, Any] = {"type": message.TYPE}
    for spec in message.FIELDS:
        data[spec.key] = getattr(message, spec.attr)
    data["sig"] = message.sig
    return dumps(data)


def _value(data: dict[str, Any], name: str, kind: type | tuple[type, ...], optional: bool = False) -> Any:
    value = data.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise BadMessage(f"{data.get('type')} frame: field {name!r} missing or of the wrong type")
    return value


def decode(frame: str | bytes) -> Message:
    """Parse one frame; :class:`BadMessage` for anything that is not a known, well-formed frame.

    A missing ``sig`` decodes as ``""`` (it then fails verification), so an old bridge's ``hello`` still decodes
    and its ``protocol`` can be reported."""
    data = load_object(frame, BadMessage, "frame")
    kind = data.get("type")
    sig = data.get("sig", "")
    if not isinstance(sig, str):
        raise BadMessage(f"{kind} frame: field 'sig' is not a string")
    if kind == "event":
        seq = _value(data, "seq", int)
        if seq < 1:
            raise BadMessage("event frame: seq must be positive")
        return EventFrame(
            epoch=_value(data, "epoch", str),
            seq=seq,
            id=_value(data, "id", str),
            received_at=_value(data, "received_at", str),
            event=_value(data, "event", dict),
            body=_value(data, "body", str),
            sig=sig,
        )
    if kind == CasesFrame.TYPE:
        return CasesFrame(snapshot=_value(data, "snapshot", str), sig=sig)
    cls = CONTROL_FRAMES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise BadMessage(f"unknown frame type {kind!r}")
    if cls is Hello and "nonce" not in data:
        data["nonce"] = ""  # a version-1 bridge: decodes, then fails the protocol check
    values = {spec.attr: _value(data, spec.key, spec.kind, spec.optional) for spec in cls.FIELDS}
    return cls(**values, sig=sig)


def verify_frame(public_key: Ed25519PublicKey, frame: EventFrame, table: EventTable | None = None,
                 epoch: str | None = None) -> ReceivedEvent:
    """Check ``sig`` with the pinned key (and, when given, that the frame belongs to ``epoch``), then derive the
    event from the *signed* body. The unsigned ``event`` field is never trusted.

    Raises :class:`BadSignature` when the frame is not genuine, :class:`BadPayload` when it is genuine but its body
    is no Acquire payload (the event cannot be derived).
    """
    if epoch is not None and frame.epoch != epoch:
        raise BadSignature(f"event {frame.seq}: belongs to epoch {frame.epoch!r}, not this stream's")
    if not _verify(public_key, frame.sig, event_input(frame.epoch, frame.seq, frame.id, frame.received_at,
                                                      frame.body)):
        raise BadSignature(f"event {frame.seq}: signature does not verify with the pinned key")
    try:
        event: Event = parse_body(frame.body, table)
    except BadPayload as exc:
        raise BadPayload(f"event {frame.seq}: signed body is not an Acquire payload ({exc})") from None
    return ReceivedEvent(seq=frame.seq, id=frame.id, received_at=frame.received_at, body=frame.body, event=event)


def verify_check(public_key: Ed25519PublicKey, frame: CheckFrame, nonce: str, epoch: str) -> ReceivedEvent:
    """Check a test alert's ``sig`` for this connection; its event (seq 0) is derived from the signed body.
    Raises :class:`BadSignature`."""
    verify_control(public_key, frame, nonce, epoch)
    try:
        event: Event = parse_body(frame.body)
    except BadPayload as exc:
        raise BadSignature(f"test alert: signed body is not a payload ({exc})") from None
    return ReceivedEvent(seq=0, id=frame.id, received_at=frame.received_at, body=frame.body, event=event)


# --- sizes -----------------------------------------------------------------------------------------------------

# Everything of an event frame but its body and its event's text fields: keys, punctuation, an epoch and id of up
# to 64 characters, a 20-digit seq, the timestamp, the signature. Generous on purpose.
_FRAME_OVERHEAD: Final = 1024
# A text field of the event: its key, quotes, separators, and per character at most 4 bytes once made safe
# (4-byte UTF-8, or a 2-byte escape of tab/newline/quote/backslash).
_EVENT_TEXT_BYTES: Final = sum(len(name) + 8 + 4 * cap for name, cap in text.CAPS.items())


def max_event_frame(max_body: int) -> int:
    """The largest event frame a webhook body of at most ``max_body`` bytes can become.

    The body is valid JSON text, so the only characters JSON must escape in it are ``"``, ``\\`` and the
    whitespace controls tab/LF/CR: each one byte that becomes two. (A surrogate, were one there, is 3 bytes written
    as a 6-byte escape: also at most twice.) So the body costs at most ``2 * max_body`` bytes in the frame."""
    return 2 * max_body + _EVENT_TEXT_BYTES + _FRAME_OVERHEAD


def max_body_problem(max_body: int) -> str | None:
    """Why a bridge must not accept webhooks of ``max_body`` bytes (their frames could exceed the app's limit)."""
    worst = max_event_frame(max_body)
    if worst <= CLIENT_MAX_FRAME:
        return None
    largest = (CLIENT_MAX_FRAME - _EVENT_TEXT_BYTES - _FRAME_OVERHEAD) // 2
    return (f"--max-body {max_body} is too large: a webhook of that size can become an event frame of {worst} bytes, "
            f"over the apps' frame limit of {CLIENT_MAX_FRAME} bytes (4 MiB); use --max-body {largest} or less")
