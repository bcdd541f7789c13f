"""Whether a transform query is row-wise: each output row depends on one input row of ``records`` only.

A row-wise query runs batch by batch while the resource is extracted (streaming, bounded memory);
any other query needs all of the data at once and runs over the data staged on disk. The query is
parsed by DuckDB itself (``json_serialize_sql``: its parser's syntax tree as JSON) and judged by a
whitelist: one ``SELECT`` over ``records`` alone, without ``GROUP BY``, ``HAVING``, ``QUALIFY``,
``DISTINCT``, ``ORDER BY``, ``LIMIT``, sampling, CTEs or set operations, whose expressions are column
references, constants, parameters, operators, casts, ``CASE`` and calls of non-aggregate functions.
Anything else (a window, a subquery, a lambda, a node this module does not know) is not row-wise:
correct, only slower.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from headwater.errors import ConfigError

#: the syntax tree's expression classes a row-wise query may use
_ROW_WISE_CLASSES = frozenset(
    {
        "COLUMN_REF",
        "CONSTANT",
        "PARAMETER",
        "FUNCTION",
        "OPERATOR",
        "COMPARISON",
        "CONJUNCTION",
        "CASE",
        "CAST",
        "BETWEEN",
        "STAR",
        "COLLATE",
        "TYPE",
    }
)
#: keys of a SELECT node that must be empty in a row-wise query
_EMPTY_KEYS = ("modifiers", "group_expressions", "group_sets", "having", "sample", "qualify")
#: keys of a SELECT node a row-wise query may fill
_KNOWN_KEYS = frozenset(
    {"type", "modifiers", "cte_map", "select_list", "from_table", "where_clause", "aggregate_handling", *_EMPTY_KEYS}
)


def parse(sql: str) -> dict[str, Any]:
    """DuckDB's syntax tree of ``sql`` (one statement, a query).

    Raises:
        ConfigError: the text is not SQL DuckDB can parse, holds several statements or is no query.
    """
    tree = json.loads(_serialized(sql))
    if tree.get("error"):
        raise ConfigError(
            f"the transform is not a query DuckDB can parse: {tree.get('error_message', 'unknown error')}",
            hint="a transform is one SELECT over 'records' (DuckDB's SQL)",
        )
    statements = tree.get("statements") or []
    if len(statements) != 1:
        raise ConfigError(
            f"the transform holds {len(statements)} statements, not one query",
            hint="write one SELECT over 'records'",
        )
    return statements[0]


@functools.lru_cache(maxsize=256)
def _serialized(sql: str) -> str:
    """``json_serialize_sql(sql)`` (cached: a connection costs tens of milliseconds)."""
    import duckdb

    con = duckdb.connect()
    try:
        return con.execute("SELECT json_serialize_sql(?)", [sql]).fetchall()[0][0]
    finally:
        con.close()


def is_row_wise(sql: str) -> bool:
    """Whether ``sql`` (with ``$name`` parameters only) is row-wise (see the module docstring).

    Raises:
        ConfigError: the text is not one query.
    """
    node = parse(sql).get("node") or {}
    if node.get("type") != "SELECT_NODE" or set(node) - _KNOWN_KEYS:
        return False
    if any(node.get(key) for key in _EMPTY_KEYS):
        return False
    if (node.get("cte_map") or {}).get("map"):
        return False
    if node.get("aggregate_handling", "STANDARD_HANDLING") != "STANDARD_HANDLING":
        return False
    table = node.get("from_table") or {}
    if table.get("type") != "BASE_TABLE" or table.get("sample") or table.get("at_clause"):
        return False
    if table.get("schema_name") or table.get("catalog_name") or str(table.get("table_name")).lower() != "records":
        return False
    aggregates = _aggregate_functions()
    expressions = [*(node.get("select_list") or []), node.get("where_clause")]
    return all(_row_wise(e, aggregates) for e in expressions if e is not None)


def _row_wise(expression: Any, aggregates: frozenset[str]) -> bool:
    """Whether every expression class under ``expression`` is whitelisted and no function aggregates."""
    if isinstance(expression, list):
        return all(_row_wise(e, aggregates) for e in expression)
    if not isinstance(expression, dict):
        return True
    if "node" in expression or "subquery" in expression:
        return False
    cls = expression.get("class")
    if cls is not None:
        if cls not in _ROW_WISE_CLASSES:
            return False
        if cls == "FUNCTION":
            name = str(expression.get("function_name", "")).lower()
            ordered = (expression.get("order_bys") or {}).get("orders")
            if name in aggregates or expression.get("distinct") or expression.get("filter") or ordered:
                return False
        if cls == "STAR" and (expression.get("expr") or expression.get("columns")):
            return False  # COLUMNS(...) expressions: judged not row-wise rather than walked
    return all(_row_wise(value, aggregates) for value in expression.values())


@functools.cache
def _aggregate_functions() -> frozenset[str]:
    """The names of DuckDB's aggregate (and window) functions, as the installed version knows them."""
    import duckdb

    con = duckdb.connect()
    try:
        rows = con.execute(
            "SELECT DISTINCT lower(function_name) FROM duckdb_functions() "
            "WHERE function_type IN ('aggregate', 'window') OR function_name = 'count_star'"
        ).fetchall()
    finally:
        con.close()
    return frozenset(r[0] for r in rows) | {"count_star"}
