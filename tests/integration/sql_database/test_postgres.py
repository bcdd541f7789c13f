"""PostgreSQL as a source (a real server): exact values and types with each backend, cursors, ranges, errors."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

import headwater as hw
from headwater.errors import ConfigError, SourceError
from tests.conftest import rows, scalar
from tests.integration.sql_database.conftest import PG_BACKENDS, column_types, needs_connectorx
from tests.pgserver import pg_query
from tests.servers import free_port

UID = uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
DOC = {"a": [1, 2.5, "x"], "nested": {"ok": True, "none": None}, "é": "ü"}
UTC = dt.UTC


@pytest.fixture(params=PG_BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Every test that takes it runs once per PostgreSQL backend."""
    return str(request.param)


@pytest.fixture
def things(pg_url: str, pg_schema: str) -> str:
    """A table of every type the source maps, with a row of NULLs."""
    pg_query(
        pg_url,
        f"""create table {pg_schema}.things (
            id serial primary key, amount numeric(12,2) not null, at timestamptz, doc jsonb, uid uuid,
            note text, data bytea, flag bool, plain timestamp, day date, ratio double precision,
            big numeric(40,10), loose numeric, tags int[], span interval, "MixedCase" varchar(20)
        )""",
    )
    insert = (
        f"insert into {pg_schema}.things (amount, at, doc, uid, note, data, flag, plain, day, ratio, big, loose, "
        'tags, span, "MixedCase") values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)'
    )
    plus_two = dt.timezone(dt.timedelta(hours=2))
    pg_query(pg_url, insert, (
        Decimal("1234567890.12"), dt.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=plus_two), json.dumps(DOC), UID,
        "héllo ✓ 日本", b"\x00\xff\x10", True, dt.datetime(2024, 1, 2, 3, 4, 5), dt.date(2024, 2, 29), 0.1,
        Decimal("123456789012345678901234567890.0123456789"), Decimal("0.000000001"), [1, 2],
        dt.timedelta(hours=25), "Ok",
    ))  # fmt: skip
    nulls = (Decimal("-0.01"), None, None, None, "", b"", False, None, None, None, None, None, [], None, None)
    pg_query(pg_url, insert, nulls)
    pg_query(pg_url, f"insert into {pg_schema}.things (amount) values (0)")
    return pg_schema


EXPECTED_TYPES = {
    "id": "BIGINT",
    "amount": "DECIMAL(12,2)",
    "at": "TIMESTAMP WITH TIME ZONE",
    "doc": "JSON",
    "uid": "UUID",
    "note": "VARCHAR",
    "data": "BLOB",
    "flag": "BOOLEAN",
    "plain": "TIMESTAMP WITH TIME ZONE",
    "day": "DATE",
    "ratio": "DOUBLE",
    "big": "VARCHAR",
    "loose": "DECIMAL(38,9)",
    "tags": "JSON",
    "span": "VARCHAR",
    "mixed_case": "VARCHAR",
}


def test_postgres_types_and_values(pg_url: str, things: str, make_pipeline: Callable[..., Any], backend: str) -> None:
    p = make_pipeline(f"pg_{backend}")
    source = hw.sources.sql_database(pg_url, schema=things, tables=["things"], backend=backend)
    assert p.run(source).table_rows() == {"things": 3}
    assert column_types(p, "things") == EXPECTED_TYPES
    got = rows(p, "select * exclude (_hw_load_id, _hw_id) from raw.things order by id")
    assert got[0] == (
        1, Decimal("1234567890.12"), dt.datetime(2024, 1, 2, 1, 4, 5, 123456, tzinfo=UTC), got[0][3], str(UID),
        "héllo ✓ 日本", b"\x00\xff\x10", True, dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), dt.date(2024, 2, 29), 0.1,
        "123456789012345678901234567890.0123456789", Decimal("0.000000001"), "[1,2]", "1 day 01:00:00", "Ok",
    )  # fmt: skip
    assert json.loads(got[0][3]) == DOC
    assert got[1] == (2, Decimal("-0.01"), None, None, None, "", b"", False, None, None, None, None, None, "[]", None,
                      None)  # fmt: skip
    assert got[2] == (3, Decimal("0.00"), *([None] * 14))
    assert p.schema().tables["things"].primary_key == ["id"]
    assert p.schema().tables["things"].columns["amount"].nullable is False


