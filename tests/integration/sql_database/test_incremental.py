"""Incremental reads: the cursor is pushed into the SQL, runs load each new row once, merge keeps the latest."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import headwater as hw
from headwater.errors import ConfigError
from tests.conftest import rows, scalar
from tests.integration.sql_database.conftest import execute, sqlite_db

DDL = "create table orders (id integer primary key, status text, amount numeric(10,2), updated_at datetime)"
T0 = dt.datetime(2024, 3, 1, 12, 0, 0)


def stamp(minutes: int) -> str:
    return (T0 + dt.timedelta(minutes=minutes)).isoformat(sep=" ")


def orders_db(path: Path, n: int = 10) -> str:
    return sqlite_db(path, DDL, [(i, "new", 10 + i, stamp(i)) for i in range(n)], table="orders")


def test_merge_keeps_the_latest_version(tmp_path: Path, make_pipeline: Callable[..., Any], backend: str) -> None:
    path = tmp_path / "shop.db"
    url = orders_db(path)

    def source() -> Any:
        return hw.sources.sql_database(
            url,
            backend=backend,
            incremental={"orders": hw.incremental("updated_at")},
            table_hints={"orders": {"write_disposition": "merge"}},
        )

    p = make_pipeline(f"merge_{backend}")
    assert p.run(source()).table_rows() == {"orders": 10}
    assert p.run(source()).table_rows() == {}  # nothing new: not even the rows on the last value
    execute(path, "update orders set status = 'paid', updated_at = ? where id in (2, 5, 9)", [(stamp(30),)] * 1)
    execute(path, "insert into orders values (?, 'new', 1, ?)", [(10, stamp(31)), (11, stamp(31))])
    assert p.run(source()).table_rows() == {"orders": 5}
    assert rows(p, "select id, status from raw.orders where status = 'paid' order by id") == [
        (2, "paid"),
        (5, "paid"),
        (9, "paid"),
    ]
    assert scalar(p, "select count(*) from raw.orders") == 12
    assert scalar(p, "select count(distinct id) from raw.orders") == 12
    # a late row exactly on the last value arrives once; rows on it that were loaded do not come back
    execute(path, "insert into orders values (12, 'late', 1, ?)", [(stamp(31),)])
    assert p.run(source()).table_rows() == {"orders": 1}
    assert p.run(source()).table_rows() == {}
    assert scalar(p, "select count(*) from raw.orders") == 13


def test_append_loads_each_inserted_row_once(tmp_path: Path, make_pipeline: Callable[..., Any], backend: str) -> None:
    path = tmp_path / "log.db"
    ddl = "create table events (seq integer primary key, body text)"
    url = sqlite_db(path, ddl, [(i, f"e{i}") for i in range(100)], table="events")
    source = hw.sources.sql_database(url, backend=backend, chunk_size=7)
    source.resources["events"].apply_hints(incremental=hw.incremental("seq"))  # the resource-level way
    p = make_pipeline(f"append_{backend}")
    inserted = 100
    assert p.run(source).table_rows() == {"events": 100}
    for batch in range(3):
        new = [(1000 * (batch + 1) + i, "x") for i in range(batch * 5 + 1)]
        execute(path, "insert into events values (?, ?)", new)
        inserted += len(new)
        assert p.run(source).table_rows() == {"events": len(new)}
    assert scalar(p, "select count(*) from raw.events") == inserted
    assert scalar(p, "select count(distinct seq) from raw.events") == inserted


def test_the_cursor_is_pushed_into_the_sql(tmp_path: Path, backend: str) -> None:
    """The reader alone (without Headwater's cursor filter) returns only rows in the range, in cursor order."""
    path = tmp_path / "shop.db"
    url = sqlite_db(path, DDL, [(i, "s", i, stamp(-i)) for i in range(50)], table="orders")  # newest first
    execute(path, "insert into orders values (?, 's', 0, ?)", [(100, "2024-03-01T11:50:00+00:00"), (101, None)])
    source = hw.sources.sql_database(url, backend=backend)
    reader = source.resources["orders"].reader
    cursor = hw.incremental("updated_at", initial_value="2024-03-01 11:50:00", end_value="2024-03-01T11:59:59Z")
    table = pa.concat_tables(list(reader.with_incremental(cursor).read(cursor)))
    # 11:50:00 <= updated_at < 11:59:59, plus the row without a value (the cursor filter decides about it)
    got = [(r["id"], r["updated_at"]) for r in table.to_pylist()]
    assert {i for i, _ in got} == {101, 100, *range(1, 11)}
    ordered = [i for i, _ in got if i < 100]  # ORDER BY the cursor (SQLite orders its text)
    assert ordered == list(range(10, 0, -1))
    excluded = hw.incremental("updated_at", initial_value=stamp(-5), on_cursor_value_missing="exclude")
    table = pa.concat_tables(list(reader.with_incremental(excluded).read(excluded)))
    assert sorted(table.column("id").to_pylist()) == [0, 1, 2, 3, 4, 5]


def test_initial_and_end_values_backfill(tmp_path: Path, make_pipeline: Callable[..., Any], backend: str) -> None:
    url = orders_db(tmp_path / "shop.db", 20)
    source = hw.sources.sql_database(
        url,
        backend=backend,
        incremental={"orders": hw.incremental("updated_at", initial_value=stamp(5), end_value=stamp(15))},
    )
    p = make_pipeline(f"backfill_{backend}")
    p.run(source)
    assert rows(p, "select min(id), max(id), count(*) from raw.orders") == [(5, 14, 10)]


def test_a_decimal_cursor_and_a_shrinking_cursor(tmp_path: Path, backend: str) -> None:
    url = orders_db(tmp_path / "shop.db", 20)
    source = hw.sources.sql_database(url, backend=backend)
    reader = source.resources["orders"].reader
    by_amount = hw.incremental("amount", initial_value="25.00")
    ids = pa.concat_tables(list(reader.with_incremental(by_amount).read(by_amount))).column("id").to_pylist()
    assert ids == list(range(15, 20))
    down = hw.incremental("id", initial_value=4, last_value_func=min)
    ids = pa.concat_tables(list(reader.with_incremental(down).read(down))).column("id").to_pylist()
    assert ids == [4, 3, 2, 1, 0]


def test_a_cursor_on_an_unknown_column_is_refused(tmp_path: Path) -> None:
    url = orders_db(tmp_path / "shop.db")
    with pytest.raises(ConfigError, match="no column 'updatedAt'") as err:
        hw.sources.sql_database(url, incremental={"orders": hw.incremental("updatedAt")})
    assert "updated_at" in str(err.value)
    with pytest.raises(ConfigError, match="unknown table"):
        hw.sources.sql_database(url, incremental={"order": hw.incremental("updated_at")})
    with pytest.raises(ConfigError, match="not a value of column"):
        hw.sources.sql_database(url, incremental={"orders": hw.incremental("updated_at", initial_value="yesterday")})


def test_a_cursor_as_the_resource_argument(tmp_path: Path, make_pipeline: Callable[..., Any], backend: str) -> None:
    url = orders_db(tmp_path / "shop.db", 20)
    source = hw.sources.sql_database(url, backend=backend)
    recent = source.resources["orders"](cursor=hw.incremental("updated_at", initial_value=stamp(15)))
    p = make_pipeline(f"argument_{backend}")
    assert p.run(recent).table_rows() == {"orders": 5}
    assert p.run(recent).table_rows() == {}
    reader = recent.reader
    ids = pa.concat_tables(list(reader.read(hw.incremental("id", initial_value=18)))).column("id").to_pylist()
    assert ids == [18, 19]
