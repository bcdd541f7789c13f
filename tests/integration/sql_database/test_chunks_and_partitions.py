"""Chunked reads keep memory bounded; partitioned reads return exactly the rows of the table."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import headwater as hw
from headwater.errors import ConfigError
from tests.conftest import scalar
from tests.integration.sql_database.conftest import sqlite_db

N = 200_000
T0 = dt.datetime(2023, 1, 1)


@pytest.fixture(scope="module")
def big_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """200k rows; ``k`` has duplicates and NULLs, ``ts`` has NULLs and mixed ISO spellings."""

    def row(i: int) -> tuple[Any, ...]:
        ts = None if i % 1000 == 7 else (T0 + dt.timedelta(seconds=37 * i)).isoformat(sep="T" if i % 3 else " ")
        return (i, None if i % 500 == 3 else i % 977, i / 4, f"row {i}", ts)

    return sqlite_db(
        tmp_path_factory.mktemp("big") / "big.db",
        "create table t (id integer primary key, k integer, amount numeric(12,2), name text, ts datetime)",
        (row(i) for i in range(N)),
    )


def read(url: str, backend: str, **kwargs: Any) -> tuple[list[pa.Table], pa.Table]:
    chunks = list(hw.sources.sql_database(url, backend=backend, **kwargs).resources["t"])
    return chunks, pa.concat_tables(chunks).sort_by("id")


def test_chunked_read(big_url: str, make_pipeline: Callable[..., Any], backend: str) -> None:
    source = hw.sources.sql_database(big_url, backend=backend, chunk_size=10_000)
    chunks = list(source.resources["t"])
    assert len(chunks) == 20
    assert all(isinstance(c, pa.Table) and c.num_rows == 10_000 for c in chunks)
    assert all(c.schema == chunks[0].schema for c in chunks)
    p = make_pipeline(f"chunks_{backend}")
    assert p.run(source).table_rows() == {"t": N}
    assert scalar(p, "select count(distinct id) from raw.t") == N


@pytest.mark.parametrize(
    ("column", "partitions"), [("id", 4), ("k", 3), ("ts", 5), ("amount", 2), ("id", 1), ("k", 40)]
)
def test_partitions_equal_the_whole(big_url: str, backend: str, column: str, partitions: int) -> None:
    _, whole = read(big_url, backend, chunk_size=25_000)
    spec = {"t": {"column": column, "partitions": partitions, "workers": 3}}
    chunks, parts = read(big_url, backend, chunk_size=25_000, partition=spec)
    assert parts.num_rows == N
    assert parts.equals(whole)
    assert all(c.num_rows <= 25_000 for c in chunks)


def test_partitions_with_a_cursor(big_url: str, backend: str) -> None:
    inc = {"t": hw.incremental("id", initial_value=150_000)}
    _, whole = read(big_url, backend, incremental=inc)
    _, parts = read(big_url, backend, incremental=inc, partition={"t": {"column": "k", "partitions": 4}})
    assert whole.num_rows == N - 150_000
    assert parts.equals(whole)


def test_partitions_of_an_empty_table(tmp_path: Path, backend: str) -> None:
    url = sqlite_db(tmp_path / "e.db", "create table t (id integer primary key, k integer)")
    (chunk,) = read(url, backend, partition={"t": {"column": "k"}})[0]  # no rows, but the columns and types
    assert chunk.num_rows == 0
    assert chunk.schema.names == ["id", "k"]
    url = sqlite_db(tmp_path / "n.db", "create table t (id integer primary key, k integer)", [(1, None), (2, None)])
    assert read(url, backend, partition={"t": {"column": "k"}})[1].column("id").to_pylist() == [1, 2]


def test_partition_arguments_are_checked(big_url: str) -> None:
    with pytest.raises(ConfigError, match="ranges need"):
        hw.sources.sql_database(big_url, partition={"t": {"column": "name"}})
    with pytest.raises(ConfigError, match="no column"):
        hw.sources.sql_database(big_url, partition={"t": {"column": "nope"}})
    with pytest.raises(ConfigError, match="positive integer"):
        hw.sources.sql_database(big_url, partition={"t": {"column": "id", "partitions": 0}})
    with pytest.raises(ConfigError, match="unknown table"):
        hw.sources.sql_database(big_url, partition={"x": {"column": "id"}})
