"""Wire frames, Ed25519 event signatures, connection links, conversation URLs, backoff."""

from __future__ import annotations

import contextlib
import itertools
import json
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from trayapp.core import wire
from trayapp.core.acquire import parse_body
from trayapp.core.backoff import backoff
from trayapp.core.errors import BadLink, BadMessage, BadPayload, BadSignature
from trayapp.core.link import build_link, check_bridge_url, parse_link, stream_url
from trayapp.core.urls import DEFAULT_TEMPLATE, conversation_url, template_problem

KEY = Ed25519PrivateKey.generate()
KEY_TEXT = wire.key_to_text(KEY.public_key())
BODY = '{"event":"case.new","account_id":"acme","data":{"case":{"id":5121,"contact":{"name":"Maria"}}}}'
EPOCH = "4f3a9c0d1e2b3a4c"
NONCE = "n0nce-n0nce-n0nce-n0nce_"


def make_frame(seq: int = 7, body: str = BODY, key: Ed25519PrivateKey = KEY, epoch: str = EPOCH,
               event_id: str = "id-7") -> wire.EventFrame:
    at = "2026-11-25T08:00:00.000Z"
    return wire.EventFrame(epoch, seq, event_id, at, {"kind": "forged"}, body,
                           wire.sign_event(key, epoch, seq, event_id, at, body))


def test_signing_input_layout() -> None:
    assert wire.event_input("E", 3, "E-3", "T", "B\nC") == b"trayapp-event/2\nE\n3\nE-3\nT\nB\nC"
    assert wire.control_input(wire.Hello("E", 9), "N", "E") == b"trayapp-hello/2\nN\nE\n9"
    assert wire.control_input(wire.CaughtUp(4), "N", "E") == b"trayapp-caught-up/2\nN\nE\n4"
    assert wire.control_input(wire.Gap(2, 5, "retention"), "N", "E") == b"trayapp-gap/2\nN\nE\n2\n5\nretention"
    assert wire.control_input(wire.Gap(None, None, "epoch"), "", "E") == b"trayapp-gap/2\n\nE\nnull\nnull\nepoch"


def test_frame_round_trip_and_verify() -> None:
    frame = make_frame()
    decoded = wire.decode(wire.encode(frame))
    assert decoded == frame
    assert json.loads(wire.encode(frame))["epoch"] == EPOCH
    received = wire.verify_frame(KEY.public_key(), decoded, epoch=EPOCH)
    assert received.event.case_id == "5121"
    assert received.event.kind == "case.new"  # from the signed body, not the unsigned "event" field


@pytest.mark.parametrize(
    "tamper",
    [
        lambda f: replace(f, seq=f.seq + 1),
        lambda f: replace(f, id="id-8"),  # the same genuine event replayed under another id
        lambda f: replace(f, epoch="0000000000000000"),
        lambda f: replace(f, received_at="2030-01-01T00:00:00.000Z"),
        lambda f: replace(f, body=f.body.replace("Maria", "Mallory")),
        lambda f: replace(f, sig="not base64!"),
        lambda f: replace(f, sig=""),
    ],
)
def test_tampered_frames_fail(tamper) -> None:
    with pytest.raises(BadSignature):
        wire.verify_frame(KEY.public_key(), tamper(make_frame()))


def test_frame_of_another_epoch_fails_even_when_genuine() -> None:
    frame = make_frame(epoch="other-epoch")
    wire.verify_frame(KEY.public_key(), frame)
    with pytest.raises(BadSignature, match="epoch"):
        wire.verify_frame(KEY.public_key(), frame, epoch=EPOCH)


def test_other_key_fails() -> None:
    with pytest.raises(BadSignature):
        wire.verify_frame(Ed25519PrivateKey.generate().public_key(), make_frame())


def test_signed_non_object_body_is_a_payload_error_not_a_bad_signature() -> None:
    with pytest.raises(BadPayload, match="not an Acquire payload"):
        wire.verify_frame(KEY.public_key(), make_frame(body="[1]"))


