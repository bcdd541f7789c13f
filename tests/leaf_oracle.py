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
import json
import math
from collections import Counter
from typing import Any

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


def read_back(value: Any, data_type: str) -> list[Leaf]:
    """The leaves of one stored value of a column of ``data_type``."""
    if value is None:
        return []
    if data_type == "json":
        out: list[Leaf] = []
        walk(json.loads(value) if isinstance(value, str) else value, out)
        return out
    if isinstance(value, bool):
        return [("bool", value)]
    if isinstance(value, int | float | decimal.Decimal):
        return [number(value)]
    if isinstance(value, bytes):
        return [("str", value.decode("utf-8", "surrogatepass"))]
    if isinstance(value, dt.datetime):
        return [("timestamp", value.astimezone(dt.UTC))]
    if isinstance(value, dt.date):
        return [("date", value)]
    if isinstance(value, str):
        return [("str", value)]
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


def stored_leaves(pipeline: Any) -> tuple[Counter[Leaf], int]:
    """Read every data table of the pipeline's schema back: its leaves and its row count."""
    schema = pipeline.schema()
    leaves: list[Leaf] = []
    rows = 0
    for name, table in schema.tables.items():
        if name.startswith("_hw_"):
            continue
        columns = [c for c in table.columns.values() if not c.system]
        quoted = ", ".join('"' + c.name.replace('"', '""') + '"' for c in columns) or "1 AS _"
        data = pipeline.query(f'SELECT {quoted} FROM "{name}"')
        rows += data.num_rows
        for c in columns:
            for value in data.column(c.name).to_pylist():
                leaves.extend(read_back(value, c.data_type))
    return Counter(leaves), rows
