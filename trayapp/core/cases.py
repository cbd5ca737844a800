"""The state of every case, folded from its events, and the signed snapshot of the open ones. Pure: no I/O.

The bridge folds each stored event into its case **in the same transaction** that stores the event (SQLite: in the
writer's batch; Redis: inside the append script, which carries out :func:`merge` in Lua, the same rule). Here:

- :func:`update_of` -- what one event says about its case (:class:`CaseUpdate`), from the signed payload and its
  normalised event; ``None`` for events that are not about a case (agent status, unknown events, no case id).
- :func:`merge` -- the case state after that update (:class:`CaseState`).
- :func:`snapshot_text` / :func:`snapshot_input` / :func:`parse_snapshot` -- the snapshot of every case that is
  not closed, its signing input (``"trayapp-cases/1\\n" + snapshot``) and its parsing on the client side.

**Which status, since when.** ``case.new`` is ``pending`` unless it says otherwise; ``chat.status`` events carry
their status; a message (or a status event without a known status) changes no status, but a case first seen
through one starts ``pending``. ``status_since`` is the payload's own time for that status -- v2
``data.case.datePending`` / ``dateQueue`` / ``dateActive`` / ``dateClosed``, falling back to
``data.case.dateCreated``; v1 ``date_created`` (pending, queue), ``date_picked`` (active) -- else the event's
``received_at``; Acquire times without a zone are UTC; never later than ``received_at``; written like
``received_at`` (RFC 3339 UTC, milliseconds).

**Out-of-order events** (Acquire retries a failed delivery later; several deliveries race). Each status event has
an *order*: the payload's top-level ``timestamp`` (its event time), else the status's own date (no ``dateCreated``
fallback), else ``received_at`` -- in milliseconds, times 10, plus the status's rank in the life of a case
(pending 0, queue 1, active 2, closed 3), so that of two changes in the same millisecond the later stage wins. A
status event older than the one that set the current status (lower order) does not change the status: a retried
``pending`` arriving after ``active`` leaves the case active. The same status again keeps the earlier
``status_since`` (the same wait, known more exactly). Only a *newer* status event moves a closed case back
(a reopened chat). A case first seen through a message is ``pending`` with the lowest order: any status event
then decides.

**Fields.** ``contact_name``, ``title``, ``channel``, ``department``, ``agent_name``: a newer status event replaces
them with its own non-empty values (a transfer changes the assignee, a re-routed case its department); older status
events and messages only fill the ones still empty; nothing ever blanks a field. ``first_message`` is the first
chat message (by seq) whose sender is the visitor (``message.user.type == "visitor"``: v1's JSON-encoded
``message``, v2's ``data.message``); it is never replaced. ``updated_seq`` is the seq of the case's last event.
Every text went through :func:`trayapp.core.text.field` (the same caps as the events').
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from . import text
from .acquire import lookup
from .errors import BadMessage, BadSignature
from .jsonobj import load_object
from .wire import dumps

CONTEXT: Final = "trayapp-cases/1"
STATUSES: Final = ("pending", "queue", "active", "closed")
RANK: Final = {status: rank for rank, status in enumerate(STATUSES)}
FIELDS: Final = ("contact_name", "title", "channel", "department", "agent_name")
#: The keys of one case in the snapshot, in order.
SNAPSHOT_KEYS: Final = ("case_id", "status", "status_since", "contact_name", "title", "channel", "department",
                        "agent_name", "first_message", "updated_seq")
_V2_DATES: Final = {"pending": "datePending", "queue": "dateQueue", "active": "dateActive", "closed": "dateClosed"}
_V1_DATES: Final = {"pending": "date_created", "queue": "date_created", "active": "date_picked"}
_CASE_KINDS: Final = frozenset({"case.new", "chat.status", "chat.message"})


@dataclass(frozen=True, slots=True, kw_only=True)
class _Fields:
    """What a case says about itself (every text made safe by ``core.text``); ``None``: not known."""

    contact_name: str | None = None
    title: str | None = None
    channel: str | None = None
    department: str | None = None
    agent_name: str | None = None
    first_message: str | None = None


@dataclass(frozen=True, slots=True)
class CaseUpdate(_Fields):
    """What one event says about its case. ``status`` ``None``: no status change (``since`` is then when a case
    first seen here starts ``pending``, ``order`` 0). ``order``: see the module doc."""

    case_id: str
    status: str | None
    since: str
    order: int

    def to_json(self) -> dict[str, Any]:
        """The non-empty fields (``order`` as a decimal string: the Redis script compares it as a number)."""
        out = {k: v for k, v in asdict(self).items() if v is not None}
        out["order"] = str(self.order)
        return out


@dataclass(frozen=True, slots=True)
class CaseState(_Fields):
    """One case as the bridge keeps it; ``order`` (of the event that set the status) and ``updated_ts`` (when its
    last event was received: retention of closed cases) are the bridge's own, not in the snapshot."""

    case_id: str
    status: str
    status_since: str
    order: int
    updated_seq: int
    updated_ts: float

    def snapshot_entry(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in SNAPSHOT_KEYS}


