"""The leaf oracle: every leaf value a source yields is retrievable exactly from the destination.

A *leaf* is a non-null scalar anywhere in a record (inside objects and lists, at any depth). After a
pipeline loads records, every table of its schema is read back and each non-null value of each data
column is a leaf again. The multiset of leaves read back must equal the multiset of leaves given, by
type family and value:

* booleans stay booleans; numbers (int, float, decimal) stay numbers with the same value (``-0.0``
  keeps its sign, NaN stays NaN); integers beyond ``decimal(38,0)`` come back as their digits;
* strings stay strings, with three documented exceptions: a string with lone surrogates comes back as
  its bytes (UTF-8 with ``surrogatepass``), an ISO-8601 string may come back as the timestamp or date
  it denotes (the instant is the same), and JSON columns hold their values as JSON text.

Row counts are checked too: the rows of all tables equal the records plus every list element (each
element of a list is a row of a child table, whatever it holds).
"""

from __future__ import annotations

import datetime as dt
import decimal
import itertools
import json
import math
import os
from collections import Counter
from typing import Any

from hypothesis import strategies as st

Leaf = tuple[str, Any]

DECIMAL_LIMIT = 10**38


def number(value: Any) -> Leaf:
    if isinstance(value, float):
        if math.isnan(value):
            return ("num", "nan")
        if value == 0 and math.copysign(1.0, value) < 0:
            return ("num", "-0.0")
        return ("num", value)
    if isinstance(value, decimal.Decimal):
        if value.is_nan():
            return ("num", "nan")
        if value == value.to_integral_value():
            return ("num", int(value))
        return ("num", value)
    return ("num", value)


def source_leaf(value: Any) -> Leaf:
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int):
        if not -DECIMAL_LIMIT < value < DECIMAL_LIMIT:
            return ("hugeint", str(value))
        return ("num", value)
    if isinstance(value, float | decimal.Decimal):
        return number(value)
    if isinstance(value, str):
        return ("str", value)
    raise TypeError(f"not a JSON leaf: {value!r}")


def walk(value: Any, leaves: list[Leaf]) -> int:
    """Collect the leaves of a value; return how many child-table rows its lists make."""
    rows = 0
    if isinstance(value, dict):
        for v in value.values():
            rows += walk(v, leaves)
    elif isinstance(value, list):
        rows += len(value)
        for v in value:
            rows += walk(v, leaves)
    elif value is not None:
        leaves.append(source_leaf(value))
    return rows


def expected(records: list[dict[str, Any]]) -> tuple[Counter[Leaf], int]:
    leaves: list[Leaf] = []
    rows = len(records)
    for r in records:
        rows += walk(r, leaves)
    return Counter(leaves), rows


def read_back(value: Any, data_type: str) -> tuple[list[Leaf], int]:
    """The leaves of one stored value of a column of ``data_type``, and the rows its lists would have
    made had they been unpacked (a JSON column holds them whole)."""
    if value is None:
        return [], 0
    if data_type == "json":
        out: list[Leaf] = []
        rows = walk(json.loads(value) if isinstance(value, str) else value, out)
        return out, rows
    if isinstance(value, bool):
        return [("bool", value)], 0
    if isinstance(value, int | float | decimal.Decimal):
        return [number(value)], 0
    if isinstance(value, bytes):
        return [("str", value.decode("utf-8", "surrogatepass"))], 0
    if isinstance(value, dt.datetime):
        return [("timestamp", value.astimezone(dt.UTC))], 0
    if isinstance(value, dt.date):
        return [("date", value)], 0
    if isinstance(value, str):
        return [("str", value)], 0
    raise TypeError(f"unexpected stored value {value!r} of a {data_type} column")


def _as_instant(text: str) -> dt.datetime | dt.date | None:
    try:
        if len(text) == 10:
            return dt.date.fromisoformat(text)
        value = dt.datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def compare(given: Counter[Leaf], stored: Counter[Leaf]) -> list[str]:
    """Differences between the leaves given and the leaves stored (empty when they match)."""
    given = Counter(given)
    stored = Counter(stored)
    common = given & stored
    given -= common
    stored -= common
    # text read back where a huge integer was given: its digits
    for leaf, n in list(stored.items()):
        if leaf[0] == "str" and given[("hugeint", leaf[1])]:
            take = min(n, given[("hugeint", leaf[1])])
            given[("hugeint", leaf[1])] -= take
            stored[leaf] -= take
    # timestamps and dates read back where ISO strings were given
    for leaf, n in list(stored.items()):
        if leaf[0] not in ("timestamp", "date") or n <= 0:
            continue
        for g, m in list(given.items()):
            if n <= 0:
                break
            if g[0] != "str" or m <= 0:
                continue
            instant = _as_instant(g[1])
            if instant is None:
                continue
            if leaf[0] == "date":
                same = type(instant) is dt.date and instant == leaf[1]
            else:
                stamp = instant if isinstance(instant, dt.datetime) else dt.datetime.combine(instant, dt.time(), dt.UTC)
                same = stamp == leaf[1]
            if same:
                take = min(n, m)
                given[g] -= take
                stored[leaf] -= take
                n -= take
    problems = []
    missing = +given
    extra = +stored
    if missing:
        problems.append(f"given but not stored: {sorted(missing.items(), key=repr)[:10]}")
    if extra:
        problems.append(f"stored but not given: {sorted(extra.items(), key=repr)[:10]}")
    return problems


