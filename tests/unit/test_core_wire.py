"""Wire frames, Ed25519 event signatures, connection links, conversation URLs, backoff."""

from __future__ import annotations

import contextlib
import itertools
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from trayapp.core import wire
from trayapp.core.acquire import parse_body
from trayapp.core.backoff import backoff
from trayapp.core.errors import BadLink, BadMessage, BadSignature
from trayapp.core.link import build_link, check_bridge_url, parse_link, stream_url
from trayapp.core.urls import DEFAULT_TEMPLATE, conversation_url, template_problem

KEY = Ed25519PrivateKey.generate()
KEY_TEXT = wire.key_to_text(KEY.public_key())
BODY = '{"event":"case.new","account_id":"acme","data":{"case":{"id":5121,"contact":{"name":"Maria"}}}}'


def make_frame(seq: int = 7, body: str = BODY, key: Ed25519PrivateKey = KEY) -> wire.EventFrame:
    at = "2026-11-25T08:00:00.000Z"
    return wire.EventFrame(seq, "id-7", at, {"kind": "forged"}, body, wire.sign(key, seq, at, body))


def test_signing_input_layout() -> None:
    assert wire.signing_input(3, "T", "B") == b"trayapp-event/1\n3\nT\nB"


def test_frame_round_trip_and_verify() -> None:
    frame = make_frame()
    decoded = wire.decode(wire.encode(frame))
    assert decoded == frame
    received = wire.verify_frame(KEY.public_key(), decoded)
    assert received.event.case_id == "5121"
    assert received.event.kind == "case.new"  # from the signed body, not the unsigned "event" field


@pytest.mark.parametrize(
    "tamper",
    [
        lambda f: wire.EventFrame(f.seq + 1, f.id, f.received_at, f.event, f.body, f.sig),
        lambda f: wire.EventFrame(f.seq, f.id, "2030-01-01T00:00:00.000Z", f.event, f.body, f.sig),
        lambda f: wire.EventFrame(f.seq, f.id, f.received_at, f.event, f.body.replace("Maria", "Mallory"), f.sig),
        lambda f: wire.EventFrame(f.seq, f.id, f.received_at, f.event, f.body, "not base64!"),
        lambda f: wire.EventFrame(f.seq, f.id, f.received_at, f.event, f.body, ""),
    ],
)
def test_tampered_frames_fail(tamper) -> None:
    with pytest.raises(BadSignature):
        wire.verify_frame(KEY.public_key(), tamper(make_frame()))


def test_other_key_fails() -> None:
    with pytest.raises(BadSignature):
        wire.verify_frame(Ed25519PrivateKey.generate().public_key(), make_frame())


def test_test_alert_frames_round_trip_verify_and_resist_tampering() -> None:
    at, body = "2026-11-25T08:00:00.000Z", '{"event":"trayapp.test_alert","id":"test-1"}'
    frame = wire.CheckFrame("test-1", at, body, wire.sign_check(KEY, "test-1", at, body))
    assert json.loads(wire.encode(frame))["type"] == "test_alert"
    assert wire.decode(wire.encode(frame)) == frame
    assert wire.check_signing_input("test-1", at, body) == f"trayapp-test-alert/1\ntest-1\n{at}\n{body}".encode()
    checked = wire.verify_check(KEY.public_key(), frame)
    assert checked.seq == 0 and checked.id == "test-1" and checked.event.acquire_event == "trayapp.test_alert"
    # an event signature is not a test-alert signature (and the other way round): no frame passes as the other
    event = make_frame(body=body)
    with pytest.raises(BadSignature):
        wire.verify_check(KEY.public_key(), wire.CheckFrame(event.id, event.received_at, body, event.sig))
    for bad in (wire.CheckFrame("test-2", at, body, frame.sig), wire.CheckFrame("test-1", at, body + " ", frame.sig)):
        with pytest.raises(BadSignature):
            wire.verify_check(KEY.public_key(), bad)
    with pytest.raises(BadMessage):
        wire.decode('{"type":"test_alert","id":"x","received_at":"t","body":1,"sig":"s"}')


def test_signed_non_object_body_fails() -> None:
    with pytest.raises(BadSignature, match="not an Acquire payload"):
        wire.verify_frame(KEY.public_key(), make_frame(body="[1]"))


@pytest.mark.parametrize(
    "message",
    [wire.Hello("ep", 0), wire.CaughtUp(12), wire.Gap(1, 5, "retention"), wire.Gap(None, None, "epoch")],
)
def test_control_frames_round_trip(message: wire.Message) -> None:
    assert wire.decode(wire.encode(message)) == message


def test_encoded_shapes() -> None:
    assert json.loads(wire.encode(wire.Hello("ep", 4))) == {"type": "hello", "protocol": 1, "epoch": "ep", "head": 4}
    assert json.loads(wire.encode(wire.Gap(None, None, "epoch"))) == {
        "type": "gap",
        "from": None,
        "to": None,
        "reason": "epoch",
    }