# --- times -----------------------------------------------------------------------------------------------------


def format_ms(ms: int) -> str:
    """``2026-11-23T09:58:01.120Z`` for milliseconds since the epoch (UTC)."""
    when = datetime.fromtimestamp(ms // 1000, UTC)
    return (f"{when.year:04d}-{when.month:02d}-{when.day:02d}T{when.hour:02d}:{when.minute:02d}:"
            f"{when.second:02d}.{ms % 1000:03d}Z")


def parse_ms(value: Any) -> int | None:
    """Milliseconds since the epoch of an Acquire time: ``2026-11-23 09:58:01`` (no zone: UTC), RFC 3339 / ISO 8601
    with or without a zone, or POSIX seconds / milliseconds; ``None`` for anything else."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        if isinstance(value, int | float):
            seconds = float(value) / 1000 if value > 1e11 else float(value)
            if not 0 < seconds < 253402300800:  # year 10000
                return None
            return int(seconds * 1000)
        if not isinstance(value, str) or not 10 <= len(value.strip()) <= 40:
            return None
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        ms = int(when.timestamp() * 1000)
    except (ValueError, OverflowError, OSError):
        return None
    return ms if ms > 0 else None


def _received_ms(received_at: str) -> int:
    ms = parse_ms(received_at)
    if ms is None:
        raise BadMessage(f"received_at {received_at!r} is not an RFC 3339 time")
    return ms


# --- the fold --------------------------------------------------------------------------------------------------


def _from_visitor(payload: Mapping[str, Any]) -> bool:
    data = payload.get("data")
    message = lookup(payload, "data", "message") if isinstance(data, Mapping) else lookup(payload, "message")
    sender = lookup(message, "user", "type")
    return isinstance(sender, str) and sender.strip().lower() == "visitor"


def _status_date(payload: Mapping[str, Any], status: str) -> tuple[int | None, int | None]:
    """(the status's own date, ``dateCreated``) of a payload, in ms."""
    data = payload.get("data")
    if isinstance(data, Mapping):
        case = lookup(data, "case")
        own = parse_ms(lookup(case, _V2_DATES[status]))
        return own, parse_ms(lookup(case, "dateCreated"))
    name = _V1_DATES.get(status)
    return (parse_ms(payload.get(name)) if name else None), None


def update_of(payload: Mapping[str, Any], event: Mapping[str, Any], received_at: str) -> CaseUpdate | None:
    """What the event (``event``: its normalised wire form, derived from ``payload``) says about its case."""
    kind = event.get("kind")
    case_id = text.field("case_id", event.get("case_id")) if isinstance(event.get("case_id"), str) else None
    if kind not in _CASE_KINDS or case_id is None:
        return None
    status = event.get("status") if event.get("status") in RANK else None
    if kind == "case.new" and status is None:
        status = "pending"
    if kind == "chat.message":
        status = None
    effective = status or "pending"
    received = _received_ms(received_at)
    own, created = _status_date(payload, effective)
    since = min(own if own is not None else created if created is not None else received, received)
    stamp = parse_ms(payload.get("timestamp"))
    order_ms = min(stamp if stamp is not None else own if own is not None else received, received)
    fields = {name: text.field(name, value) if isinstance(value := event.get(name), str) else None
              for name in FIELDS}
    message = event.get("text")
    first = (text.field("text", message) if kind == "chat.message" and isinstance(message, str)
             and _from_visitor(payload) else None)
    order = order_ms * 10 + RANK[status] if status is not None else 0  # an implied pending yields to any status
    return CaseUpdate(case_id=case_id, status=status, since=format_ms(since), order=order,
                      first_message=first, **fields)


def merge(current: CaseState | None, update: CaseUpdate, seq: int, received_ts: float) -> CaseState:
    """The case after the event ``seq`` (received at ``received_ts``) that said ``update`` (the module doc's rules;
    ``store_redis.APPEND_LUA`` carries out the same)."""
    if current is None:
        return CaseState(case_id=update.case_id, status=update.status or "pending", status_since=update.since,
                         order=update.order, updated_seq=seq, updated_ts=received_ts,
                         first_message=update.first_message,
                         **{name: getattr(update, name) for name in FIELDS})
    status, since, order = current.status, current.status_since, current.order
    newer = update.status is not None and update.order > current.order
    if update.status is not None:
        if update.status == status:
            since = min(since, update.since)
            order = max(order, update.order)
        elif newer:
            status, since, order = update.status, update.since, update.order
    fields = {}
    for name in FIELDS:
        value = getattr(update, name)
        fields[name] = value if value is not None and (newer or getattr(current, name) is None) \
            else getattr(current, name)
    return replace(current, status=status, status_since=since, order=order, updated_seq=max(seq, current.updated_seq),
                   updated_ts=max(received_ts, current.updated_ts),
                   first_message=current.first_message or update.first_message, **fields)


def state_from_json(data: Mapping[str, Any]) -> CaseState:
    """A stored state (the stores' JSON / row form) back as a :class:`CaseState`."""
    return CaseState(case_id=str(data["case_id"]), status=str(data["status"]), status_since=str(data["status_since"]),
                     order=int(data["order"]), updated_seq=int(data["updated_seq"]),
                     updated_ts=float(data["updated_ts"]), first_message=data.get("first_message") or None,
                     **{name: data.get(name) or None for name in FIELDS})


# --- the snapshot ----------------------------------------------------------------------------------------------

#: The largest snapshot text, counted as it will stand in a ``cases`` frame (each ``"`` and ``\\`` escaped once
#: more), so the frame fits the app's 4 MiB frame limit with room for the rest of it.
MAX_SNAPSHOT_BYTES: Final = 4 * 1024 * 1024 - 4096


def order_key(state: CaseState) -> tuple[str, str]:
    """The snapshot's order: oldest ``status_since`` first, then by case id."""
    return state.status_since, state.case_id


def snapshot_text(epoch: str, head: int, cases: Iterable[CaseState], max_bytes: int = MAX_SNAPSHOT_BYTES) -> str:
    """The JSON text of ``{"epoch", "head", "cases": [...]}`` for the open cases among ``cases`` (already in
    :func:`order_key` order). Cases that would take the snapshot over ``max_bytes`` are left out -- the ones that
    entered their status last -- and counted in ``"omitted"`` (only present when some were)."""
    entries: list[str] = []
    size = 0
    omitted = 0
    for state in cases:
        if state.status == "closed":
            continue
        if omitted:
            omitted += 1
            continue
        entry = dumps(state.snapshot_entry())
        cost = len(entry.encode("utf-8")) + entry.count('"') + entry.count("\\") + 1
        if size + cost > max_bytes:
            omitted += 1
            continue
        entries.append(entry)
        size += cost
    extra = f',"omitted":{omitted}' if omitted else ""
    return f'{{"epoch":{dumps(epoch)},"head":{int(head)},"cases":[{",".join(entries)}]{extra}}}'


def snapshot_input(snapshot: str) -> bytes:
    """The bytes a snapshot's ``sig`` covers."""
    return f"{CONTEXT}\n{snapshot}".encode()


def sign_snapshot(private_key: Ed25519PrivateKey, snapshot: str) -> str:
    return base64.b64encode(private_key.sign(snapshot_input(snapshot))).decode("ascii")


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A verified snapshot: ``cases`` are the snapshot's case objects (the keys of :data:`SNAPSHOT_KEYS`, every
    text made safe again on this side), ``omitted`` the open cases it had no room for."""

    epoch: str
    head: int
    cases: tuple[dict[str, Any], ...]
    omitted: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "head": self.head, "cases": list(self.cases), "omitted": self.omitted}


def _entry(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise BadMessage("cases snapshot: a case is not an object")
    case_id = raw.get("case_id")
    status = raw.get("status")
    seq = raw.get("updated_seq")
    if not isinstance(case_id, str) or status not in RANK or not isinstance(seq, int) or isinstance(seq, bool):
        raise BadMessage("cases snapshot: a case without case_id, status or updated_seq")
    since = raw.get("status_since")
    if parse_ms(since) is None:
        raise BadMessage("cases snapshot: a case without a valid status_since")
    out: dict[str, Any] = {"case_id": text.field("case_id", case_id), "status": status, "status_since": since}
    for name in (*FIELDS, "first_message"):
        value = raw.get(name)
        out[name] = text.field("text" if name == "first_message" else name, value) if isinstance(value, str) else None
    out["updated_seq"] = seq
    return out


def verify_snapshot(public_key: Ed25519PublicKey, snapshot: str, sig: str) -> Snapshot:
    """Check ``sig`` with the pinned key and parse; :class:`BadSignature` / :class:`BadMessage`."""
    try:
        public_key.verify(base64.b64decode(sig, validate=True), snapshot_input(snapshot))
    except (InvalidSignature, ValueError, binascii.Error):
        raise BadSignature("cases frame: signature does not verify with the pinned key") from None
    return parse_snapshot(snapshot)


def parse_snapshot(snapshot: str) -> Snapshot:
    data = load_object(snapshot, BadMessage, "cases snapshot")
    epoch, head, cases, omitted = data.get("epoch"), data.get("head"), data.get("cases"), data.get("omitted", 0)
    if (not isinstance(epoch, str) or not isinstance(head, int) or isinstance(head, bool) or not isinstance(cases, list)
            or not isinstance(omitted, int)):
        raise BadMessage("cases snapshot: epoch, head or cases missing or of the wrong type")
    return Snapshot(epoch, head, tuple(_entry(raw) for raw in cases), omitted)
