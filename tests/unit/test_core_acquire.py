"""Payload → Event, from the fixtures and tables of edge cases."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support import load_fixtures
from trayapp.core.acquire import EventTable, match_key, normalise, parse_body
from trayapp.core.errors import BadPayload
from trayapp.core.event import KINDS

NORMALISED = [c for c in load_fixtures() if "kind" in c["expect"]]


@pytest.mark.parametrize("case", NORMALISED, ids=[c["name"] for c in NORMALISED])
def test_fixture(case: dict) -> None:
    event = parse_body(case["body"])
    for field in ("kind", "status", "case_id", "acquire_event"):
        if field in case["expect"]:
            assert getattr(event, field) == case["expect"][field], field


@pytest.mark.parametrize(
    ("name", "kind", "status"),
    [
        ("case.new", "case.new", None),
        ("CASE_NEW", "case.new", None),
        ("Case New", "case.new", None),
        ("chat-status-Pending", "chat.status", "pending"),
        ("CHAT_STATUS_QUEUE", "chat.status", "queue"),
        ("chat.status.closed", "chat.status", "closed"),
        ("chat.message", "chat.message", None),
        ("agent.status", "agent.status", None),
        ("agent_status_available", "agent.status", "available"),
        ("AGENT.STATUS.UNAVAILABLE", "agent.status", "unavailable"),
        ("chat_on_start", "chat.status", "pending"),
        ("CHAT_ON_ACCEPT", "chat.status", "active"),
        ("CHAT_ON_CLOSE", "chat.status", "closed"),
        ("CHAT_ON_MESSAGE", "chat.message", None),
        ("chat.status.reopened", "other", None),
        ("", "other", None),
    ],
)
def test_event_names(name: str, kind: str, status: str | None) -> None:
    event = normalise({"event": name})
    assert (event.kind, event.status, event.acquire_event) == (kind, status, name)


@pytest.mark.parametrize(
    ("payload", "field", "expected"),
    [
        ({"event": "case.new", "data": {"case": {"id": 12}}}, "case_id", "12"),
        ({"event": "case.new", "data": {"case": {"id": 12.0}}}, "case_id", "12"),
        ({"event": "case.new", "data": {"case": {"id": "ab-1"}}}, "case_id", "ab-1"),
        ({"event": "case.new", "data": {"case": {"id": True}}}, "case_id", None),
        ({"event": "case.new", "data": {"case": {"status": "QUEUE"}}}, "status", "queue"),
        ({"event": "case.new", "data": {"case": {"status": "weird"}}}, "status", None),
        ({"event": "chat.status.active", "data": {"case": {"status": "pending"}}}, "status", "active"),
        ({"event": "agent.status", "data": {"agent": {"status": "Available"}}}, "status", "available"),
        ({"event": "agent.status", "data": {"agent": {"status": "pending"}}}, "status", None),
        ({"event": "chat.message", "data": {"case": {"status": "active"}}}, "status", None),
        ({"event": "x", "data": {"case": {"id": 9}}}, "case_id", "9"),
        ({"event": "case.new", "data": "not an object"}, "case_id", None),
        ({"event": "case.new", "data": {"case": {"contact": {"name": "Ann"}}}}, "contact_name", "Ann"),
        ({"event": "case.new", "account_id": 77, "data": {}}, "account", "77"),
        ({"event": "CHAT_ON_MESSAGE", "message": '{"msg":"hi","user":{"type":"agent","name":"Jo"}}'}, "text", "hi"),
        (
            {"event": "CHAT_ON_MESSAGE", "message": '{"msg":"hi","user":{"type":"agent","name":"Jo"}}'},
            "agent_name",
            "Jo",
        ),
        ({"event": "CHAT_ON_CLOSE", "users": "{broken json"}, "contact_name", None),
        ({"event": "CHAT_ON_START", "id": 5, "status": "active"}, "status", "pending"),
        ({"event": 42}, "kind", "other"),
    ],
)
def test_fields(payload: dict, field: str, expected: str | None) -> None:
    assert getattr(normalise(payload), field) == expected


def test_table_is_extensible_without_code() -> None:
    table = EventTable.default().extended(
        {"case.reopened": "chat.status/pending", "ticket.created": {"kind": "case.new"}}
    )
    assert normalise({"event": "CASE_REOPENED"}, table).status == "pending"
    assert normalise({"event": "ticket.created"}, table).kind == "case.new"
    assert normalise({"event": "case.new"}, table).kind == "case.new"


@pytest.mark.parametrize(
    "mapping",
    [{"x": "nope"}, {"x": "chat.status/sleeping"}, {"x": 5}, {"x": "agent.status/pending"}],
)
def test_bad_table_entries(mapping: dict) -> None:
    with pytest.raises(BadPayload):
        EventTable.default().extended(mapping)


def test_match_key() -> None:
    assert match_key("Chat.Status-Pending _x") == "chatstatuspendingx"


@pytest.mark.parametrize("body", ["[]", "not json", "1"])
def test_parse_body_rejects(body: str) -> None:
    with pytest.raises(BadPayload):
        parse_body(body)


json_leaf = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10)
json_tree = st.recursive(
    json_leaf,
    lambda c: (
        st.lists(c, max_size=3)
        | st.dictionaries(
            st.sampled_from(["id", "data", "case", "event", "status", "users", "message", "agent", "user", "x"]),
            c,
            max_size=4,
        )
    ),
    max_leaves=15,
)


@given(
    st.dictionaries(
        st.sampled_from(["event", "data", "id", "status", "users", "message", "user", "account_id"]), json_tree
    )
)
def test_never_raises_on_any_object(payload: dict) -> None:
    event = normalise(payload)
    assert event.kind in KINDS
    json.dumps(event.to_json())
