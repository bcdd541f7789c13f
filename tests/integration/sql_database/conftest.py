"""SQL database source tests: real SQLite files under tmp_path, the Chinook sample, a real PostgreSQL."""

from __future__ import annotations

import importlib.util
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest

BACKENDS = ("adbc", "sqlalchemy")
HAS_CONNECTORX = importlib.util.find_spec("connectorx") is not None
needs_connectorx = pytest.mark.skipif(
    not HAS_CONNECTORX, reason="connectorx is not installed (pip install 'headwater[connectorx]')"
)
#: PostgreSQL's backends: ConnectorX reads its tables too
PG_BACKENDS = (pytest.param("connectorx", marks=needs_connectorx), "adbc", "sqlalchemy")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Every test that takes it runs once per backend."""
    return str(request.param)


def sqlite_db(path: Path, ddl: str, rows: Iterable[Sequence[Any]] = (), table: str = "t") -> str:
    """Create a SQLite file with one table (``ddl``) and ``rows``; returns its SQLAlchemy URL."""
    with sqlite3.connect(path) as conn:
        conn.execute(ddl)
        rows = list(rows)
        if rows:
            marks = ", ".join("?" * len(rows[0]))
            conn.executemany(f"insert into {table} values ({marks})", rows)
    conn.close()
    return f"sqlite:///{path}"


def execute(path: Path, sql: str, rows: Iterable[Sequence[Any]] | None = None) -> None:
    with sqlite3.connect(path) as conn:
        if rows is None:
            conn.execute(sql)
        else:
            conn.executemany(sql, list(rows))
    conn.close()


def column_types(pipeline: Any, table: str) -> dict[str, str]:
    """DuckDB's type of every non-system column of ``table`` in the pipeline's dataset."""
    found = pipeline.query(
        "select column_name, data_type from information_schema.columns "
        f"where table_name = '{table}' and table_schema = 'raw' order by ordinal_position"
    ).to_pylist()
    return {r["column_name"]: r["data_type"] for r in found if not r["column_name"].startswith("_hw_")}
