"""The SQL source's key ranges are partitions: on worker processes, on a real PostgreSQL server and on a
SQLite file, they give the table one read gives, and one cursor for the table moves on across runs."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

import headwater as hw


def _sqlite(path: Path, n: int, start: int = 0) -> str:
    con = sqlite3.connect(path)
    con.execute("create table if not exists orders (id integer primary key, amount real, updated integer, note text)")
    con.executemany(
        "insert into orders values (?, ?, ?, ?)", [(i, i / 4, i // 10, f"n{i}") for i in range(start, start + n)]
    )
    con.commit()
    con.close()
    return f"sqlite:///{path}"


def _pg(url: str, n: int, start: int = 0) -> str:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "create table if not exists orders (id bigint primary key, amount double precision, updated bigint, "
            "note text)"
        )
        conn.exec_driver_sql(
            f"insert into orders select g, g / 4.0, g / 10, 'n' || g from generate_series({start}, {start + n - 1}) g"
        )
    engine.dispose()
    return url


def _source(url: str, **kw: Any) -> Any:
    return hw.sources.sql_database(
        url,
        tables=["orders"],
        chunk_size=1000,
        incremental={"orders": hw.incremental("updated", initial_value=-1)},
        table_hints={"orders": {"write_disposition": "merge"}},
        **kw,
    )


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_key_ranges_on_worker_processes_equal_one_read_and_share_one_cursor(
    tmp_path: Path, request: pytest.FixtureRequest, database: str
) -> None:
    if database == "sqlite":
        url = _sqlite(tmp_path / "shop.db", 6000)
        more = lambda: _sqlite(tmp_path / "shop.db", 500, start=6000)  # noqa: E731
    else:
        url = _pg(request.getfixturevalue("pg_database"), 6000)
        more = lambda: _pg(url, 500, start=6000)  # noqa: E731

    def pipeline(name: str, executor: Any) -> Any:
        dest = hw.destinations.duckdb(str(tmp_path / f"{name}.duckdb"))
        return hw.pipeline(
            name, destination=dest, dataset="d", pipelines_dir=tmp_path / "p", progress=False, executor=executor
        )

    whole, parted = pipeline("whole", "threads"), pipeline("parted", hw.executors.processes(workers=2))
    assert whole.run(_source(url)).table_rows() == {"orders": 6000}
    info = parted.run(_source(url, partition={"orders": {"column": "id", "partitions": 4}}))
    assert info.table_rows() == {"orders": 6000}
    sql = "select id, amount, updated, note from d.orders order by id"
    assert parted.query(sql).to_pylist() == whole.query(sql).to_pylist()
    state = parted.state.incremental_state("sql_database", "orders")
    assert state["updated"]["last_value"] == 599  # the furthest value of all ranges, one cursor
    more()  # 500 new rows, all in the last range; rows on the last value are not read twice
    again = parted.run(_source(url, partition={"orders": {"column": "id", "partitions": 4}}))
    # only the 500 new rows: the 10 rows on the last value (updated=599) are known from the boundary
    assert again.table_rows() == {"orders": 500}
    assert parted.query("select count(*) as n, count(distinct id) as ids from d.orders").to_pylist() == [
        {"n": 6500, "ids": 6500}
    ]
