"""Webhook signature checks, from the signed fixtures and tables."""

from __future__ import annotations

import contextlib
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support import load_fixtures
from trayapp.core import jsjson, signature
from trayapp.core.errors import BadPayload, BadSignature
from trayapp.core.signature import hmac_hex, verify_webhook

FIXTURES = load_fixtures()
SECRET = FIXTURES[0]["secret"]


@pytest.mark.parametrize("case", FIXTURES, ids=[c["name"] for c in FIXTURES])
def test_fixture(case: dict) -> None:
    body = case["body"].encode()
    header = case["headers"].get("x-acquire-signature")
    expect = case["expect"]
    if not expect["signature_valid"]:
        with pytest.raises(BadSignature):
            verify_webhook(body, header, [case["secret"]])
    elif expect.get("http_status") == 400:
        with pytest.raises(BadPayload):
            verify_webhook(body, header, [case["secret"]])
    else:
        verified = verify_webhook(body, header, [case["secret"]])
        assert verified.canonical == jsjson.stringify(jsjson.parse(case["body"]))
        assert verified.dedupe_key == hashlib.sha256(verified.canonical.encode()).hexdigest()


def test_rotation_accepts_any_configured_secret() -> None:
    body = b'{"event":"case.new"}'
    sig = hmac_hex("new-secret", body)
    assert verify_webhook(body, sig, ["old-secret", "new-secret"]).form == "raw"
    with pytest.raises(BadSignature):
        verify_webhook(body, sig, ["old-secret"])


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "missing"),
        ("", "missing"),
        ("zz" * 32, "not a hex"),
        ("ab", "not a hex"),
        ("0" * 64, "does not match"),
    ],
)
def test_bad_headers(header: str | None, message: str) -> None:
    with pytest.raises(BadSignature, match=message):
        verify_webhook(b"{}", header, ["s"])


def test_header_case_and_prefix_tolerated() -> None:
    body = b'{"a":1}'
    sig = hmac_hex("s", body)
    assert verify_webhook(body, "sha256=" + sig.upper(), ["s"]).form == "raw"


def test_stringify_form_matches_pretty_body() -> None:
    body = b'{\n  "b": 5.0,\n  "a": [1, 2]\n}'
    sig = hmac_hex("s", '{"b":5,"a":[1,2]}')
    assert verify_webhook(body, sig, ["s"]).form == "stringify"


def test_unsigned_garbage_is_401_not_400() -> None:
    with pytest.raises(BadSignature):
        verify_webhook(b"\xff\xfe not json", "0" * 64, ["s"])


@pytest.mark.parametrize(
    ("body", "message"), [(b"[1,2]", "not an object"), (b'"x"', "not an object"), (b"\xff", "UTF-8")]
)
def test_signed_but_unacceptable_is_400(body: bytes, message: str) -> None:
    with pytest.raises(BadPayload, match=message):
        verify_webhook(body, hmac_hex("s", body), ["s"])


def test_no_secret_configured() -> None:
    with pytest.raises(BadSignature, match="no webhook secret"):
        verify_webhook(b"{}", hmac_hex("s", b"{}"), [])


@given(st.binary(max_size=200), st.text(max_size=70))
def test_verifier_never_raises_anything_else(body: bytes, header: str) -> None:
    with contextlib.suppress(BadSignature, BadPayload):
        verify_webhook(body, header, ["s"])


def test_raw_match_is_tried_first_and_needs_no_stringify_bound() -> None:
    body = ("[" + ",".join(["1.5"] * 5000) + "]").join(['{"a":', "}"]).encode()  # over the stringify bounds
    assert verify_webhook(body, hmac_hex("s", body), ["s"]).form == "raw"


@pytest.mark.parametrize(
    "body",
    [
        b'{"a": "' + b"x" * signature.STRINGIFY_MAX_BYTES + b'"}',  # too big
        ("[" + ",".join(["1.50"] * signature.STRINGIFY_MAX_VALUES) + "]").join(['{"a":', "}"]).encode(),  # too many
        b'{"a": "' + b"\\ud800" * signature.STRINGIFY_MAX_VALUES + b'"}',  # escapes count as values
    ],
    ids=["size", "values", "escapes"],
)
def test_stringify_form_is_not_tried_past_its_bounds(body: bytes) -> None:
    canonical = jsjson.canonical(body)
    assert not signature.stringify_affordable(body)
    with pytest.raises(BadSignature, match="only tried for bodies up to 64 KiB"):
        verify_webhook(body, hmac_hex("s", canonical), ["s"])


def test_stringify_form_within_bounds_still_matches() -> None:
    body = ("[" + ",".join(["1.50"] * (signature.STRINGIFY_MAX_VALUES - 10)) + "]").join(['{"a":', "}"]).encode()
    assert signature.stringify_affordable(body)
    assert verify_webhook(body, hmac_hex("s", jsjson.canonical(body)), ["s"]).form == "stringify"


def test_forged_unparsable_body_is_401_even_within_bounds() -> None:
    with pytest.raises(BadSignature, match="does not match"):
        verify_webhook(b'{"a": nope', "0" * 64, ["s"])
