"""Reading a pipeline's tables back through its public API (``pipeline.query``: DuckDB's SQL on every
built-in destination), as plain tuples."""

from __future__ import annotations

from typing import Any


def rows(pipeline: Any, sql: str) -> list[tuple[Any, ...]]:
    """The rows of ``pipeline.query(sql)`` as tuples, in the query's order."""
    table = pipeline.query(sql)
    cols = [column.to_pylist() for column in table.columns]  # by position: names may repeat (count, count)
    return list(zip(*cols, strict=True)) if cols else []


def scalar(pipeline: Any, sql: str) -> Any:
    """The first value of the first row of ``pipeline.query(sql)``."""
    return rows(pipeline, sql)[0][0]


def values(pipeline: Any, table: str, *columns: str) -> list[tuple[Any, ...]]:
    """``columns`` of every row of ``table``, sorted (by their repr: None sorts with the rest)."""
    data = pipeline.query(f'SELECT {", ".join(columns)} FROM "{table}"').to_pylist()
    return sorted((tuple(row[c] for c in columns) for row in data), key=repr)
