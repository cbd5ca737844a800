"""Case events for the store and snapshot tests: :func:`case_story` (payloads in every kind of order, hostile text
included) and :func:`case_item` (a payload as the ingest hands it to a store, with its case update)."""

from __future__ import annotations

import hashlib
import json

from trayapp.bridge.ingest import case_of, event_json, rfc3339_ms
from trayapp.bridge.store import NewEvent
from trayapp.core.acquire import normalise


def case_item(payload: dict[str, object], received_ts: float) -> NewEvent:
    body = json.dumps(payload, ensure_ascii=False)
    event = event_json(normalise(payload))
    at = rfc3339_ms(received_ts)
    key = hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()
    return NewEvent(body=body, event=event, dedupe_key=key, received_at=at, received_ts=received_ts,
                    case=case_of(payload, event, at))


def case_story() -> list[dict[str, object]]:
    """Three cases in every kind of order: one waits, one is taken (its pending retried late), one closes and
    reopens; a hostile one; an agent-status event in between."""
    hostile = "\ud800<b>\x00\u202e" + "x" * 2000

    def v2(event: str, status: str | None, case_id: object, ts: str, **extra: object) -> dict[str, object]:
        case: dict[str, object] = {"id": case_id, "title": f"Case {case_id}", "channel": "chat",
                                   "contact": {"name": f"Visitor {case_id}"}, "dateCreated": "2026-11-23 09:00:00",
                                   **extra}
        if status:
            case["status"] = status
        data: dict[str, object] = {"case": case}
        if status == "active":
            data["agent"] = {"name": "Ana"}
        return {"event": event, "timestamp": ts, "data": data}

    return [
        v2("case.new", "pending", 1, "2026-11-23T09:01:00.000Z", datePending="2026-11-23 09:01:00"),
        v2("case.new", "pending", 2, "2026-11-23T09:02:00.000Z", department="Sales"),
        {"event": "agent.status.changed", "data": {"agent": {"status": "available", "name": "Ana"}}},
        v2("chat.status", "active", 2, "2026-11-23T09:03:00.000Z", dateActive="2026-11-23 09:03:00"),
        v2("case.new", "pending", 2, "2026-11-23T09:02:00.000Z", title="retried"),  # a late retry: stays active
        {"event": "chat.message",
         "data": {"case": {"id": 1}, "message": {"msg": "Hello?", "user": {"type": "visitor"}}}},
        v2("case.new", "pending", 3, "2026-11-23T09:04:00.000Z", department="Billing"),
        v2("chat.status", "closed", 3, "2026-11-23T09:05:00.000Z"),
        v2("chat.status", "queue", 3, "2026-11-23T09:06:00.000Z", dateQueue="2026-11-23 09:06:00"),  # reopened
        v2("chat.status", "closed", 1, "2026-11-23T08:00:00.000Z"),  # older than its pending: ignored
        v2("case.new", "pending", hostile, "2026-11-23T09:07:00.000Z", title=hostile, department=hostile),
        {"event": "chat.message", "data": {"case": {"id": hostile},
                                           "message": {"msg": hostile, "user": {"type": "visitor"}}}},
    ]
