"""Messages on the bridge → app WebSocket (``docs/protocol.md``), and their Ed25519 signatures.

Server → client text frames, each a JSON object with a ``type``:

- ``hello``: ``{"type":"hello","protocol":1,"epoch":E,"head":H}``, always first;
- ``caught_up``: ``{"type":"caught_up","head":H}`` after the backlog;
- ``gap``: ``{"type":"gap","from":A,"to":B,"reason":R}`` — seqs that cannot be delivered;
- ``event``: ``{"type":"event","seq":N,"id":I,"received_at":T,"event":{...},"body":B,"sig":S}``;
- ``test_alert``: ``{"type":"test_alert","id":I,"received_at":T,"body":B,"sig":S}`` — a test alert the agent asked
  for (``POST /v1/test-alert``), sent only to that token's open streams, never stored (no ``seq``);
  ``sig`` covers :func:`check_signing_input` ``(id, received_at, body)``.

``sig`` is the base64 Ed25519 signature of :func:`signing_input` ``(seq, received_at, body)``.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .acquire import EventTable, parse_body
from .errors import BadMessage, BadPayload, BadSignature
from .event import Event, ReceivedEvent

PROTOCOL: Final = 1
KEY_PREFIX: Final = "ed25519:"
SIGNING_CONTEXT: Final = "trayapp-event/1\n"
CHECK_CONTEXT: Final = "trayapp-test-alert/1\n"

# WebSocket close codes the bridge uses.
CLOSE_GOING_AWAY: Final = 1001
CLOSE_REVOKED: Final = 4001
CLOSE_SLOW_CONSUMER: Final = 4008


@dataclass(frozen=True, slots=True)
class Hello:
    epoch: str
    head: int
    protocol: int = PROTOCOL


@dataclass(frozen=True, slots=True)
class CaughtUp:
    head: int


@dataclass(frozen=True, slots=True)
class Gap:
    """Events ``first``..``last`` (inclusive) cannot be delivered; both ``None`` for an epoch change."""

    first: int | None
    last: int | None
    reason: str  # "retention" or "epoch"


@dataclass(frozen=True, slots=True)
class EventFrame:
    seq: int
    id: str
    received_at: str
    event: dict[str, Any]
    body: str
    sig: str


@dataclass(frozen=True, slots=True)
class CheckFrame:
    """A test alert (``type: test_alert``): signed like an event, but with no seq and never stored."""

    id: str
    received_at: str
    body: str
    sig: str


Message = Hello | CaughtUp | Gap | EventFrame | CheckFrame


def signing_input(seq: int, received_at: str, body: str) -> bytes:
    """The bytes an event's ``sig`` covers."""
    return (SIGNING_CONTEXT + str(seq) + "\n" + received_at + "\n" + body).encode("utf-8", "surrogatepass")


def sign(private_key: Ed25519PrivateKey, seq: int, received_at: str, body: str) -> str:
    return base64.b64encode(private_key.sign(signing_input(seq, received_at, body))).decode("ascii")


def check_signing_input(id_: str, received_at: str, body: str) -> bytes:
    """The bytes a test alert's ``sig`` covers."""
    return (CHECK_CONTEXT + id_ + "\n" + received_at + "\n" + body).encode("utf-8", "surrogatepass")


def sign_check(private_key: Ed25519PrivateKey, id_: str, received_at: str, body: str) -> str:
    return base64.b64encode(private_key.sign(check_signing_input(id_, received_at, body))).decode("ascii")


def key_to_text(public_key: Ed25519PublicKey) -> str:
    """``ed25519:<standard padded base64 of the 32 raw bytes>``."""
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return KEY_PREFIX + base64.b64encode(raw).decode("ascii")


def key_from_text(text: str) -> Ed25519PublicKey:
    """Parse :func:`key_to_text` output; :class:`BadMessage` if it is not an Ed25519 public key."""
    if not isinstance(text, str) or not text.startswith(KEY_PREFIX):
        raise BadMessage("key must look like ed25519:<base64>")
    try:
        raw = base64.b64decode(text[len(KEY_PREFIX) :], validate=True)
        if len(raw) != 32:
            raise ValueError("an Ed25519 public key is 32 bytes")
        return Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, binascii.Error) as exc:
        raise BadMessage(f"key is not an Ed25519 public key: {exc}") from None


