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


@settings(max_examples=100, deadline=None)
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
def test_values_without_a_json_form_are_refused_readable_or_literal(value: Any) -> None:
    with pytest.raises(NotJson):
        dumps(value)
    readable = dumps(value, mode="readable")
    json.loads(readable)  # still valid JSON text
    assert "null" not in readable  # never silently a null
    assert _same(json.loads(dumps(value, mode="literal")), value)  # read back as given


def test_readable_text_names_the_odd_values() -> None:
    assert dumps([float("nan"), math.inf, -math.inf, "a\ud800"], mode="readable") == (
        '["NaN","Infinity","-Infinity","a\\\\ud800"]'
    )


@pytest.mark.parametrize(
    "pair",
    [
        (float("nan"), "NaN"),
        (math.inf, "Infinity"),
        (-math.inf, "-Infinity"),
        ("\ud800", "\\ud800"),
        ({"\udfff": 1}, {"\\udfff": 1}),
        ([2**70, float("nan")], [2**70, "NaN"]),
    ],
    ids=["nan", "inf", "-inf", "surrogate", "surrogate-key", "big-int-beside"],
)
def test_literal_text_keeps_apart_what_readable_text_confuses(pair: tuple[Any, Any]) -> None:
    # the quarantine's exact_row: the string "NaN" and a NaN, a lone surrogate and its escape text
    odd, lookalike = pair
    assert dumps(odd, mode="readable") == dumps(lookalike, mode="readable")
    assert dumps(odd, mode="literal") != dumps(lookalike, mode="literal")
    assert _same(json.loads(dumps(odd, mode="literal")), odd)
    assert _same(json.loads(dumps(lookalike, mode="literal")), lookalike)


def _same(a: Any, b: Any) -> bool:
    """Equal, NaN equal to NaN, and of the same type (a decimal NaN reads back as a float NaN)."""
    if isinstance(b, decimal.Decimal) and b.is_nan():
        return isinstance(a, float) and math.isnan(a)
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b
