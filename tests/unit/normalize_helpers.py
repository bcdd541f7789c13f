"""Run the normalizer on Python rows and collect its Arrow output per table."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pyarrow as pa

from headwater.normalize.normalizer import Normalizer
from headwater.schema.hints import TableHints, build_hints
from headwater.schema.model import Schema
from headwater.schema.types import WIDENINGS


def normalize(
    batches: list[list[dict[str, Any]]],
    *,
    hints: TableHints | None = None,
    schema: Schema | None = None,
    table: str = "t",
    widening: Any = WIDENINGS,
    arrow: bool = False,
) -> tuple[Schema, dict[str, list[pa.Table]]]:
    out: dict[str, list[pa.Table]] = defaultdict(list)
    schema = schema or Schema("s")
    n = Normalizer(schema, load_id="L1", sink=lambda t, a: out[t].append(a), widening=widening)
    h = hints or build_hints(resource="r")
    tbl = n.root_table(table, resource="r", hints=h)
    for batch in batches:
        if arrow:
            n.arrow(tbl, batch, h, "r")  # type: ignore[arg-type]
        else:
            n.rows(tbl, batch, h, "r")
    return schema, dict(out)


def column(tables: list[pa.Table], name: str) -> list[Any]:
    """All values of a column across the output tables of one table (None where absent)."""
    values: list[Any] = []
    for t in tables:
        if name in t.column_names:
            values.extend(t.column(name).to_pylist())
        else:
            values.extend([None] * t.num_rows)
    return values


def types(schema: Schema, table: str = "t") -> dict[str, str]:
    return {c.name: str(c.type) for c in schema.tables[table].columns.values() if not c.system}


def nested(depth: int, kind: str, leaf: Any = 1) -> Any:
    """``leaf`` inside ``depth`` levels of objects (``{"a": ...}``) or lists."""
    value: Any = leaf
    for _ in range(depth):
        value = {"a": value} if kind == "dict" else [value]
    return value


def depth_of(text: str) -> int:
    """How deep JSON text nests (its brackets; the test values hold none inside strings)."""
    deepest = level = 0
    for ch in text:
        if ch in "[{":
            level += 1
            deepest = max(deepest, level)
        elif ch in "]}":
            level -= 1
    return deepest
