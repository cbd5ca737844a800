"""JSON.parse / JSON.stringify reproduced exactly; checked by table and against node where present."""

from __future__ import annotations

import json
import math
import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import skip_or_fail
from trayapp.core import jsjson
from trayapp.core.errors import BadPayload


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.0, "0"),
        (-0.0, "0"),
        (5.0, "5"),
        (0.1, "0.1"),
        (-1.5, "-1.5"),
        (100.0, "100"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (123456789012345678901.0, "123456789012345680000"),
        (1e-6, "0.000001"),
        (1e-7, "1e-7"),
        (1.5e-7, "1.5e-7"),
        (1.5e300, "1.5e+300"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (0.000123, "0.000123"),
        (123.456, "123.456"),
        (2.0**53 + 2, "9007199254740994"),
        (math.inf, "null"),
        (-math.inf, "null"),
    ],
)
def test_number_formatting(value: float, expected: str) -> None:
    assert jsjson.format_number(value) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"b":1,"2":2,"1":3,"b":4}', '{"1":3,"2":2,"b":4}'),
        ('{"01":1,"1":2,"4294967294":3,"4294967295":4,"-1":5}', '{"1":2,"4294967294":3,"01":1,"4294967295":4,"-1":5}'),
        ('"\\u2028\\u2029"', '"\u2028\u2029"'),
        ('"\\ud800"', '"\\ud800"'),
        ('"\\ud83d\\udce6"', '"📦"'),
        ('"\\u0000\\u001f\\u007f"', '"\\u0000\\u001f\x7f"'),
        ('"\\b\\f\\n\\r\\t\\"\\\\\\/"', '"\\b\\f\\n\\r\\t\\"\\\\/"'),
        ("[1e400, -1e400, -0, 12345678901234567890]", "[null,null,0,12345678901234567000]"),
        ('  {\n "a" : [ ] , "b" : { } }  ', '{"a":[],"b":{}}'),
        ('{"__proto__":1}', '{"__proto__":1}'),
        ("true", "true"),
        ("null", "null"),
    ],
)
def test_stringify_of_parse(text: str, expected: str) -> None:
    assert jsjson.stringify(jsjson.parse(text)) == expected


@pytest.mark.parametrize(
    "text",
    ["", "NaN", "[Infinity]", "-Infinity", "{'a':1}", "[1,]", "\ufeff{}", '"\x01"', "[1] x", "01", "{"],
)
def test_parse_rejects_what_javascript_rejects(text: str) -> None:
    with pytest.raises(BadPayload):
        jsjson.parse(text)


def test_depth_limit() -> None:
    assert jsjson.nesting_depth(jsjson.parse("[" * 512 + "]" * 512)) == 512
    with pytest.raises(BadPayload, match="deeper than 512"):
        jsjson.parse("[" * 513 + "]" * 513)
    with pytest.raises(BadPayload, match="deeper than 512"):
        jsjson.parse("[" * 100_000)
    with pytest.raises(BadPayload, match="deeper than 512"):
        jsjson.parse('{"a":' * 100_000 + "1" + "}" * 100_000)


def test_invalid_utf8() -> None:
    with pytest.raises(BadPayload, match="UTF-8"):
        jsjson.canonical(b'{"a":"\xff"}')


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_stringify_round_trips_through_parse(value: object) -> None:
    text = jsjson.stringify(jsjson.parse(json.dumps(value)))
    assert jsjson.stringify(jsjson.parse(text)) == text


@pytest.mark.slow  # a node process per example
@settings(max_examples=15, deadline=None)
@given(st.lists(json_values, min_size=50, max_size=200))
def test_matches_node(values: list[object]) -> None:
    node = shutil.which("node")
    if node is None:
        skip_or_fail("node is not installed: cannot compare with JavaScript")
    texts = [json.dumps(v, ensure_ascii=bool(i % 2)) for i, v in enumerate(values)]
    script = (
        "const t=JSON.parse(require('fs').readFileSync(0,'utf8'));"
        "process.stdout.write(JSON.stringify(t.map(s=>JSON.stringify(JSON.parse(s)))))"
    )
    out = subprocess.run([node, "-e", script], input=json.dumps(texts), capture_output=True, text=True, check=True)
    expected = json.loads(out.stdout)
    assert [jsjson.stringify(jsjson.parse(t)) for t in texts] == expected
