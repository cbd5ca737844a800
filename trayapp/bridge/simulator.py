"""A stand-in for Acquire: posts realistic, signed webhooks to a bridge.

    trayapp-bridge simulate --url URL [--secret S] [--interval 3] [--count N]

``URL`` is the bridge's base URL (``/webhooks/acquire`` is appended) or the full webhook URL; the secret defaults to
``$ACQUIRE_WEBHOOK_SECRET``. Every ``interval`` seconds one delivery, signed like Acquire signs
(``x-acquire-signature`` = hex HMAC-SHA256 of ``JSON.stringify(payload)``). The story: new cases arrive
(v2 ``case.new``, status pending), go through ``chat.status.queue`` / ``CHAT_STATUS_ACTIVE`` (an agent picks
them) / ``chat.status.closed``; some chats come in the v1 format (``CHAT_ON_START``, ``CHAT_ON_MESSAGE``,
``CHAT_ON_ACCEPT``, ``CHAT_ON_CLOSE``, in the shapes of Acquire's documented v1 examples, so their popups carry the
visitor's and the agent's names); now and then an agent changes status (``agent.status.changed``).

Python API: ``Scenario(seed).next_payload() -> dict`` (the deliveries in order), ``post(url, secret, payload) ->
(status, answer)``, ``run_simulator(url, secret, interval, count) -> exit code`` (``count`` 0: until interrupted).
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from trayapp.core import jsjson
from trayapp.core.signature import hmac_hex

from .config import ENV_SECRET

VISITORS = ["Maria Lopez", "David Klok", "Aiko Tanaka", "Jonas Weber", "Fatima Zahra", "Liam O'Brien", "Chloé Martin",
            "Ravi Patel", "Sofia Rossi", "Mateus Souza"]
AGENTS = [(15416, "John Deo"), (15417, "Priya Shah"), (15418, "Ana Costa")]
MESSAGES = ["Hello, is anyone there?", "My order has not arrived yet.", "Can I change my delivery address?",
            "The payment failed twice.", "Thanks, that helped!", "Do you ship to Norway?"]
CHANNELS = ["chat", "chat", "chat", "email", "whatsapp"]


def _email(name: str) -> str:
    return name.lower().replace(" ", ".").replace("'", "") + "@example.com"


def _now() -> tuple[str, str]:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z", now.strftime("%Y-%m-%d %H:%M:%S")


class Scenario:
    """An endless, plausible sequence of Acquire deliveries."""

    def __init__(self, seed: int | None = None) -> None:
        self.rng = random.Random(seed)
        self.next_case = 5000 + self.rng.randrange(1000)
        self._steps = self._story()

    def next_payload(self) -> dict[str, Any]:
        return next(self._steps)

    def _v2_case(self, event: str, case_id: int, visitor: str, channel: str, status: str,
                 agent: tuple[int, str] | None = None) -> dict[str, Any]:
        stamp, date = _now()
        case: dict[str, Any] = {
            "id": case_id, "title": f"{channel.capitalize()} with {visitor.split()[0]}", "description": "",
            "channel": channel, "status": status, "threadId": case_id, "datePending": date,
            "dateActive": date if status in ("active", "closed") else None,
            "dateClosed": date if status == "closed" else None, "waitTime": str(self.rng.randrange(5, 90)),
            "contact": {"id": 9000 + case_id % 1000, "name": visitor,
                        "email": _email(visitor)},
            "users": [], "dateCreated": date, "dateUpdated": date,
        }
        data: dict[str, Any] = {"case": case}
        if agent:
            data["agent"] = {"id": agent[0], "name": agent[1], "email": "agent@example.com", "type": "agent"}
        return {"event": event, "account_id": "demo", "timestamp": stamp, "data": data}

    def _v1(self, event: str, case_id: int, visitor: str, status: str | None = None,
            text: str | None = None, agent: tuple[int, str] | None = None) -> dict[str, Any]:
        """A v1 delivery in the shapes of Acquire's documented examples: ``users`` a JSON-encoded object keyed
        by ``agent`` / ``visitor`` (``CHAT_ON_START``, ``CHAT_ON_CLOSE``), ``user`` the accepting agent
        (``CHAT_ON_ACCEPT``), ``message`` a JSON-encoded ``{msg, user}`` (``CHAT_ON_MESSAGE``)."""
        _, date = _now()
        visitor_id = 61000 + case_id % 1000
        payload: dict[str, Any] = {"id": str(case_id), "thread_id": "-1", "account_id": "10111",
                                   "session_id": str(visitor_id), "visitor_id": str(visitor_id),
                                   "date_created": date, "date_updated": date}
        if status:
            payload["status"] = status
        person = {"name": visitor, "email": _email(visitor), "phone": "", "remarks": "", "fields": {}, "tags": {}}
        if event == "CHAT_ON_ACCEPT" and agent:
            payload["user"] = {"id": f"agent-{agent[0]}", "status": "active", "type": "agent", "virtual": False,
                               "owner": True, "photo": None, "state": "online", "id_real": agent[0],
                               "name": agent[1]}
        elif event == "CHAT_ON_MESSAGE" and text is not None:
            payload["message"] = json.dumps({"type": "message", "msg": text,
                                             "user": {"id": visitor_id, "name": visitor, "type": "visitor",
                                                      "photo": None, "state": "online"}})
        else:
            users: dict[str, Any] = {"visitor": person}
            if agent:
                users["agent"] = {"name": agent[1], "email": "agent@example.com", "photo": None, "role": "Agent"}
                payload["by"] = f"agent-{agent[0]}"
            payload["users"] = json.dumps(users)
        payload["event"] = event
        return payload

    def _story(self) -> Iterator[dict[str, Any]]:
        rng = self.rng
        open_cases: list[tuple[int, str, str, str, bool]] = []  # id, visitor, channel, status, v1
        while True:
            roll = rng.random()
            if not open_cases or (roll < 0.35 and len(open_cases) < 6):
                case_id, self.next_case = self.next_case, self.next_case + rng.randrange(1, 4)
                visitor, channel, v1 = rng.choice(VISITORS), rng.choice(CHANNELS), rng.random() < 0.25
                open_cases.append((case_id, visitor, channel, "pending", v1))
                yield (self._v1("CHAT_ON_START", case_id, visitor, status="pending") if v1
                       else self._v2_case("case.new", case_id, visitor, channel, "pending"))
            elif roll < 0.45:
                agent = rng.choice(AGENTS)
                stamp, _ = _now()
                status = rng.choice(["available", "unavailable"])
                yield {"event": "agent.status.changed", "account_id": "demo", "timestamp": stamp,
                       "data": {"agent": {"status": status, "id": agent[0], "name": agent[1],
                                          "email": "agent@example.com", "type": "agent",
                                          "channels": {"chat": status == "available", "email": True}}}}
            else:
                i = rng.randrange(len(open_cases))
                case_id, visitor, channel, status, v1 = open_cases[i]
                agent = rng.choice(AGENTS)
                if v1:
                    if status == "pending" and rng.random() < 0.5:
                        yield self._v1("CHAT_ON_MESSAGE", case_id, visitor, text=rng.choice(MESSAGES))
                        continue
                    nxt = {"pending": "active", "active": "closed"}.get(status, "closed")
                    event = {"active": "CHAT_ON_ACCEPT", "closed": "CHAT_ON_CLOSE"}[nxt]
                    # as in real v1 deliveries, a close event may still say "active" in the body
                    yield self._v1(event, case_id, visitor, status="active", agent=agent)
                else:
                    nxt = {"pending": rng.choice(["queue", "active"]), "queue": "active"}.get(status, "closed")
                    event = rng.choice([f"chat.status.{nxt}", f"CHAT_STATUS_{nxt.upper()}"])
                    yield self._v2_case(event, case_id, visitor, channel, nxt,
                                        agent if nxt in ("active", "closed") else None)
                if nxt == "closed":
                    open_cases.pop(i)
                else:
                    open_cases[i] = (case_id, visitor, channel, nxt, v1)


def webhook_url(url: str) -> str:
    url = url.rstrip("/")
    return url if url.endswith("/webhooks/acquire") else url + "/webhooks/acquire"


def post(url: str, secret: str, payload: dict[str, Any], timeout: float = 10.0) -> tuple[int, dict[str, Any]]:
    body = jsjson.stringify(payload)
    request = urllib.request.Request(
        webhook_url(url), data=body.encode("utf-8"), method="POST",
        headers={"content-type": "application/json", "x-acquire-signature": hmac_hex(secret, body)},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read() or b"{}")
        finally:
            exc.close()


def run_simulator(url: str, secret: str | None, interval: float = 3.0, count: int = 0) -> int:
    secret = secret or (os.environ.get(ENV_SECRET) or "").split(",")[0].strip()
    if not secret:
        print(f"trayapp-bridge simulate: give --secret or set {ENV_SECRET}", file=sys.stderr)
        return 2
    scenario = Scenario()
    sent = 0
    while not count or sent < count:
        if sent:
            time.sleep(interval)
        payload = scenario.next_payload()
        try:
            status, answer = post(url, secret, payload)
        except (OSError, urllib.error.URLError) as exc:
            print(f"bridge not reachable: {exc}", file=sys.stderr, flush=True)
            sent += 1
            continue
        case = (payload.get("data") or {}).get("case", {}).get("id") or payload.get("id") or "-"
        print(f"{payload['event']} case {case}: {status} {json.dumps(answer)}", flush=True)
        sent += 1
    return 0
