"""What the scale tests share: pipelines into a DuckDB file, the extraction log, queries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

import headwater as hw


def make(tmp_path: Path, name: str, executor: Any) -> Any:
    """A pipeline ``name`` into ``tmp_path/<name>.duckdb`` (dataset ``d``) on ``executor``."""
    dest = hw.destinations.duckdb(str(tmp_path / f"{name}.duckdb"))
    return hw.pipeline(
        name, destination=dest, dataset="d", pipelines_dir=tmp_path / "p", progress=False, executor=executor
    )


def extractions(log: Path) -> list[str]:
    """The partitions extracted, one line each, in order (``$HW_TEST_LOG``)."""
    return log.read_text().splitlines() if log.exists() else []


def table(tmp_path: Path, name: str, sql: str) -> list[tuple[Any, ...]]:
    """The rows of ``sql`` on pipeline ``name``'s DuckDB file."""
    with duckdb.connect(str(tmp_path / f"{name}.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()
