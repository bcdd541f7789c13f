"""REST API tests: a real HTTP server on 127.0.0.1 per test, real DuckDB files."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.apiserver import APIServer


@pytest.fixture
def api() -> Iterator[APIServer]:
    with APIServer() as server:
        yield server


def records(n: int, start: int = 0) -> list[dict[str, Any]]:
    """Records with a nested object and a list, so child tables are made too."""
    return [
        {"id": i, "name": f"item {i}", "owner": {"login": f"u{i % 7}"}, "tags": [{"t": i % 3}, {"t": 9}]}
        for i in range(start, start + n)
    ]


def ids(pipeline: Any, table: str = "items") -> list[int]:
    return [r["id"] for r in pipeline.query(f"select id from raw.{table} order by id").to_pylist()]
