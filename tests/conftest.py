"""Shared fixtures: real DuckDB files and pipeline working folders under pytest's tmp_path; a real PostgreSQL
server on 127.0.0.1 for the session (tests/pgserver.py)."""

from __future__ import annotations

import atexit
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import pytest

from tests.mysqlserver import MySQLServer, MySQLUnavailable, mysql_query
from tests.pgserver import PgServer, PgUnavailable, pg_query  # pg_query(url, sql) -> list[tuple], psycopg 3

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared_data(*parts: str) -> Path:
    """A path in ../shared/data; the test is skipped when the folder is absent (a fresh clone)."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (../shared/data is only on the development machine)")
    return path


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never touch the user's ~/.headwater: every test gets its own HEADWATER_HOME and cwd."""
    monkeypatch.setenv("HEADWATER_HOME", str(tmp_path / "hwhome"))
    monkeypatch.chdir(tmp_path)


#: Test modules whose ``make_pipeline`` tests run on both SQL destinations (DuckDB, then PostgreSQL),
#: with the same assertions: what the SQL databases share beyond the conformance suite (tests/conformance,
#: headwater.testing), which runs on every destination.
CONFORMANCE_MODULES = frozenset({"test_sql_destinations", "test_chinook"})
DESTINATIONS = ("duckdb", "postgres")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    module = metafunc.module.__name__.rsplit(".", 1)[-1]
    if "make_pipeline" in metafunc.fixturenames and module in CONFORMANCE_MODULES:
        duckdb_only = metafunc.definition.get_closest_marker("duckdb_only") is not None
        metafunc.parametrize("destination_kind", ("duckdb",) if duckdb_only else DESTINATIONS, indirect=True)


@pytest.fixture
def destination_kind(request: pytest.FixtureRequest) -> str:
    """The destination ``make_pipeline`` builds: ``duckdb`` unless a conformance test asks for another."""
    return str(getattr(request, "param", "duckdb"))


@pytest.fixture
def make_pipeline(
    tmp_path: Path, destination_kind: str, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Any]]:
    """Build a pipeline that writes a real DuckDB file under tmp_path (or, for ``postgres``, a fresh
    database on the session's PostgreSQL server: one per pipeline name, as one DuckDB file per name)."""
    import headwater as hw

    databases: dict[str, str] = {}

    def destination_for(name: str) -> Any:
        if destination_kind == "duckdb":
            return hw.destinations.duckdb(str(tmp_path / f"{name}.duckdb"))
        if name not in databases:
            databases[name] = create_database(request.getfixturevalue("pg_url"))
        return hw.destinations.postgres(databases[name])

    def make(name: str = "test", dataset: str | None = None, **kwargs: Any) -> Any:
        kwargs.setdefault("progress", False)
        kwargs.setdefault("pipelines_dir", tmp_path / "pipelines")
        destination = kwargs.pop("destination", None) or destination_for(name)
        return hw.pipeline(name, destination=destination, dataset=dataset or "raw", **kwargs)

    yield make
    for url in databases.values():
        drop_database(url)


def column_types(pipeline: Any, table: str) -> dict[str, str]:
    """The Headwater types of a table's columns as the destination stores them, read from its catalog
    (``bigint``, ``double``, ``text``, ``timestamp``, ``decimal(12,2)``...), whatever the SQL dialect."""
    with pipeline._client() as client:
        stored = client.read_columns()[client.ident(table)]
        out = {}
        for name, sql_type in stored.items():
            lowered = sql_type.lower().replace(" ", "")
            if lowered.startswith(("decimal", "numeric")):
                out[name] = "decimal" + lowered[lowered.index("(") :] if "(" in lowered else "decimal"
            else:
                out[name] = client.hw_type(sql_type) or sql_type
        return out


def rows(pipeline: Any, sql: str) -> list[tuple[Any, ...]]:
    """Query the pipeline's DuckDB destination; returns tuples."""
    table = pipeline.query(sql)
    cols = table.to_pydict()
    names = list(cols)
    return [tuple(cols[n][i] for n in names) for i in range(table.num_rows)]


def scalar(pipeline: Any, sql: str) -> Any:
    return rows(pipeline, sql)[0][0]


def python() -> str:
    import sys

    return sys.executable


def env_with_path() -> dict[str, str]:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return env


# --- PostgreSQL -------------------------------------------------------------------------------------------------