def encode(message: Message) -> str:
    """Compact JSON text for one frame."""
    data: dict[str, Any]
    if isinstance(message, Hello):
        data = {"type": "hello", "protocol": message.protocol, "epoch": message.epoch, "head": message.head}
    elif isinstance(message, CaughtUp):
        data = {"type": "caught_up", "head": message.head}
    elif isinstance(message, Gap):
        data = {"type": "gap", "from": message.first, "to": message.last, "reason": message.reason}
    elif isinstance(message, CheckFrame):
        data = {"type": "test_alert", "id": message.id, "received_at": message.received_at, "body": message.body,
                "sig": message.sig}
    else:
        data = {
            "type": "event",
            "seq": message.seq,
            "id": message.id,
            "received_at": message.received_at,
            "event": message.event,
            "body": message.body,
            "sig": message.sig,
        }
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _field(data: dict[str, Any], name: str, kind: type | tuple[type, ...], optional: bool = False) -> Any:
    value = data.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise BadMessage(f"{data.get('type')} frame: field {name!r} missing or of the wrong type")
    return value


def decode(text: str | bytes) -> Message:
    """Parse one frame; :class:`BadMessage` for anything that is not a known, well-formed frame."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise BadMessage("frame is not JSON") from None
    if not isinstance(data, dict):
        raise BadMessage("frame is not a JSON object")
    kind = data.get("type")
    if kind == "hello":
        return Hello(
            epoch=_field(data, "epoch", str), head=_field(data, "head", int), protocol=_field(data, "protocol", int)
        )
    if kind == "caught_up":
        return CaughtUp(head=_field(data, "head", int))
    if kind == "gap":
        return Gap(
            first=_field(data, "from", int, optional=True),
            last=_field(data, "to", int, optional=True),
            reason=_field(data, "reason", str),
        )
    if kind == "event":
        seq = _field(data, "seq", int)
        if seq < 1:
            raise BadMessage("event frame: seq must be positive")
        return EventFrame(
            seq=seq,
            id=_field(data, "id", str),
            received_at=_field(data, "received_at", str),
            event=_field(data, "event", dict),
            body=_field(data, "body", str),
            sig=_field(data, "sig", str),
        )
    if kind == "test_alert":
        return CheckFrame(id=_field(data, "id", str), received_at=_field(data, "received_at", str),
                          body=_field(data, "body", str), sig=_field(data, "sig", str))
    raise BadMessage(f"unknown frame type {kind!r}")


def verify_frame(public_key: Ed25519PublicKey, frame: EventFrame, table: EventTable | None = None) -> ReceivedEvent:
    """Check ``sig`` with the pinned key and derive the event from the *signed* body.

    The unsigned ``event`` field is never trusted. Raises :class:`BadSignature`.
    """
    try:
        raw = base64.b64decode(frame.sig, validate=True)
        public_key.verify(raw, signing_input(frame.seq, frame.received_at, frame.body))
    except (InvalidSignature, ValueError, binascii.Error):
        raise BadSignature(f"event {frame.seq}: signature does not verify with the pinned key") from None
    try:
        event: Event = parse_body(frame.body, table)
    except BadPayload as exc:
        raise BadSignature(f"event {frame.seq}: signed body is not an Acquire payload ({exc})") from None
    return ReceivedEvent(seq=frame.seq, id=frame.id, received_at=frame.received_at, body=frame.body, event=event)


def verify_check(public_key: Ed25519PublicKey, frame: CheckFrame) -> ReceivedEvent:
    """Check a test alert's ``sig`` with the pinned key; its event (seq 0) is derived from the signed body.
    Raises :class:`BadSignature`."""
    try:
        public_key.verify(base64.b64decode(frame.sig, validate=True),
                          check_signing_input(frame.id, frame.received_at, frame.body))
    except (InvalidSignature, ValueError, binascii.Error):
        raise BadSignature("test alert: signature does not verify with the pinned key") from None
    try:
        event: Event = parse_body(frame.body)
    except BadPayload as exc:
        raise BadSignature(f"test alert: signed body is not a payload ({exc})") from None
    return ReceivedEvent(seq=0, id=frame.id, received_at=frame.received_at, body=frame.body, event=event)
