"""ConnectorX and reading ahead on a real PostgreSQL: the backend option, which backend reads what, every row
read ahead (whole, stopped early, or up to a failure, with nothing already read lost)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import headwater as hw
from headwater.errors import ConfigError, DataError, SourceError
from tests.conftest import scalar
from tests.integration.sql_database.conftest import HAS_CONNECTORX, PG_BACKENDS, needs_connectorx, sqlite_db
from tests.pgserver import pg_query

ROWS = 20_000


@pytest.fixture(params=PG_BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def numbers(pg_url: str, pg_schema: str) -> str:
    """``numbers``: 20,000 rows of six types, NULLs every 7th row, text of 0 to 99 characters."""
    pg_query(
        pg_url,
        f"create table {pg_schema}.numbers (id bigint primary key, amount numeric(12,2), at timestamptz, "
        "day date, note text, flag bool)",
    )
    pg_query(
        pg_url,
        f"insert into {pg_schema}.numbers select i, case when i % 7 = 0 then null else i * 3 + 0.25 end, "
        "timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second', date '2024-01-01' + (i % 365), "
        f"case when i % 7 = 3 then null else repeat('x', i % 100) end, i % 2 = 0 from generate_series(1, {ROWS}) i",
    )
    return pg_schema


def read(url: str, schema: str, backend: str, **kwargs: Any) -> tuple[list[pa.Table], pa.Table]:
    source = hw.sources.sql_database(url, schema=schema, tables=["numbers"], backend=backend, **kwargs)
    chunks = list(source.resources["numbers"])
    return chunks, pa.concat_tables(chunks).sort_by("id")


# -- the option --------------------------------------------------------------------------------------------------
def test_an_unknown_backend_names_the_closest(tmp_path: Path) -> None:
    url = sqlite_db(tmp_path / "a.db", "create table t (id integer primary key)")
    with pytest.raises(ConfigError, match="unknown backend 'conectorx'") as wrong:
        hw.sources.sql_database(url, backend="conectorx")
    assert "did you mean 'connectorx'?" in str(wrong.value)
    assert "adbc, auto, connectorx, sqlalchemy" in str(wrong.value)
    with pytest.raises(ConfigError, match="unknown backend 1"):
        hw.sources.sql_database(url, backend=1)  # type: ignore[arg-type]


def test_connectorx_reads_postgresql_only(tmp_path: Path) -> None:
    url = sqlite_db(tmp_path / "a.db", "create table t (id integer primary key)")
    with pytest.raises(ConfigError, match="backend='connectorx' reads postgresql databases, not sqlite"):
        hw.sources.sql_database(url, backend="connectorx")
    assert not hw.sources.sql_database(url).resources["t"].reader.backend.use_cx  # auto: ADBC or SQLAlchemy


def test_auto_reads_tables_with_connectorx_and_queries_without(pg_url: str, numbers: str) -> None:
    source = hw.sources.sql_database(pg_url, schema=numbers, tables=["numbers"], query={"q": "select 1 as one"})
    assert source.resources["numbers"].reader.backend.use_cx is HAS_CONNECTORX
    assert not source.resources["q"].reader.backend.use_cx
    assert [c.to_pylist() for c in source.resources["q"]] == [[{"one": 1}]]
    adbc = hw.sources.sql_database(pg_url, schema=numbers, tables=["numbers"], backend="adbc")
    assert not adbc.resources["numbers"].reader.backend.use_cx


# -- reading ahead -----------------------------------------------------------------------------------------------
def test_every_row_read_ahead_equals_the_rows_read_in_place(pg_url: str, numbers: str, backend: str) -> None:
    chunks, ahead = read(pg_url, numbers, backend, chunk_size=1_500)
    _, in_place = read(pg_url, numbers, "sqlalchemy", chunk_size=ROWS)  # one chunk, on this thread
    assert [c.num_rows for c in chunks] == [1_500] * 13 + [ROWS - 13 * 1_500]
    assert ahead.num_rows == ROWS
    assert ahead.equals(in_place)


def test_a_read_stopped_early_ends_its_thread(pg_url: str, numbers: str, backend: str) -> None:
    source = hw.sources.sql_database(pg_url, schema=numbers, tables=["numbers"], backend=backend, chunk_size=1_000)
    first = list(source.resources["numbers"].add_limit(3))
    assert [c.num_rows for c in first] == [1_000] * 3
    assert not [t for t in threading.enumerate() if t.name == "hw-read-ahead"]


def test_a_failure_mid_read_keeps_every_row_read_before_it(
    pg_url: str, pg_schema: str, backend: str, make_pipeline: Callable[..., Any]
) -> None:
    # rows of 1 kB, so that ADBC's driver (16 MB batches) hands over several batches before the bad one
    pg_query(pg_url, f"create table {pg_schema}.events (id bigint primary key, at timestamptz, pad text)")
    pg_query(
        pg_url,
        f"insert into {pg_schema}.events select i, case when i = 50000 then 'infinity' else timestamptz "
        "'2024-01-01 00:00:00+00' + i * interval '1 minute' end, repeat('x', 1000) from generate_series(1, 60000) i",
    )

    def source() -> Any:  # ordered by id (the cursor): a plain scan of a big table may start anywhere in it
        inc = {"events": hw.incremental("id", initial_value=0)}
        return hw.sources.sql_database(pg_url, schema=pg_schema, backend=backend, chunk_size=2_000, incremental=inc)

    before: list[pa.Table] = []
    with pytest.raises(DataError, match="infinity") as refused:
        before.extend(source().resources["events"])
    assert refused.value.where == {"table": "events", "column": "at"}
    read_before = sum(c.num_rows for c in before)
    assert 0 < read_before < 50_000
    p = make_pipeline(f"midway_{backend}")
    with pytest.raises(DataError, match=f"{read_before:,} rows extracted before the failure are kept"):
        p.run(source())
    assert p.load(include_partial=True).table_rows() == {"events": read_before}
    assert scalar(p, "select count(distinct id) from raw.events") == read_before
    assert scalar(p, "select max(id) from raw.events") < 50_000


# -- ConnectorX's failures ---------------------------------------------------------------------------------------
@needs_connectorx
def test_a_table_connectorx_cannot_read_is_read_by_adbc_under_auto(
    pg_url: str, numbers: str, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "hunter2-Secret"
    # libpq (ADBC, psycopg) takes this option; ConnectorX's driver refuses it before reading a row
    url = pg_url.replace("postgres@", f"postgres:{secret}@") + "?fallback_application_name=headwater"
    auto = hw.sources.sql_database(url, schema=numbers, tables=["numbers"])
    assert auto.resources["numbers"].reader.backend.use_cx
    _, whole = read(pg_url, numbers, "adbc")
    assert pa.concat_tables(list(auto.resources["numbers"])).sort_by("id").equals(whole)
    assert "ConnectorX cannot read table" in caplog.text and "reading it with ADBC" in caplog.text
    assert secret not in caplog.text
    forced = hw.sources.sql_database(url, schema=numbers, tables=["numbers"], backend="connectorx")
    with pytest.raises(SourceError, match="reading table") as refused:
        list(forced.resources["numbers"])
    assert "fallback_application_name" in str(refused.value)
    assert secret not in str(refused.value)


@needs_connectorx
def test_connectorx_refuses_infinity_and_keeps_single_precision(pg_url: str, pg_schema: str) -> None:
    pg_query(pg_url, f"create table {pg_schema}.m (id int primary key, at timestamp, day date, r real)")
    pg_query(pg_url, f"insert into {pg_schema}.m values (1, '2024-01-01', '2024-01-01', 1.1), (2, null, null, 'NaN')")
    (chunk,) = list(hw.sources.sql_database(pg_url, schema=pg_schema, backend="connectorx").resources["m"])
    assert chunk.column("r").to_pylist()[0] == 1.1  # not 1.100000023841858: as psycopg and ADBC read it
    for column, value in [("at", "-infinity"), ("day", "infinity"), ("day", "262142-12-31")]:
        pg_query(pg_url, f"update {pg_schema}.m set {column} = '{value}' where id = 2")
        source = hw.sources.sql_database(pg_url, schema=pg_schema, backend="connectorx")
        with pytest.raises(DataError, match="infinity") as refused:
            list(source.resources["m"])
        assert refused.value.where == {"table": "m", "column": column}
        pg_query(pg_url, f"update {pg_schema}.m set {column} = null where id = 2")