def pg_required() -> bool:
    """The test command (scripts/test) sets HEADWATER_REQUIRE_PG=1: no PostgreSQL is then a failure, not a skip."""
    return os.environ.get("HEADWATER_REQUIRE_PG", "") not in ("", "0")


def pg_unavailable(reason: str) -> NoReturn:
    """PostgreSQL can't be provided: fail under the test command, skip (with the reason) otherwise."""
    if pg_required():
        pytest.fail(f"PostgreSQL is required (HEADWATER_REQUIRE_PG=1) but unavailable: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL unavailable: {reason}")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """URL of a PostgreSQL database for the session: $HEADWATER_TEST_PG_URL if set, else a throwaway server
    (postgresql://postgres@127.0.0.1:<port>/headwater_test) started now and stopped when the session ends."""
    url = os.environ.get("HEADWATER_TEST_PG_URL")
    if url:
        yield url
        return
    try:
        server = PgServer.start()
    except PgUnavailable as exc:
        pg_unavailable(str(exc))
    atexit.register(server.stop)  # also when the session is interrupted; stop() is idempotent
    try:
        yield server.url
    finally:
        server.stop()


@contextmanager
def pg_temp_schema(url: str) -> Iterator[str]:
    """Create a schema with a fresh unique name (t_<hex>); drop it, with everything in it, on exit."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    pg_query(url, f"CREATE SCHEMA {name}")
    try:
        yield name
    finally:
        pg_query(url, f"DROP SCHEMA IF EXISTS {name} CASCADE")


@pytest.fixture
def pg_schema(pg_url: str) -> Iterator[str]:
    """A fresh, already created schema in the session's database, dropped (CASCADE) after the test."""
    with pg_temp_schema(pg_url) as name:
        yield name


def create_database(server_url: str) -> str:
    """A new, empty database on the server of ``server_url``; returns its URL."""
    name = f"d_{uuid.uuid4().hex[:16]}"
    pg_query(server_url, f"CREATE DATABASE {name}")
    return server_url.rsplit("/", 1)[0] + "/" + name


def drop_database(url: str) -> None:
    server_url = url.rsplit("/", 1)[0] + "/postgres"
    pg_query(server_url, f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")


@pytest.fixture
def pg_database(pg_url: str) -> Iterator[str]:
    """The URL of a fresh database on the session's PostgreSQL server, dropped after the test."""
    url = create_database(pg_url)
    try:
        yield url
    finally:
        drop_database(url)


# --- MariaDB (MySQL) --------------------------------------------------------------------------------------------


def mysql_required() -> bool:
    """The test command (scripts/test) sets HEADWATER_REQUIRE_MYSQL=1: no MariaDB is then a failure, not a skip."""
    return os.environ.get("HEADWATER_REQUIRE_MYSQL", "") not in ("", "0")


@pytest.fixture(scope="session")
def mysql_url() -> Iterator[str]:
    """URL of a MariaDB database for the session: $HEADWATER_TEST_MYSQL_URL if set, else a throwaway server
    (mysql+pymysql://root@127.0.0.1:<port>/headwater_test, time zone +02:00) started now, stopped at the end."""
    url = os.environ.get("HEADWATER_TEST_MYSQL_URL")
    if url:
        yield url
        return
    try:
        import pymysql  # noqa: F401
    except ImportError:
        reason = "pymysql is not installed (pip install -e '.[dev]')"
        if mysql_required():
            pytest.fail(f"MariaDB is required (HEADWATER_REQUIRE_MYSQL=1) but unavailable: {reason}", pytrace=False)
        pytest.skip(reason)
    try:
        server = MySQLServer.start()
    except MySQLUnavailable as exc:
        if mysql_required():
            pytest.fail(f"MariaDB is required (HEADWATER_REQUIRE_MYSQL=1) but unavailable: {exc}", pytrace=False)
        pytest.skip(f"MariaDB unavailable: {exc}")
    atexit.register(server.stop)  # also when the session is interrupted; stop() is idempotent
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def mysql_database(mysql_url: str) -> Iterator[str]:
    """The URL of a fresh database on the session's MariaDB server, dropped after the test."""
    name = f"d_{uuid.uuid4().hex[:16]}"
    mysql_query(mysql_url, f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
    url = mysql_url.rsplit("/", 1)[0] + "/" + name
    try:
        yield url
    finally:
        mysql_query(mysql_url, f"DROP DATABASE IF EXISTS {name}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``slow`` first (in their order), the rest after (in theirs): spread over the workers
    (scripts/test: ``--dist load`` hands out the first tests round-robin), the long ones start at once
    instead of one of them running alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
