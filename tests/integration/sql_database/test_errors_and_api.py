"""What users get wrong, said clearly; and the ways to reach the source (engine, with_resources, queries)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import headwater as hw
from headwater.errors import ConfigError, FatalSourceError, SourceError
from tests.conftest import rows, scalar
from tests.integration.sql_database.conftest import execute, sqlite_db

DDL = "create table items (id integer primary key, name text, updated_at datetime)"


def items_db(path: Path, n: int = 5) -> str:
    return sqlite_db(path, DDL, [(i, f"item {i}", f"2024-01-0{1 + i % 9} 00:00:00") for i in range(n)], "items")


def test_connection_failure_names_the_database(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="cannot connect to sqlite:///") as err:
        hw.sources.sql_database(f"sqlite:///{tmp_path}/no/such/folder/x.db")
    assert "does not exist" in str(err.value)
    assert "its folder" in str(err.value)


@pytest.mark.parametrize("backend", ["auto", "adbc", "sqlalchemy"])
@pytest.mark.parametrize("name", ["does_not_exist.db", "sub/missing.sqlite", "folder_not_file"])
def test_a_missing_sqlite_file_is_an_error_and_nothing_is_created(tmp_path: Path, name: str, backend: str) -> None:
    """A new user's typo: SQLite would create an empty file and the source say "there are no tables"."""
    (tmp_path / "folder_not_file").mkdir()
    before = sorted(p.name for p in tmp_path.rglob("*"))
    with pytest.raises(FatalSourceError, match=r"SQLite database file .* (does not exist|is a folder)") as err:
        hw.sources.sql_database(f"sqlite:///{name}", backend=backend)  # relative to the working directory
    assert "nothing was created" in str(err.value)
    assert str(tmp_path) in str(err.value)  # the absolute path it looked for
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_bad_arguments(tmp_path: Path) -> None:
    url = items_db(tmp_path / "a.db")
    with pytest.raises(ConfigError, match=r"unknown table\(s\) \['item'\]") as err:
        hw.sources.sql_database(url, tables=["item"])
    assert "available: items" in str(err.value)
    with pytest.raises(ConfigError, match="unknown backend"):
        hw.sources.sql_database(url, backend="odbc")
    with pytest.raises(ConfigError, match="chunk_size"):
        hw.sources.sql_database(url, chunk_size=0)
    with pytest.raises(ConfigError, match="not a valid database URL"):
        hw.sources.sql_database("::")
    with pytest.raises(ConfigError, match="credentials must be"):
        hw.sources.sql_database(42)
    with pytest.raises(ConfigError, match="in-memory"):
        hw.sources.sql_database("sqlite://", backend="adbc")
    with pytest.raises(ConfigError, match="unknown hint"):
        hw.sources.sql_database(url, table_hints={"items": {"write_mode": "merge"}})
    with pytest.raises(ConfigError, match="also table names"):
        hw.sources.sql_database(url, tables=["items"], query={"items": "select 1"})
    with pytest.raises(ConfigError, match="partitions read tables"):
        hw.sources.sql_database(url, query={"q": "select 1 as x"}, partition={"q": {"column": "x"}})


def test_a_query_error_names_the_stream(tmp_path: Path, make_pipeline: Callable[..., Any], backend: str) -> None:
    url = items_db(tmp_path / "a.db")
    source = hw.sources.sql_database(url, query={"broken": "select nope from items"}, backend=backend)
    with pytest.raises(FatalSourceError, match="no such column: nope") as err:
        make_pipeline(f"broken_{backend}").run(source)
    assert err.value.where["resource"] == "broken"
    assert "query 'broken'" in str(err.value)


def test_an_engine_and_with_resources(tmp_path: Path, make_pipeline: Callable[..., Any]) -> None:
    import sqlalchemy as sa

    url = items_db(tmp_path / "a.db")
    execute(tmp_path / "a.db", "create table other (id integer primary key)")
    execute(tmp_path / "a.db", "create view first_items as select id, name from items where id < 2")
    source = hw.sources.sql_database(sa.create_engine(url))
    assert sorted(source.resources) == ["items", "other"]  # tables, not views, unless named
    view = hw.sources.sql_database(url, tables=["first_items"])
    assert make_pipeline("view").run(view).table_rows() == {"first_items": 2}
    assert source.name == "sql_database"
    only = source.with_resources("items")
    assert make_pipeline("engine").run(only).table_rows() == {"items": 5}
    assert isinstance(only, hw.sources.sql_database.SQLDatabaseSource)
    memory = sa.create_engine("sqlite://", poolclass=sa.pool.StaticPool)  # one shared in-memory database
    with memory.begin() as conn:
        conn.execute(sa.text("create table m (id integer primary key, v text)"))
        conn.execute(sa.text("insert into m values (1, 'a'), (2, 'b')"))
    assert make_pipeline("memory").run(hw.sources.sql_database(memory)).table_rows() == {"m": 2}


def test_an_incremental_query(tmp_path: Path, make_pipeline: Callable[..., Any], backend: str) -> None:
    path = tmp_path / "a.db"
    url = items_db(path)

    def source() -> Any:
        return hw.sources.sql_database(
            url,
            query={"recent": "select id, name, updated_at from items where id >= 0"},
            incremental={"recent": hw.incremental("updated_at", initial_value="2024-01-02T00:00:00Z")},
            table_hints={"recent": {"primary_key": "id", "columns": {"updated_at": "timestamp"}}},
            backend=backend,
        )

    p = make_pipeline(f"recent_{backend}")
    assert p.run(source()).table_rows() == {"recent": 4}
    execute(
        path, "insert into items values (?, ?, ?)", [(10, "late", "2024-01-05T00:00:00"), (11, "old", "2023-12-31")]
    )
    assert p.run(source()).table_rows() == {"recent": 1}  # on the last value, not loaded before; 11 is too old
    assert scalar(p, "select count(*) from raw.recent") == 5
    assert rows(p, "select id from raw.recent where name = 'late'") == [(10,)]
