"""The bridge's fast verification path must agree with core wherever it answers (differential tests)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from trayapp.bridge import fastverify
from trayapp.core import jsjson
from trayapp.core.errors import CoreError
from trayapp.core.signature import hmac_hex, verify_webhook

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "acquire"

keys = st.one_of(st.text(max_size=8), st.sampled_from(["0", "1", "10", "01", "-1", "4294967295", "a", "é", "\u2028"]))
leaves = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False), st.text(), st.sampled_from(["\x00\x1f\x7f\"\\/", "\ud800x"]),
)
values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
                      max_leaves=25)


def texts_of(value: Any) -> list[str]:
    out = []
    for kwargs in ({"ensure_ascii": True}, {"ensure_ascii": False}, {"ensure_ascii": False, "indent": 2}):
        with contextlib.suppress(ValueError, UnicodeEncodeError):
            out.append(json.dumps(value, **kwargs))  # type: ignore[arg-type]
    return out


@settings(max_examples=400, deadline=None)
@given(values)
def test_canonical_equals_core_wherever_the_fast_path_answers(value: Any) -> None:
    for text in texts_of(value):
        fast = fastverify.canonical(text)
        if fast is None:
            continue
        assert fast[1] == jsjson.stringify(jsjson.parse(text)), text


simple_leaves = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(10**15) + 1, max_value=10**15 - 1),
                          st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=10))
simple_values = st.recursive(
    simple_leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(alphabet="abcxyz_é", max_size=5), inner,
                                                                   max_size=3),
    max_leaves=15)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(alphabet="abcxyz_", min_size=1, max_size=5), simple_values, max_size=4))
def test_simple_objects_take_the_fast_path_and_verify_like_core(payload: dict[str, Any]) -> None:
    text = json.dumps(payload, ensure_ascii=False, indent=1)
    body = text.encode()
    canon = jsjson.stringify(jsjson.parse(text))
    for signed_text in (text, canon):
        header = hmac_hex("s3cret", signed_text)
        fast = fastverify.verify(body, header, ["other", "s3cret"])
        core = verify_webhook(body, header, ["other", "s3cret"])
        assert fast is not None
        assert (fast.canonical, fast.text, fast.form, fast.dedupe_key) == (
            core.canonical, core.text, core.form, core.dedupe_key)
    assert fastverify.verify(body, hmac_hex("wrong", text), ["s3cret"]) is None


def test_fixtures_agree_with_core() -> None:
    answered = 0
    for path in sorted(FIXTURES.glob("*.json")):
        fx = json.loads(path.read_text())
        body = fx["body"].encode()
        header = {k.lower(): v for k, v in fx["headers"].items()}.get("x-acquire-signature")
        fast = fastverify.verify(body, header, [fx["secret"]])
        try:
            core = verify_webhook(body, header, [fx["secret"]])
        except CoreError:
            assert fast is None, fx["name"]
            continue
        if fast is not None:
            answered += 1
            assert (fast.canonical, fast.form, fast.dedupe_key) == (core.canonical, core.form, core.dedupe_key)
    assert answered >= 8


def test_unusual_bodies_go_to_core() -> None:
    for text in ('{"a":5.0}', '{"a":12345678901234567}', '{"1":1,"b":2}', '{"a":"\\ud800"}', '[1]', '{"a":NaN}',
                 "[" * 600 + "]" * 600, "not json", '\ufeff{"a":1}'):
        body = text.encode()
        assert fastverify.verify(body, hmac_hex("s", body), ["s"]) is None, text
    assert fastverify.verify(b'{"a":1}', None, ["s"]) is None
    assert fastverify.verify(b'{"a":1}', "zz", ["s"]) is None
    assert fastverify.verify(b'{"a":1}', "sha256=" + hmac_hex("s", b'{"a":1}'), ["s"]) is not None
