"""Airbyte source tests: real connectors (installed by ``python -m tests.connectors ensure``), real
HTTP servers on 127.0.0.1, real DuckDB files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import headwater as hw


@pytest.fixture
def make_pipeline(tmp_path: Path) -> Callable[[str], Any]:
    def make(name: str) -> Any:
        dest = hw.destinations.duckdb(str(tmp_path / f"{name}.duckdb"))
        return hw.pipeline(name, destination=dest, dataset="raw", pipelines_dir=tmp_path / "p", progress=False)

    return make


def query(pipeline: Any, sql: str) -> list[dict[str, Any]]:
    """Rows of ``sql`` run in the pipeline's destination."""
    return list(pipeline.query(sql).to_pylist())
