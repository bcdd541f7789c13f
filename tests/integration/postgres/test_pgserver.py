"""The PostgreSQL test server (tests/pgserver.py) and its fixtures: pg_url, pg_schema, pg_query."""

from __future__ import annotations

import os
import re
import socket

import psycopg
import pytest

from tests import pgserver
from tests.conftest import pg_query, pg_temp_schema, pg_unavailable


def test_server_accepts_connections_on_loopback(pg_url: str) -> None:
    assert pg_query(pg_url, "SELECT host(inet_server_addr())") == [("127.0.0.1",)]
    assert pg_query(pg_url, "SELECT 1 + 1") == [(2,)]


def test_throwaway_server_settings(pg_url: str) -> None:
    if os.environ.get("HEADWATER_TEST_PG_URL"):
        pytest.skip("HEADWATER_TEST_PG_URL points at an existing server: its settings are not ours to check")
    assert pg_url.startswith("postgresql://postgres@127.0.0.1:")
    assert pg_query(pg_url, "SELECT current_database(), current_user") == [("headwater_test", "postgres")]
    for name, value in [
        ("fsync", "off"),
        ("synchronous_commit", "off"),
        ("full_page_writes", "off"),
        ("listen_addresses", "127.0.0.1"),
        ("max_connections", "100"),
    ]:
        assert pg_query(pg_url, f"SHOW {name}") == [(value,)], name


def test_pg_schema_is_fresh_and_usable(pg_url: str, pg_schema: str) -> None:
    assert re.fullmatch(r"t_[0-9a-f]{16}", pg_schema)
    assert pg_query(pg_url, "SELECT count(*) FROM pg_namespace WHERE nspname = %s", [pg_schema]) == [(1,)]
    assert pg_query(pg_url, "SELECT count(*) FROM pg_tables WHERE schemaname = %s", [pg_schema]) == [(0,)]
    pg_query(pg_url, f"CREATE TABLE {pg_schema}.items (id int PRIMARY KEY, name text)")
    pg_query(pg_url, f"INSERT INTO {pg_schema}.items VALUES (1, 'a'), (2, 'b')")
    assert pg_query(pg_url, f"SELECT id, name FROM {pg_schema}.items ORDER BY id") == [(1, "a"), (2, "b")]


def test_temp_schema_is_dropped_with_its_contents(pg_url: str) -> None:
    names = []
    with pg_temp_schema(pg_url) as name:
        names.append(name)
        pg_query(pg_url, f"CREATE TABLE {name}.items (id int)")
        pg_query(pg_url, f"CREATE VIEW {name}.v AS SELECT id FROM {name}.items")
        pg_query(pg_url, f"INSERT INTO {name}.items VALUES (1)")

    def failing_test_body() -> None:
        with pg_temp_schema(pg_url) as name:
            names.append(name)
            pg_query(pg_url, f"CREATE TABLE {name}.items (id int)")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        failing_test_body()
    assert len(set(names)) == 2
    assert pg_query(pg_url, "SELECT nspname FROM pg_namespace WHERE nspname = ANY(%s)", [names]) == []
    assert pg_query(pg_url, "SELECT count(*) FROM pg_class WHERE relname IN ('items', 'v')") == [(0,)]


def test_second_connection_sees_committed_data(pg_url: str, pg_schema: str) -> None:
    table = f"{pg_schema}.events"
    with psycopg.connect(pg_url) as writer, psycopg.connect(pg_url, autocommit=True) as reader:
        writer.execute(f"CREATE TABLE {table} (id int, payload jsonb)")
        writer.commit()
        writer.execute(f"INSERT INTO {table} VALUES (1, %s::jsonb)", ['{"a": [1, 2]}'])
        assert reader.execute(f"SELECT count(*) FROM {table}").fetchall() == [(0,)]  # not committed yet
        writer.commit()
        assert reader.execute(f"SELECT id, payload FROM {table}").fetchall() == [(1, {"a": [1, 2]})]
    assert pg_query(pg_url, f"SELECT count(*) FROM {table}") == [(1,)]


def test_server_start_and_stop() -> None:
    """A server of its own: it comes up on 127.0.0.1 with the test database; stop() ends it and deletes its folder."""
    try:
        server = pgserver.PgServer.start()
    except pgserver.PgUnavailable as exc:
        pg_unavailable(str(exc))
    try:
        assert server.url == f"postgresql://postgres@127.0.0.1:{server.port}/headwater_test"
        assert pg_query(server.url, "SELECT host(inet_server_addr()), current_database()") == [
            ("127.0.0.1", "headwater_test")
        ]
        assert server.data.is_dir()
    finally:
        server.stop()
    server.stop()  # idempotent
    assert server.process is not None and server.process.returncode is not None
    assert not server.folder.exists()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", server.port), timeout=2):
        pass


def test_missing_postgres_fails_under_the_test_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pgserver, "find_bindir", lambda: None)
    with pytest.raises(pgserver.PgUnavailable, match="apt-get") as info:
        pgserver.ensure_binaries(install=False)
    reason = str(info.value)
    monkeypatch.setenv("HEADWATER_REQUIRE_PG", "1")
    with pytest.raises(pytest.fail.Exception, match=r"required .* unavailable: PostgreSQL.s server binaries"):
        pg_unavailable(reason)
    monkeypatch.delenv("HEADWATER_REQUIRE_PG")
    with pytest.raises(pytest.skip.Exception, match=r"unavailable: PostgreSQL.s server binaries"):
        pg_unavailable(reason)
