"""JSON text that decodes to the same value, at any depth, or a clear refusal (headwater.normalize.jsontext)."""

from __future__ import annotations

import decimal
import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.normalize.jsontext import NotJson, dumps
from tests.unit.normalize_helpers import depth_of, nested

FINITE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(st.characters(codec="utf-8")),
)
VALUES = st.recursive(
    FINITE, lambda inner: st.one_of(st.lists(inner), st.dictionaries(st.text(st.characters(codec="utf-8")), inner))
)


@settings(max_examples=200, deadline=None)
@given(VALUES)
def test_text_decodes_to_the_same_value(value: Any) -> None:
    assert json.loads(dumps(value)) == value
    assert json.loads(dumps(value, sort_keys=True)) == value


@pytest.mark.parametrize("value", [2**64, -(2**70) - 1, 10**40, [1, {"a": 2**100}]])
def test_integers_beyond_64_bits_keep_every_digit(value: Any) -> None:
    assert json.loads(dumps(value)) == value


@pytest.mark.parametrize("kind", ["dict", "list"])
@pytest.mark.parametrize("depth", [10, 300, 20_000])
def test_any_depth_encodes(depth: int, kind: str) -> None:
    text = dumps(nested(depth, kind))
    assert depth_of(text) == depth
    assert text.count("1") == 1


def test_decimals_are_json_numbers_with_their_digits() -> None:
    assert dumps({"d": decimal.Decimal("1.50"), "big": decimal.Decimal("12345678901234567890.123")}) == (
        '{"d":1.50,"big":12345678901234567890.123}'
    )


@pytest.mark.parametrize(
    "value",
    [float("nan"), [float("inf")], {"a": {"b": -math.inf}}, "x\ud800", {"k\udfff": 1}, decimal.Decimal("NaN")],
    ids=["nan", "inf-in-list", "-inf-deep", "lone-surrogate", "surrogate-key", "decimal-nan"],
)
def test_values_without_a_json_form_are_refused_or_readable(value: Any) -> None:
    with pytest.raises(NotJson):
        dumps(value)
    readable = dumps(value, readable=True)
    json.loads(readable)  # still valid JSON text
    assert "null" not in readable  # never silently a null


def test_readable_text_names_the_odd_values() -> None:
    assert dumps([float("nan"), math.inf, -math.inf, "a\ud800"], readable=True) == (
        '["NaN","Infinity","-Infinity","a\\\\ud800"]'
    )
