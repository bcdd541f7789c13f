"""Cursor values that cannot be ordered: mixed types, NaN, values without an order, a stored last
value of another type. Each is a DataError naming the cursor, the values' types and the fix; never a
raw TypeError, and never a cursor that lets the same rows through again on the next run."""

from __future__ import annotations

import datetime as dt
import decimal
import math
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import headwater as hw
from headwater.cursors.apply import filter_item
from headwater.errors import DataError

UTC = dt.UTC


def one_run(inc: Any, slots: dict[str, Any], items: list[Any]) -> list[Any]:
    bound = inc.bind(slots, "events", ("id",))
    kept = [out for item in items if (out := filter_item(bound, item)) is not None]
    bound.commit()
    return kept


def count(kept: list[Any]) -> int:
    return sum(1 if isinstance(k, dict) else len(k) for k in kept)


def rows_of(values: list[Any]) -> list[dict[str, Any]]:
    return [{"id": i, "ts": v} for i, v in enumerate(values)]


MIXED = [
    pytest.param([1, "2"], ("int", "str"), "convert", id="int-then-text"),
    pytest.param(["2024-01-01", 5], ("int", "str"), "convert", id="text-then-int"),
    pytest.param([1.5, dt.date(2024, 1, 1)], ("date", "float"), "convert", id="number-then-date"),
    pytest.param(
        [dt.datetime(2024, 1, 1, tzinfo=UTC), dt.datetime(2024, 1, 2)],
        ("datetime with a time zone", "datetime without a time zone"),
        "tzinfo",
        id="aware-then-naive",
    ),
    pytest.param([dt.date(2024, 1, 1), dt.datetime(2024, 1, 2)], ("date", "datetime"), "convert", id="date-datetime"),
    pytest.param([True, 2], ("bool", "int"), "convert", id="bool-then-int"),
]


@pytest.mark.parametrize(("values", "types", "fix"), MIXED)
def test_values_of_different_types_name_the_cursor_the_types_and_the_fix(
    values: list[Any], types: tuple[str, ...], fix: str
) -> None:
    with pytest.raises(DataError) as err:
        one_run(hw.incremental("ts"), {}, rows_of(values))
    text = str(err.value)
    assert "incremental cursor 'ts'" in text and err.value.cursor == "ts" and err.value.resource == "events"
    for name in types:
        assert name in text
    assert fix in (err.value.hint or "")


@pytest.mark.parametrize(
    "bad",
    [float("nan"), decimal.Decimal("NaN"), {"a": 1}, [1, 2]],
    ids=["nan", "decimal-nan", "dict", "list"],
)
@pytest.mark.parametrize("position", ["first", "later"])
def test_values_without_an_order_are_refused(bad: Any, position: str) -> None:
    values = [bad, 1.0] if position == "first" else [1.0, 2.0, bad]
    slots: dict[str, Any] = {}
    with pytest.raises(DataError, match="has no order") as err:
        one_run(hw.incremental("ts"), slots, rows_of(values))
    assert type(bad).__name__ in str(err.value)
    hint = err.value.hint or ""
    if isinstance(bad, float | decimal.Decimal):
        assert "None" in hint and "on_cursor_value_missing" in hint
    else:
        assert "cursor_path" in hint
    assert slots.get("ts", {}).get("last_value") is None  # nothing committed


def test_nan_in_an_arrow_column_is_refused_not_reloaded_every_run() -> None:
    table = pa.table({"id": [1, 2, 3], "ts": [1.0, math.nan, 3.0]})
    with pytest.raises(DataError, match=r"nan.*has no order"):
        one_run(hw.incremental("ts"), {}, [table])


