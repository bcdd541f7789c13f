"""ISO-8601 detection and parsing, vectorized with Arrow, per value only where Arrow gives up.

A new text column whose values all look like ISO-8601 timestamps (``2024-01-02T03:04:05Z``,
``2024-01-02 03:04:05.123+02:00``) becomes a ``timestamp`` column; one whose values are all ISO dates
(``2024-01-02``) becomes a ``date`` column. Timestamps are stored in UTC with microsecond precision;
a timestamp written without an offset is taken to be UTC.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Final

import pyarrow as pa

from headwater.normalize.arrow_types import TIMESTAMP
from headwater.normalize.compute import pc
from headwater.schema.types import DataType

# at most six digits of a second: timestamps hold microseconds, a string with more stays text
TIMESTAMP_PATTERN: Final = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|z|[+-]\d{2}(:?\d{2})?)?$"
DATE_PATTERN: Final = r"^\d{4}-\d{2}-\d{2}$"
_FRACTION_TOO_LONG: Final = re.compile(r"\.\d{7,}")
_OFFSET_PATTERN: Final = r"[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|z|[+-]\d{2}(:?\d{2})?)$"


def _first_valid(arr: pa.Array) -> str | None:
    if arr.null_count == 0:  # no compute: most text columns are told apart from ISO ones by their first value
        return arr[0].as_py() if len(arr) else None
    valid = arr.drop_null()
    if len(valid) == 0:
        return None
    return valid[0].as_py()


def _all_match(arr: pa.Array, pattern: str) -> bool:
    matched = pc.match_substring_regex(arr, pattern)
    return bool(pc.all(matched).as_py() is not False)


def infer_temporal(arr: pa.Array) -> tuple[DataType, pa.Array] | None:
    """For a new text column: its timestamp or date form when every value is ISO-8601, else None."""
    first = _first_valid(arr)
    if first is None or len(first) < 10 or not first[:4].isdigit() or first[4] != "-":
        return None
    if len(first) == 10:
        if not _all_match(arr, DATE_PATTERN):
            return None
        dates, failed = parse_dates(arr)
        return (DataType("date"), dates) if failed is None else None
    if not _all_match(arr, TIMESTAMP_PATTERN):
        return None
    stamps, failed = parse_timestamps(arr)
    return (DataType("timestamp"), stamps) if failed is None else None


def parse_timestamps(arr: pa.Array) -> tuple[pa.Array, pa.Array | None]:
    """Parse ISO-8601 strings to UTC timestamps.

    Returns the parsed array and a boolean mask of the values that did not parse (None if all did);
    unparsed values are null in the parsed array.
    """
    arr = arr.cast(pa.string()) if arr.type != pa.string() else arr
    try:
        return _cast_timestamps(arr), None
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return _parse_each(arr, _parse_timestamp, TIMESTAMP)


def _cast_timestamps(arr: pa.Array) -> pa.Array:
    has_offset = pc.match_substring_regex(arr, _OFFSET_PATTERN)
    any_offset = pc.any(has_offset).as_py()
    all_offset = pc.all(has_offset).as_py() is not False
    if all_offset:
        return arr.cast(TIMESTAMP)
    if not any_offset:
        return arr.cast(pa.timestamp("us")).cast(TIMESTAMP)
    as_utc = pc.if_else(has_offset, arr, pc.binary_join_element_wise(arr, "Z", ""))
    return as_utc.cast(TIMESTAMP)


def parse_dates(arr: pa.Array) -> tuple[pa.Array, pa.Array | None]:
    """Parse ISO dates; same contract as :func:`parse_timestamps`."""
    arr = arr.cast(pa.string()) if arr.type != pa.string() else arr
    if _all_match(arr, DATE_PATTERN):
        try:
            return arr.cast(pa.date32()), None
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    return _parse_each(arr, _parse_date, pa.date32())


def _parse_timestamp(text: str) -> dt.datetime | None:
    if _FRACTION_TOO_LONG.search(text):
        return None  # Python would drop the digits beyond microseconds
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value


def _parse_date(text: str) -> dt.date | None:
    if len(text) != 10:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def _parse_each(arr: pa.Array, parse: object, target: pa.DataType) -> tuple[pa.Array, pa.Array | None]:
    values = arr.to_pylist()
    parsed = [None if v is None else parse(v) for v in values]  # type: ignore[operator]
    failed = [v is not None and p is None for v, p in zip(values, parsed, strict=True)]
    out = pa.array(parsed, type=target)
    return out, (pa.array(failed, type=pa.bool_()) if any(failed) else None)
