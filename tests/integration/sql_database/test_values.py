"""The conversions every backend's values go through: exact, or refused (pure functions, checked by property)."""

from __future__ import annotations

import datetime as dt
import math

import pyarrow as pa
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from headwater.sources.sql_database.values import (
    Refused,
    bool_from_numbers,
    duration_text,
    each,
    float32_as_double,
    infinite_index,
    real_text,
    time_from_duration,
    time_from_text,
)

PURE = settings(deadline=None)  # pure functions; the first call pays for pyarrow.compute's imports


@PURE
@given(st.floats(allow_nan=False, allow_infinity=False))
@example(-0.0)
@example(0.0)
def test_real_text_reads_back_as_the_same_float(v: float) -> None:
    text = real_text(v)
    assert float(text) == v
    assert math.copysign(1, float(text)) == math.copysign(1, v)
    assert "." in text.split("e")[0]  # SQLite's form: 1.0, 1.0e+300


@PURE
@given(st.timedeltas(min_value=dt.timedelta(hours=-838), max_value=dt.timedelta(hours=838)))
def test_durations_are_times_of_day_only_within_a_day(v: dt.timedelta) -> None:
    """A MySQL TIME is a duration: within a day it is a time, otherwise refused, never wrapped."""
    arr = pa.array([v], pa.duration("us"))
    converted, bad = time_from_duration(arr, pa.time64("us"))
    text_converted, text_bad = time_from_text(pa.array([duration_text(v)]), pa.time64("us"))
    if dt.timedelta(0) <= v < dt.timedelta(days=1):
        assert bad is None and text_bad is None
        assert converted.to_pylist() == text_converted.to_pylist() == [(dt.datetime.min + v).time()]
    else:
        assert bad == 0 and text_bad == 0
        with pytest.raises(Refused):
            each([v], pa.time64("us"), "time")


@PURE
@given(st.lists(st.integers(-5, 5) | st.none(), max_size=20))
def test_only_zero_and_one_are_booleans(values: list[int | None]) -> None:
    converted, bad = bool_from_numbers(pa.array(values, pa.int64()))
    if all(v in (0, 1, None) for v in values):
        assert bad is None
        assert converted.to_pylist() == [None if v is None else bool(v) for v in values]
    else:
        assert values[bad] not in (0, 1, None)


@PURE
@given(st.lists(st.integers() | st.floats(allow_nan=False), min_size=1, max_size=10))
def test_integers_are_never_truncated(values: list[float]) -> None:
    """pa.array([1.5], type=pa.int64()) is [1]: every value goes through an exact conversion."""
    exact = all((isinstance(v, int) or v.is_integer()) and -(2**63) <= v < 2**63 for v in values)
    if exact:
        assert each(list(values), pa.int64(), "int").to_pylist() == [int(v) for v in values]
    else:
        with pytest.raises(Refused):
            each(list(values), pa.int64(), "int")


@PURE
@given(st.floats(width=32, allow_nan=False, allow_infinity=False))
def test_single_precision_reads_as_its_shortest_decimal(v: float) -> None:
    import numpy as np

    (double,) = float32_as_double(pa.array([v], pa.float32())).to_pylist()
    assert double == float(str(np.float32(v)))  # numpy prints a single's shortest decimal, as PostgreSQL does
    assert pa.array([double], pa.float64()).cast(pa.float32()).to_pylist() == [v]  # the same single


def test_adbcs_postgres_infinity_is_found() -> None:
    """ADBC shifts PostgreSQL's infinity (the extreme 64-bit value) by the 2000 epoch, wrapping around."""
    minus_infinity = -(2**63) + 946_684_800_000_000  # PostgreSQL's -infinity plus the epoch shift
    plus_infinity = minus_infinity - 1  # infinity: 2**63 - 1 plus the shift, wrapped around
    assert infinite_index(pa.array([None, 1704067200000000], pa.timestamp("us"))) is None
    assert infinite_index(pa.array([1704067200000000, minus_infinity], pa.timestamp("us"))) == 1
    assert infinite_index(pa.array([plus_infinity], pa.timestamp("us", tz="UTC"))) == 0
    assert infinite_index(pa.array([19723, -(2**31) + 10957], pa.date32())) == 1
    assert infinite_index(pa.array([dt.date(1, 1, 1), dt.date(9999, 12, 31)], pa.date32())) is None
