"""The simulator's deliveries: Acquire's documented v1 shapes, so the demo's popups carry names."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support import load_fixtures
from trayapp.bridge.simulator import Scenario
from trayapp.core.acquire import normalise

# Acquire's documented v1 examples (v1-chat-on-accept.json has the documented CHAT_ON_ACCEPT body byte for byte).
DOCUMENTED = {c["expect"]["acquire_event"]: json.loads(c["body"]) for c in load_fixtures()
              if c["name"].startswith("v1-documented-") or c["name"] == "v1-chat-on-accept"}


def _v1_payloads(count: int = 400) -> dict[str, list[dict[str, Any]]]:
    scenario = Scenario(seed=3)
    found: dict[str, list[dict[str, Any]]] = {}
    for _ in range(count):
        payload = scenario.next_payload()
        if "data" not in payload:
            found.setdefault(payload["event"], []).append(payload)
    return found


V1 = _v1_payloads()


def test_every_v1_event_is_sent() -> None:
    assert set(V1) == {"CHAT_ON_START", "CHAT_ON_ACCEPT", "CHAT_ON_MESSAGE", "CHAT_ON_CLOSE"}


@pytest.mark.parametrize("event", ["CHAT_ON_ACCEPT", "CHAT_ON_MESSAGE", "CHAT_ON_CLOSE"])
def test_shapes_follow_the_documented_examples(event: str) -> None:
    documented = DOCUMENTED[event]
    for payload in V1[event]:
        for field in ("users", "user", "message"):
            if field not in documented:
                assert field not in payload, f"{event}: {field} is not in Acquire's example"
                continue
            want, got = documented[field], payload[field]
            assert type(got) is type(want), f"{event}.{field}: {type(got).__name__}, documented {type(want).__name__}"
            if isinstance(want, str):  # JSON-encoded, as Acquire sends it
                want, got = json.loads(want), json.loads(got)
            assert isinstance(got, dict)
            assert set(got) <= set(want) | {"id"}, f"{event}.{field}: keys {sorted(got)} vs {sorted(want)}"
            for key in ("agent", "visitor"):  # users: an object keyed by agent / visitor, each with a name
                if key in got:
                    assert isinstance(got[key], dict) and got[key]["name"]


@pytest.mark.parametrize(("event", "names"), [
    ("CHAT_ON_START", ("contact_name",)),
    ("CHAT_ON_ACCEPT", ("agent_name",)),
    ("CHAT_ON_MESSAGE", ("contact_name",)),
    ("CHAT_ON_CLOSE", ("contact_name", "agent_name")),
])
def test_v1_deliveries_carry_names(event: str, names: tuple[str, ...]) -> None:
    for payload in V1[event]:
        normalised = normalise(payload)
        for name in names:
            assert getattr(normalised, name), f"{event} without {name}: {payload}"
    message = normalise(V1["CHAT_ON_MESSAGE"][0])
    assert message.kind == "chat.message" and message.text
