"""A Python transformer: receives the records as a DuckDB relation, returns a relation."""

from __future__ import annotations

from typing import Any

from duckdb import ColumnExpression, ConstantExpression


def by_country(records: Any, currency: str) -> Any:
    """Order count and revenue per country, labelled with ``currency`` (a value, never SQL text)."""
    totals = records.aggregate("country, count(*) AS orders, round(sum(total), 2) AS revenue", "country")
    columns = [ColumnExpression(c) for c in ("country", "orders", "revenue")]
    return totals.select(*columns, ConstantExpression(currency).alias("currency"))