@pytest.mark.parametrize(
    "message",
    [wire.Hello("ep", 0), wire.CaughtUp(12), wire.Gap(1, 5, "retention"), wire.Gap(None, None, "epoch")],
)
def test_control_frames_sign_round_trip_and_verify(message: wire.ControlFrame) -> None:
    signed = wire.sign_control(KEY, message, NONCE, "ep")
    decoded = wire.decode(wire.encode(signed))
    assert decoded == signed
    wire.verify_control(KEY.public_key(), decoded, NONCE, "ep")
    for nonce, epoch, key in [("another-nonce-0000", "ep", KEY), (NONCE, "ep2", KEY),
                              (NONCE, "ep", Ed25519PrivateKey.generate())]:
        with pytest.raises(BadSignature):
            wire.verify_control(key.public_key(), decoded, nonce, epoch)


def test_hello_carries_the_nonce_and_proves_the_key() -> None:
    hello = wire.sign_control(KEY, wire.Hello("ep", 4), NONCE, "ep")
    assert json.loads(wire.encode(hello)) == {"type": "hello", "protocol": 2, "epoch": "ep", "head": 4,
                                              "nonce": NONCE, "sig": hello.sig}
    wire.verify_hello(KEY.public_key(), hello, NONCE)
    with pytest.raises(BadSignature):
        wire.verify_hello(Ed25519PrivateKey.generate().public_key(), hello, NONCE)
    with pytest.raises(BadSignature):  # a hello replayed into another connection
        wire.verify_hello(KEY.public_key(), hello, "a-fresh-nonce-of-mine")
    with pytest.raises(BadSignature):  # a genuine hello with its head changed
        wire.verify_hello(KEY.public_key(), replace(hello, head=0), NONCE)


def test_a_version_1_hello_decodes_so_its_protocol_can_be_reported() -> None:
    hello = wire.decode('{"type":"hello","protocol":1,"epoch":"e","head":3}')
    assert isinstance(hello, wire.Hello) and hello.protocol == 1 and hello.sig == ""


def test_encoded_shapes() -> None:
    assert json.loads(wire.encode(wire.Gap(None, None, "epoch", "S"))) == {
        "type": "gap",
        "from": None,
        "to": None,
        "reason": "epoch",
        "sig": "S",
    }
    assert json.loads(wire.encode(wire.CaughtUp(3, "S"))) == {"type": "caught_up", "head": 3, "sig": "S"}


@pytest.mark.parametrize("nonce", ["a" * 16, "A-_z09" * 10 + "abcd", "x" * 64])
def test_good_nonces(nonce: str) -> None:
    assert wire.check_nonce(nonce) == nonce


@pytest.mark.parametrize("nonce", ["", "a" * 15, "a" * 65, "a" * 15 + "=", "a" * 16 + "+", "a" * 16 + "/",
                                   "a" * 16 + " ", "a" * 16 + "\n", "é" * 16])
def test_bad_nonces(nonce: str) -> None:
    with pytest.raises(BadMessage, match="16 to 64 URL-safe base64"):
        wire.check_nonce(nonce)


def test_new_nonces_are_fresh_and_valid() -> None:
    nonces = {wire.new_nonce() for _ in range(100)}
    assert len(nonces) == 100 and all(wire.check_nonce(n) for n in nonces)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "[]",
        '{"type":"nope"}',
        '{"type":"hello","epoch":"e"}',
        '{"type":"hello","epoch":"e","head":true,"protocol":2,"nonce":"","sig":""}',
        '{"type":"hello","epoch":"e","head":1,"protocol":2,"nonce":"","sig":5}',
        '{"type":"event","epoch":"e","seq":0,"id":"a","received_at":"t","event":{},"body":"{}","sig":"x"}',
        '{"type":"event","epoch":"e","seq":"1","id":"a","received_at":"t","event":{},"body":"{}","sig":"x"}',
        '{"type":"event","seq":1,"id":"a","received_at":"t","event":{},"body":"{}","sig":"x"}',
        '{"type":"gap","from":1,"to":2}',
        '{"type":"caught_up","head":"1"}',
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


# Any text at all, lone surrogates and surrogate code points that happen to pair included.
ANY_TEXT = st.lists(st.one_of(st.characters(), st.integers(0xD800, 0xDFFF).map(chr)), max_size=200).map("".join)


