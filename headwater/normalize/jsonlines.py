"""JSON lines parsed by Arrow's JSON reader when it gives exactly the values orjson would.

A connector writes its records as JSON lines (a Singer tap: ``{"type": "RECORD", "stream": "users",
"record": {...}}``). Parsing them with orjson into dicts and converting the dicts to Arrow costs most of
a load's time; Arrow's JSON reader parses the same bytes into columns in C++, on every core, five to ten
times faster. It is used only where its result is the one the careful path gives, which it is not on
its own:

- it reads text like ``"2026-01-02"`` or ``"2026-01-02T03:04:05+02:00"`` as a timestamp (moved to UTC);
- an integer beyond 64 bits, or among doubles, becomes a double (``12345678901234567890.0``);
- it accepts ``NaN`` and ``Infinity``, which are not JSON (orjson refuses the line);
- it crashes on values nested thousands of levels deep.

So :func:`read_json_rows` declares the types a JSON Schema gives (text stays text; a value of another
kind is an error), refuses any timestamp, any double that is not finite or not below 2**53 (the last
integer a double holds exactly), lines that could nest more than :data:`ARROW_OPENS` levels, and any
line the reader refuses (duplicate keys, invalid UTF-8, kinds that change between rows); it returns
None then, and the caller parses the lines with orjson as before. The lines are kept: the quarantine
and scd2's row hashes read the rows as they came (an Arrow struct lists every field of every row).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson
import pyarrow as pa
import pyarrow.json as pj

from headwater.normalize.arrow_types import is_list_like
from headwater.normalize.compute import pc

#: lines of fewer bytes than this cannot open more than half as many objects and lists
ARROW_OPENS: Final = 1000
#: fewer lines than this are parsed by orjson: the reader's start costs more than it saves
MIN_LINES: Final = 32
#: doubles at or above this magnitude may be integers a double cannot hold exactly
DOUBLE_EXACT: Final = 2**53
_BLOCK: Final = 1 << 20
_PLAIN: Final = frozenset({pa.null(), pa.bool_(), pa.int64(), pa.float64(), pa.string()})


@dataclass(frozen=True, slots=True, eq=False)
class JsonRows:
    """Rows parsed from JSON lines: ``table`` as Arrow read them, ``lines`` as they came (each an
    object; the row is its ``field``, or the whole object)."""

    table: pa.Table
    lines: list[bytes]
    field: str | None = None

    def __len__(self) -> int:
        return len(self.lines)

    def row(self, i: int) -> dict[str, Any]:
        """Row ``i`` as orjson reads it."""
        value: dict[str, Any] = orjson.loads(self.lines[i])
        return value if self.field is None else value[self.field]

    def rows(self) -> list[dict[str, Any]]:
        """Every row as orjson reads it."""
        values = orjson.loads(b"[" + b",".join(self.lines) + b"]")
        return values if self.field is None else [v[self.field] for v in values]

    def slice(self, start: int, stop: int) -> JsonRows:
        """Rows ``start`` to ``stop``."""
        return JsonRows(self.table.slice(start, stop - start), self.lines[start:stop], self.field)

    @staticmethod
    def concat(parts: list[JsonRows]) -> JsonRows:
        """One piece of ``parts`` (which have one schema and one field)."""
        if len(parts) == 1:
            return parts[0]
        lines = [line for p in parts for line in p.lines]
        return JsonRows(pa.concat_tables([p.table for p in parts]), lines, parts[0].field)


def read_json_rows(
    lines: list[bytes],
    *,
    field: str | None = None,
    declared: pa.StructType | None = None,
    expect: Mapping[str, str] | None = None,
) -> JsonRows | None:
    """``lines`` (JSON objects, without newlines) parsed by Arrow, or None where that could differ
    from orjson's values (see the module docstring) or there are too few lines to gain.

    Args:
        field: the row is this field of each object (``record``); None: the whole object.
        declared: types of the row's fields (a struct), from a JSON Schema; the rest are inferred.
        expect: text fields each object must have with these values (``{"type": "RECORD"}``).
    """
    if len(lines) < MIN_LINES or _may_nest_deep(lines):
        return None
    fields = [pa.field(k, pa.string()) for k in expect or {}]
    if field is not None and declared is not None:
        fields.append(pa.field(field, declared))
    elif field is None and declared is not None:
        fields.extend(declared)
    options = pj.ParseOptions(explicit_schema=pa.schema(fields)) if fields else None
    try:
        table = pj.read_json(io.BytesIO(b"\n".join(lines)), parse_options=options, read_options=_READ)
    except (pa.ArrowException, ValueError):  # not JSON, duplicate keys, a kind that changes, bad UTF-8...
        return None
    if table.num_rows != len(lines) or not _expected(table, expect or {}):
        return None
    if field is not None:
        if field not in table.column_names:
            return None
        column = table.column(field)
        if not pa.types.is_struct(column.type) or column.null_count:
            return None
        table = pa.Table.from_struct_array(column)
    if not all(_exact(chunk) for column in table.columns for chunk in column.chunks):
        return None
    return JsonRows(table, lines, field)


_READ: Final = pj.ReadOptions(block_size=_BLOCK)


def _may_nest_deep(lines: list[bytes]) -> bool:
    if max(map(len, lines)) <= 2 * ARROW_OPENS:
        return False
    return any(line.count(b"{") + line.count(b"[") > ARROW_OPENS for line in lines if len(line) > 2 * ARROW_OPENS)


def _expected(table: pa.Table, expect: Mapping[str, str]) -> bool:
    for name, value in expect.items():
        column = table.column(name)
        if column.null_count or not pc.all(pc.equal(column, value)).as_py():
            return False
    return True


def _exact(arr: pa.Array) -> bool:
    """Whether every value of ``arr`` is what orjson would have read: plain JSON types only, doubles
    finite and below :data:`DOUBLE_EXACT` (iteratively: values nest deep)."""
    stack = [arr]
    while stack:
        a = stack.pop()
        t = a.type
        if pa.types.is_struct(t):
            stack.extend(a.field(i) for i in range(t.num_fields))
        elif is_list_like(t):
            if not pa.types.is_list(t):
                return False
            stack.append(a.values)
        elif t not in _PLAIN:
            return False  # a timestamp read from text
        elif t == pa.float64() and a.null_count < len(a) and not pc.all(pc.less(pc.abs(a), DOUBLE_EXACT)).as_py():
            return False  # NaN compares false
    return True