@pytest.mark.parametrize(
    "text",
    [
        "",
        "[]",
        '{"type":"nope"}',
        '{"type":"hello","epoch":"e"}',
        '{"type":"hello","epoch":"e","head":true,"protocol":1}',
        '{"type":"event","seq":0,"id":"a","received_at":"t","event":{},"body":"{}","sig":"x"}',
        '{"type":"event","seq":"1","id":"a","received_at":"t","event":{},"body":"{}","sig":"x"}',
        '{"type":"gap","from":1,"to":2}',
        "[" * 10_000,
    ],
)
def test_bad_frames(text: str) -> None:
    with pytest.raises(BadMessage):
        wire.decode(text)


@given(st.text(max_size=300))
def test_decode_never_raises_anything_else(text: str) -> None:
    with contextlib.suppress(BadMessage):
        wire.decode(text)


@pytest.mark.parametrize("text", ["", "ed25519:", "ed25519:AAAA", "rsa:abc", "ed25519:!!!!", "ed25519:" + "A" * 44])
def test_bad_keys(text: str) -> None:
    with pytest.raises(BadMessage):
        wire.key_from_text(text)


def test_key_text_round_trip() -> None:
    assert wire.key_to_text(wire.key_from_text(KEY_TEXT)) == KEY_TEXT


# --- links -----------------------------------------------------------------------------------------


def test_link_round_trip_percent_encodes() -> None:
    text = build_link("https://bridge.example.com/acq", "t/k+n=&?", KEY_TEXT)
    assert "t%2Fk%2Bn%3D%26%3F" in text
    link = parse_link(text)
    assert (link.url, link.token, link.key) == ("https://bridge.example.com/acq", "t/k+n=&?", KEY_TEXT)
    assert "t/k+n" not in repr(link)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "not a trayapp"),
        ("https://x/connect?url=a", "not a trayapp"),
        ("trayapp://connect?token=a&key=b", "no url"),
        ("trayapp://connect?url=https%3A%2F%2Fx&key=" + KEY_TEXT, "no token"),
        ("trayapp://connect?url=https%3A%2F%2Fx&token=t&key=ed25519%3Axx", "key is damaged"),
        ("trayapp://connect?url=http%3A%2F%2Fbridge.example.com&token=t&key=" + KEY_TEXT, "unencrypted"),
        ("trayapp://connect?url=ftp%3A%2F%2Fx&token=t&key=" + KEY_TEXT, "https://"),
    ],
)
def test_bad_links(text: str, message: str) -> None:
    with pytest.raises(BadLink, match=message):
        parse_link(text)


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("http://127.0.0.1:8787", True),
        ("http://localhost:1", True),
        ("http://[::1]:9", True),
        ("https://b.example.com/", True),
        ("http://10.0.0.5", False),
        ("https://user:pw@b.example.com", False),
        ("https://b.example.com/?x=1", False),
    ],
)
def test_bridge_urls(url: str, ok: bool) -> None:
    if ok:
        check_bridge_url(url)
    else:
        with pytest.raises(BadLink):
            check_bridge_url(url)


def test_stream_url() -> None:
    assert stream_url("https://b.example.com/p/", 5, "ep") == "wss://b.example.com/p/v1/stream?since=5&epoch=ep"
    assert stream_url("http://127.0.0.1:80") == "ws://127.0.0.1:80/v1/stream"


# --- conversation URLs -------------------------------------------------------------------------------


def event(case_id: object, account: object = "acme"):
    return parse_body(json.dumps({"event": "case.new", "account_id": account, "data": {"case": {"id": case_id}}}))


@pytest.mark.parametrize(
    ("template", "ev", "account", "expected"),
    [
        (DEFAULT_TEMPLATE, event(5121), None, "https://acme.acquire.io/inbox/case/5121"),
        (DEFAULT_TEMPLATE, event(5121), "other", "https://other.acquire.io/inbox/case/5121"),
        (
            "https://help.example.com/c/{case_id}",
            event("a/../../x?y#z"),
            None,
            "https://help.example.com/c/a%2F..%2F..%2Fx%3Fy%23z",
        ),
        (DEFAULT_TEMPLATE, event(1, "evil.com/"), None, None),
        (DEFAULT_TEMPLATE, event(1, None), None, None),
        (DEFAULT_TEMPLATE, event(None), None, None),
        ("javascript:alert({case_id})", event(1), None, None),
        ("https://x.example.com/{nope}", event(1), None, None),
    ],
)
def test_conversation_url(template, ev, account, expected) -> None:
    assert conversation_url(template, ev, account) == expected


def test_template_problem_words() -> None:
    assert template_problem(DEFAULT_TEMPLATE) is None
    assert "http" in (template_problem("file:///etc/{case_id}") or "")


# --- backoff -------------------------------------------------------------------------------------------


def test_backoff_bounds_and_cap() -> None:
    upper = list(itertools.islice(backoff(jitter=lambda lo, hi: hi), 9))
    lower = list(itertools.islice(backoff(jitter=lambda lo, hi: lo), 9))
    assert upper == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert lower == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]


def test_backoff_jitter_spreads() -> None:
    delays = {round(next(backoff()), 6) for _ in range(50)}
    assert len(delays) > 10 and all(0.5 <= d <= 1 for d in delays)