def test_a_stored_last_value_of_another_type_says_how_to_start_over() -> None:
    slots: dict[str, Any] = {}
    assert count(one_run(hw.incremental("ts"), slots, rows_of([1, 2, 3]))) == 3
    for item in (rows_of(["4", "5"]), [pa.table({"id": [4, 5], "ts": ["4", "5"]})]):
        with pytest.raises(DataError) as err:
            one_run(hw.incremental("ts"), slots, item)
        text = str(err.value)
        assert "the last value the previous run stored" in text and "int" in text and "str" in text
        assert "headwater pipeline reset PIPELINE --resource events" in (err.value.hint or "")
    assert slots["ts"]["last_value"] == 3


def test_an_initial_value_of_another_type_is_named() -> None:
    with pytest.raises(DataError, match="initial_value") as err:
        one_run(hw.incremental("ts", initial_value="2024-01-01"), {}, rows_of([5, 6]))
    assert "initial_value" in (err.value.hint or "")


def test_numbers_of_different_python_types_still_order() -> None:
    """int, float and Decimal are one family: they order among themselves, rows and Arrow alike."""
    slots: dict[str, Any] = {}
    assert count(one_run(hw.incremental("ts"), slots, rows_of([1, 2.5, decimal.Decimal("3")]))) == 3
    assert count(one_run(hw.incremental("ts"), slots, [pa.table({"id": [7, 8], "ts": [2, 4]})])) == 1
    assert slots["ts"]["last_value"] == 4
    # a float start against an integer Arrow column
    inc = hw.incremental("ts", initial_value=2.5)
    assert count(one_run(inc, {}, [pa.table({"id": [1, 2, 3], "ts": [1, 2, 3]})])) == 1


# -- the class, by property: any mix of values either orders, and a second run of the same rows
# -- loads nothing, or fails with a DataError naming the cursor and the types ----------------------

VALUES = st.one_of(
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=False, places=3),
    st.text(max_size=5),
    st.dates(),
    st.datetimes(timezones=st.sampled_from([None, UTC, dt.timezone(dt.timedelta(hours=2))])),
    st.booleans(),
    st.none(),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
)


def orderable(values: list[Any]) -> bool:
    present = [v for v in values if v is not None]
    kinds = set()
    for v in present:
        if (isinstance(v, float) and math.isnan(v)) or (isinstance(v, decimal.Decimal) and v.is_nan()):
            return False
        if isinstance(v, dict):
            return False
        if isinstance(v, bool):
            kinds.add("bool")
        elif isinstance(v, int | float | decimal.Decimal):
            kinds.add("number")
        elif isinstance(v, dt.datetime):
            kinds.add("aware" if v.utcoffset() is not None else "naive")
        else:
            kinds.add(type(v).__name__)
    return len(kinds) <= 1


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(VALUES, max_size=8))
def test_any_mix_of_values_orders_or_fails_clearly_and_never_reloads(values: list[Any]) -> None:
    inc = hw.incremental("ts", on_cursor_value_missing="exclude")
    slots: dict[str, Any] = {}
    rows = rows_of(values)
    if not orderable(values):
        with pytest.raises(DataError, match="incremental cursor 'ts'") as err:
            one_run(inc, slots, rows)
        assert err.value.hint
        return
    first = count(one_run(inc, slots, rows))
    present = [v for v in values if v is not None]
    assert first == len(present)
    if present:
        assert slots["ts"]["last_value"] is not None
        # the same rows again: nothing passes (no silent reload)
        assert count(one_run(inc, slots, rows)) == 0


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True, width=64), min_size=1, max_size=8))
def test_arrow_float_cursors_order_or_refuse_nan(values: list[float]) -> None:
    inc = hw.incremental("ts")
    slots: dict[str, Any] = {}
    table = pa.table({"id": list(range(len(values))), "ts": pa.array(values, pa.float64())})
    if any(math.isnan(v) for v in values):
        with pytest.raises(DataError):
            one_run(inc, slots, [table])
        return
    assert count(one_run(inc, slots, [table])) == len(values)
    assert count(one_run(inc, slots, [table])) == 0