@given(body=ANY_TEXT, event_text=ANY_TEXT)
def test_any_frame_encodes_as_utf8_json_and_verifies_after_the_round_trip(body: str, event_text: str) -> None:
    frame = replace(make_frame(body=body), event={"title": event_text})
    encoded = wire.encode(frame)
    raw = encoded.encode("utf-8")  # always valid UTF-8
    decoded = wire.decode(raw.decode("utf-8"))
    assert isinstance(decoded, wire.EventFrame)
    assert wire.utf8(decoded.body) == wire.utf8(body)
    with contextlib.suppress(BadPayload):
        wire.verify_frame(KEY.public_key(), decoded, epoch=EPOCH)


def test_frames_escape_only_what_json_requires() -> None:
    body = '{"event":"case.new","data":{"case":{"title":"Ünïcödé 😀 \\ \\"quoted\\""}}}'
    encoded = wire.encode(make_frame(body=body))
    assert "Ünïcödé 😀" in encoded  # no whole-frame ASCII escaping
    assert len(encoded.encode()) < 2 * len(body.encode()) + 400
    lone = wire.encode(replace(make_frame(), event={"title": "half \ud83d emoji"}))
    assert "\\ud83d" in lone and lone.encode("utf-8")


def test_max_body_that_fits() -> None:
    assert wire.max_body_problem(1 << 20) is None
    problem = wire.max_body_problem(3 << 20)
    assert problem and "--max-body" in problem and "4 MiB" in problem
    largest = int(problem.rsplit("--max-body ", 1)[1].split()[0])
    assert wire.max_body_problem(largest) is None and wire.max_body_problem(largest + 1)
    assert wire.max_event_frame(largest) <= wire.CLIENT_MAX_FRAME


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
    assert stream_url("http://127.0.0.1:80", nonce="N" * 16) == "ws://127.0.0.1:80/v1/stream?nonce=NNNNNNNNNNNNNNNN"


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


def test_test_alert_frames_are_signed_for_one_connection() -> None:
    at, body = "2026-11-25T08:00:00.000Z", '{"event":"trayapp.test_alert","id":"test-1"}'
    frame = wire.sign_control(KEY, wire.CheckFrame("test-1", at, body), NONCE, EPOCH)
    assert json.loads(wire.encode(frame)) == {"type": "test_alert", "id": "test-1", "received_at": at, "body": body,
                                              "sig": frame.sig}
    want = f"trayapp-test-alert/2\n{NONCE}\n{EPOCH}\ntest-1\n{at}\n{body}"
    assert wire.control_input(frame, NONCE, EPOCH) == want.encode()
    checked = wire.verify_check(KEY.public_key(), wire.decode(wire.encode(frame)), NONCE, EPOCH)  # type: ignore[arg-type]
    assert checked.seq == 0 and checked.id == "test-1" and checked.event.acquire_event == "trayapp.test_alert"
    for bad, nonce in ((frame, "another-nonce-0000"),  # replayed into another connection
                       (wire.CheckFrame("test-2", at, body, frame.sig), NONCE),
                       (wire.CheckFrame("test-1", at, body + " ", frame.sig), NONCE)):
        with pytest.raises(BadSignature):
            wire.verify_check(KEY.public_key(), bad, nonce, EPOCH)
    with pytest.raises(BadMessage):
        wire.decode('{"type":"test_alert","id":"x","received_at":"t","body":1,"sig":"s"}')


def test_config_frame_layout() -> None:
    template = "https://acme.example.com/inbox/case/{case_id}"
    frame = wire.sign_control(KEY, wire.Config(template), NONCE, EPOCH)
    assert json.loads(wire.encode(frame)) == {"type": "config", "conversation_url": template, "sig": frame.sig}
    assert wire.control_input(frame, NONCE, EPOCH) == f"trayapp-config/2\n{NONCE}\n{EPOCH}\n{template}".encode()
    wire.verify_control(KEY.public_key(), wire.decode(wire.encode(frame)), NONCE, EPOCH)
    with pytest.raises(BadSignature):
        wire.verify_control(KEY.public_key(), wire.Config(template + "x", frame.sig), NONCE, EPOCH)