def test_backends_agree_on_postgres(pg_url: str, things: str) -> None:
    tables = {}
    for backend in ("adbc", "sqlalchemy"):
        source = hw.sources.sql_database(pg_url, schema=things, tables=["things"], backend=backend)
        tables[backend] = pa.concat_tables(list(source.resources["things"])).sort_by("id")
    assert tables["adbc"].schema.equals(tables["sqlalchemy"].schema)
    assert tables["adbc"].equals(tables["sqlalchemy"])
    assert tables["adbc"].schema.field("amount").type == pa.decimal128(12, 2)
    assert tables["adbc"].schema.field("uid").type == pa.uuid()


@needs_connectorx
def test_connectorx_agrees_with_adbc_on_postgres(pg_url: str, things: str) -> None:
    tables = {}
    for backend in ("connectorx", "adbc"):
        source = hw.sources.sql_database(pg_url, schema=things, tables=["things"], backend=backend, chunk_size=2)
        tables[backend] = pa.concat_tables(list(source.resources["things"])).sort_by("id")
    assert tables["connectorx"].schema.equals(tables["adbc"].schema)
    assert tables["connectorx"].equals(tables["adbc"])


def test_postgres_incremental_merge_and_ranges(
    pg_url: str, pg_schema: str, make_pipeline: Callable[..., Any], backend: str
) -> None:
    table = f"{pg_schema}.orders"
    pg_query(pg_url, f"create table {table} (id bigint primary key, status text, updated_at timestamptz not null)")
    t0 = dt.datetime(2024, 5, 1, tzinfo=UTC)
    pg_query(
        pg_url,
        f"insert into {table} select i, 'new', %s + i * interval '1 second' from generate_series(0, 999) as i",
        (t0,),
    )

    def source() -> Any:
        return hw.sources.sql_database(
            pg_url,
            schema=pg_schema,
            backend=backend,
            chunk_size=300,
            incremental={"orders": hw.incremental("updated_at", initial_value="2024-05-01T00:00:00Z")},
            table_hints={"orders": {"write_disposition": "merge"}},
            partition={"orders": {"column": "id", "partitions": 3}},
        )

    p = make_pipeline(f"pg_orders_{backend}")
    assert p.run(source()).table_rows() == {"orders": 1000}
    assert p.run(source()).table_rows() == {}
    pg_query(
        pg_url, f"update {table} set status = 'paid', updated_at = %s where id < 10", (t0 + dt.timedelta(hours=1),)
    )
    pg_query(pg_url, f"insert into {table} values (1000, 'new', %s)", (t0 + dt.timedelta(hours=1),))
    assert p.run(source()).table_rows() == {"orders": 11}
    assert scalar(p, "select count(*) from raw.orders") == 1001
    assert scalar(p, "select count(*) from raw.orders where status = 'paid'") == 10


def test_passwords_never_reach_messages(pg_url: str, pg_schema: str, make_pipeline: Callable[..., Any]) -> None:
    secret = "hunter2-Secret"
    with_password = pg_url.replace("postgres@", f"postgres:{secret}@")  # the test server trusts: any password
    pg_query(pg_url, f"create table {pg_schema}.t (id int primary key)")
    with pytest.raises(ConfigError) as unknown:
        hw.sources.sql_database(with_password, schema=pg_schema, tables=["nope"])
    assert "available: t" in str(unknown.value)
    assert secret not in str(unknown.value)
    for backend in ("adbc", "sqlalchemy"):
        source = hw.sources.sql_database(with_password, query={"bad": "select * from no_such_table"}, backend=backend)
        with pytest.raises(SourceError) as bad:
            make_pipeline(f"bad_{backend}").run(source)
        message = str(bad.value)
        assert "no_such_table" in message
        assert "bad" in message
        assert "postgres:***@127.0.0.1" in message
        assert secret not in message
    closed = f"postgresql://postgres:{secret}@127.0.0.1:{free_port()}/x"  # nothing listens there
    with pytest.raises(SourceError, match="cannot connect") as refused:
        hw.sources.sql_database(closed)
    assert secret not in str(refused.value)
    assert "***" in str(refused.value)
