"""The C fast path inside ``jsjson.parse_canonical`` must agree with the exact path wherever it answers."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trayapp.core import jsjson

keys = st.one_of(st.text(max_size=8), st.sampled_from(["0", "1", "10", "01", "-1", "4294967295", "a", "é", "\u2028"]))
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
    st.sampled_from(["\x00\x1f\x7f\"\\/", "\ud800x"]),
)
values = st.recursive(
    leaves, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4), max_leaves=25
)


def texts_of(value: Any) -> list[str]:
    out = []
    for kwargs in ({"ensure_ascii": True}, {"ensure_ascii": False}, {"ensure_ascii": False, "indent": 2}):
        with contextlib.suppress(ValueError, UnicodeEncodeError):
            out.append(json.dumps(value, **kwargs))  # type: ignore[arg-type]
    return out


@settings(max_examples=400, deadline=None)
@given(values)
def test_fast_path_equals_exact_path(value: Any) -> None:
    for text in texts_of(value):
        fast = jsjson._fast_canonical(text, jsjson.MAX_DEPTH)
        exact = jsjson.stringify(jsjson.parse(text))
        if fast is not None:
            assert fast[1] == exact, text
        assert jsjson.parse_canonical(text)[1] == exact


@pytest.mark.parametrize(
    "text",
    [
        '{"a":5.0}',
        '{"a":12345678901234567}',
        '{"1":1,"b":2}',
        '{"a":"\\ud800"}',
        '{"a":NaN}',
        "[" * 600 + "]" * 600,
        "not json",
        '\ufeff{"a":1}',
    ],
)
def test_unusual_text_takes_the_exact_path(text: str) -> None:
    assert jsjson._fast_canonical(text, jsjson.MAX_DEPTH) is None


def test_simple_text_takes_the_fast_path() -> None:
    fast = jsjson._fast_canonical('{ "b": [1, true, null], "a": "é\\n", "b": 2 }', jsjson.MAX_DEPTH)
    assert fast is not None and fast[1] == '{"b":2,"a":"é\\n"}'