def _quarantined(row: str, exact_row: str | None) -> Any:
    """A quarantined row as it was given: ``exact_row`` (NaN literals, ``\\udXXX`` escapes) where the
    readable ``row`` could not say it exactly, else ``row``."""
    return json.loads(row if exact_row is None else exact_row)


def stored_leaves(pipeline: Any) -> tuple[Counter[Leaf], int]:
    """Read every data table of the pipeline's schema back, and the quarantined rows: their leaves and
    their row count (a quarantined record counts its rows as if it had loaded)."""
    schema = pipeline.schema()
    leaves: list[Leaf] = []
    rows = 0
    if "_hw_quarantine" in schema.tables:
        quarantined = pipeline.query('SELECT CAST("row" AS VARCHAR) AS r, exact_row FROM "_hw_quarantine"')
        for row, exact_row in zip(*(c.to_pylist() for c in quarantined.columns), strict=True):
            rows += 1 + walk(_quarantined(row, exact_row), leaves)
    for name, table in schema.tables.items():
        if name.startswith("_hw_"):
            continue
        columns = [c for c in table.columns.values() if not c.system]
        try:
            data = pipeline.query(f'SELECT * FROM "{name}"')
        except Exception as exc:  # table formats and files make a table with its first rows only
            if "does not exist" not in str(exc):
                raise
            continue
        # table formats and files add a column when a load first writes rows to the table
        columns = [c for c in columns if c.name in data.column_names]
        rows += data.num_rows
        for c in columns:
            for value in data.column(c.name).to_pylist():
                found, unpacked = read_back(value, c.data_type)
                leaves.extend(found)
                rows += unpacked
    return Counter(leaves), rows


# -- random nested JSON, the way sources yield it -----------------------------------------------------
KEYS = st.one_of(
    st.sampled_from(["id", "v", "a b", "a_b", "A B", "aB", "a__b", "", " ", "_hw_id", "_hw_load_id", "value", "x"]),
    st.text(max_size=4),
)
TEXT = st.one_of(
    st.text(st.characters(codec=None, exclude_categories=()), max_size=8),
    st.sampled_from(
        [
            "\x00",
            "a\x00b",
            "\ud800",
            "x\udfffy",
            "",
            "2024-01-02",
            "2024-01-02T03:04:05Z",
            "2024-01-02T03:04:05.123456+02:00",
            "2024-01-02 03:04:05.1234567Z",
            "true",
            "1.5",
        ]
    ),
)
NUMBERS = st.one_of(
    st.integers(),
    st.integers(-(2**64), 2**64),
    st.sampled_from([2**53, 2**53 + 1, 2**60 + 1, -(2**63), 2**63, 2**64 - 1, 2**70 + 1, 10**38, 10**38 - 1, 0]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([-0.0, 0.0, 1.5, 2.0, float("nan"), float("inf"), float("-inf"), 1e308, 5e-324]),
)
LEAVES = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT)
VALUES = st.recursive(
    LEAVES,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=20,
)
RECORDS = st.lists(st.dictionaries(KEYS, VALUES, max_size=5), min_size=1, max_size=8)


#: CI (``.ci/run`` sets CI=1) runs the same examples every time; a developer's run explores new ones
DERANDOMIZE = bool(os.environ.get("CI"))


def load_and_compare(pipeline: Any, records: list[dict[str, Any]], cuts: list[int], max_nesting: int | None) -> None:
    """Load ``records`` in runs cut at ``cuts`` (later runs meet the columns and types of earlier ones),
    then check that every leaf and every row came back."""
    bounds = sorted({c for c in cuts if c < len(records)})
    for a, b in itertools.pairwise([0, *bounds, len(records)]):
        pipeline.run(records[a:b], table_name="t", max_nesting=max_nesting)
    given, given_rows = expected(records)
    stored, stored_rows = stored_leaves(pipeline)
    assert compare(given, stored) == []
    assert stored_rows == given_rows
