"""MySQL (a real MariaDB server, time zone +02:00) as a source: every type against what the driver returns.

Every value the database holds is loaded exactly (same family, same value) or the run fails with an error
naming the table and the column; the expected values are read with PyMySQL itself, in a UTC session.
"""

from __future__ import annotations

import datetime as dt
import decimal
import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa
import pytest

import headwater as hw
from headwater.errors import DataError
from tests.conftest import column_types
from tests.mysqlserver import mysql_query

UTC = dt.UTC

# (column type, SQL literals of the values it holds, Headwater type). One table holds them all, a column each.
# fmt: off
TYPES: list[tuple[str, list[str], str]] = [
    ("tinyint", ["-128", "127", "0"], "bigint"),
    ("tinyint unsigned", ["255"], "bigint"),
    ("smallint", ["-32768", "32767"], "bigint"),
    ("smallint unsigned", ["65535"], "bigint"),
    ("mediumint", ["-8388608", "8388607"], "bigint"),
    ("mediumint unsigned", ["16777215"], "bigint"),
    ("int", ["-2147483648", "2147483647"], "bigint"),
    ("int unsigned", ["4294967295"], "bigint"),
    ("bigint", ["-9223372036854775808", "9223372036854775807"], "bigint"),
    ("bigint unsigned", ["18446744073709551615", "0"], "decimal(20,0)"),
    ("boolean", ["0", "1"], "bool"),
    ("tinyint(1)", ["1", "0"], "bool"),
    ("bit(1)", ["b'1'", "b'0'"], "bool"),
    ("bit(8)", ["0xA5", "b'0'"], "binary"),
    ("bit(64)", ["0xFFFFFFFFFFFFFFFF", "1"], "binary"),
    ("decimal(10,3)", ["1.5", "-9999999.999", "0.001"], "decimal(10,3)"),
    ("decimal(38,10)", ["1234567890123456789012345678.0123456789"], "decimal(38,10)"),
    ("decimal(65,30)", ["12345678901234567890123456789012345.123456789012345678901234567890"], "text"),
    ("numeric(5) unsigned", ["99999"], "decimal(5,0)"),
    ("float", ["1.1", "3.4e38", "-1.17549e-38", "0.3"], "double"),
    ("double", ["pi()", "1e-11", "1.7976931348623157e308", "0.1 + 0.2", "-4.9e-324"], "double"),
    ("real", ["2.718281828459045", "1e-300"], "double"),
    ("date", ["'2024-02-29'", "'1000-01-01'", "'9999-12-31'"], "date"),
    ("datetime", ["'2024-01-02 03:04:05'", "'1000-01-01 00:00:00'"], "timestamp"),
    ("datetime(6)", ["'9999-12-31 23:59:59.999999'", "'2024-01-02 03:04:05.000001'"], "timestamp"),
    ("timestamp(6) null", ["'2024-01-01 00:00:00'", "'1970-01-01 02:00:01.5'", "'2038-01-19 05:14:07.999999'"],
     "timestamp"),
    ("time", ["'23:59:59'", "'00:00:00'", "'12:34:56'"], "time"),
    ("time(6)", ["'23:59:59.999999'", "'00:00:00.000001'"], "time"),
    ("year", ["2024", "1901", "2155"], "bigint"),
    ("char(3)", ["'ab'", "''"], "text"),
    ("varchar(40)", ["'héllo ✓ 日本 😀'", "'a''b\\\\c'"], "text"),
    ("tinytext", ["'t'"], "text"),
    ("text", ["repeat('é', 5000)"], "text"),
    ("mediumtext", ["'m'"], "text"),
    ("longtext", ["repeat('x', 100000)"], "text"),
    ("binary(3)", ["0x00ff10", "0x61"], "binary"),
    ("varbinary(10)", ["0x00ff", "''"], "binary"),
    ("tinyblob", ["0xff"], "binary"),
    ("blob", ["0x000102"], "binary"),
    ("mediumblob", ["repeat(0xff, 1000)"], "binary"),
    ("longblob", ["0x00"], "binary"),
    ("enum('x','y','z')", ["'y'", "'z'"], "text"),
    ("set('a','b','c')", ["'c,a'", "''", "'b'"], "text"),
    ("json", ["'{\"a\": [1, 2.5, \"x\"]}'", "'[]'"], "text"),
    ("point", ["ST_GeomFromText('POINT(1 2)')"], "binary"),
    ("linestring", ["ST_GeomFromText('LINESTRING(0 0, 1 1, 2 0)')"], "binary"),
    ("polygon", ["ST_GeomFromText('POLYGON((0 0, 1 0, 1 1, 0 0))')"], "binary"),
    ("geometry", ["ST_GeomFromText('MULTIPOINT(1 1, 2 2)', 4326)"], "binary"),
    ("inet6", ["'::1'", "'2001:db8::ff00:42:8329'"], "text"),
    ("uuid", ["'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'"], "uuid"),
]
# fmt: on


def column_of(sql_type: str) -> str:
    """``c_`` and the type's letters and digits: ``enum('x','y')`` is ``c_enum_x_y``."""
    words = "".join(ch if ch.isalnum() else " " for ch in sql_type.split(" null")[0]).split()
    return "c_" + "_".join(words)


@pytest.fixture(scope="module")
def every_type(mysql_url: str) -> Iterator[str]:
    """A database with table ``every_type``: a column per type, a row per value (NULL elsewhere), a row of NULLs."""
    name = "types_" + __name__.rsplit(".", 1)[-1][-6:]
    mysql_query(mysql_url, f"drop database if exists {name}")
    mysql_query(mysql_url, f"create database {name} character set utf8mb4")
    url = mysql_url.rsplit("/", 1)[0] + "/" + name
    columns = ", ".join(f"{column_of(t)} {t}" for t, _, _ in TYPES)
    mysql_query(url, f"create table every_type (id int primary key, {columns})")
    row = 0
    mysql_query(url, "insert into every_type (id) values (0)")  # every column NULL
    for sql_type, values, _ in TYPES:
        for value in values:
            row += 1
            mysql_query(url, f"insert into every_type (id, {column_of(sql_type)}) values ({row}, {value})")
    try:
        yield url
    finally:
        mysql_query(mysql_url, f"drop database if exists {name}")


def driver_rows(url: str, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """What PyMySQL itself returns, in a UTC session (TIMESTAMP values are instants stored in UTC)."""
    import pymysql
    import sqlalchemy as sa

    u = sa.make_url(url)
    conn = pymysql.connect(host=u.host, port=u.port, user=u.username, database=u.database, charset="utf8mb4")
    try:
        with conn.cursor() as cur:
            cur.execute("set time_zone = '+00:00'")
            cur.execute(sql)
            return [d[0] for d in cur.description], list(cur.fetchall())
    finally:
        conn.close()


def expected(value: Any, sql_type: str, hw_type: str) -> Any:
    """The value Headwater must give for what the driver returned: the same value, in the type's family."""
    if value is None:
        return None
    if sql_type in ("point", "linestring", "polygon", "geometry"):
        return value[4:]  # the driver returns MySQL's internal form: a 4-byte SRID, then well-known binary
    if hw_type == "bool":
        return bool(int.from_bytes(value, "big")) if isinstance(value, bytes) else bool(value)
    if hw_type == "time":
        return (dt.datetime.min + value).time()
    if hw_type == "timestamp":
        return value.replace(tzinfo=UTC)  # DATETIME: the wall-clock value as UTC; TIMESTAMP: read in UTC
    if hw_type == "uuid":
        return uuid.UUID(value)
    if hw_type.startswith("decimal"):
        return decimal.Decimal(value)
    if hw_type == "text" and isinstance(value, decimal.Decimal):
        return str(value)
    return value


@pytest.fixture(scope="module")
def loaded(every_type: str) -> pa.Table:
    source = hw.sources.sql_database(every_type, tables=["every_type"], chunk_size=7)
    return pa.concat_tables(list(source.resources["every_type"])).sort_by("id")


@pytest.mark.parametrize(("sql_type", "values", "hw_type"), TYPES, ids=[t for t, _, _ in TYPES])
def test_every_mysql_type_round_trips(
    every_type: str, loaded: pa.Table, sql_type: str, values: list[str], hw_type: str
) -> None:
    column = column_of(sql_type)
    _, rows = driver_rows(every_type, f"select id, {column} from every_type order by id")
    want = [expected(v, sql_type, hw_type) for _, v in rows]
    got = loaded.column(column).to_pylist()
    assert got == want
    assert sum(v is not None for v in got) == len(values)  # every value held, none lost


def test_types_in_duckdb(every_type: str, make_pipeline: Callable[..., Any]) -> None:
    p = make_pipeline("mysql_types")
    assert p.run(hw.sources.sql_database(every_type, tables=["every_type"])).table_rows() == {
        "every_type": 1 + sum(len(v) for _, v, _ in TYPES)
    }
    stored = column_types(p, "every_type")
    assert {column_of(t): h for t, _, h in TYPES} == {
        k: v for k, v in stored.items() if k != "id" and not k.startswith("_hw_")
    }


# -- values no Arrow type of their column holds: refused, naming table and column; their text when declared text --
OUT_OF_RANGE = [
    ("time", "'100:00:00'", "100:00:00"),
    ("time(1)", "'-00:00:01.5'", "-00:00:01.5"),
    ("time", "'838:59:59'", "838:59:59"),
    ("tinyint(1)", "2", "2"),
    ("boolean", "-1", "-1"),
    ("date", "'0000-00-00'", "0000-00-00"),
    ("date", "'2024-00-10'", "2024-00-10"),
    ("datetime", "'0000-00-00 00:00:00'", "0000-00-00 00:00:00"),
]


@pytest.mark.parametrize("read", ["table", "query"])
@pytest.mark.parametrize(("sql_type", "literal", "text"), OUT_OF_RANGE, ids=[f"{t} {v}" for t, v, _ in OUT_OF_RANGE])
def test_values_without_an_exact_type_are_refused_or_read_as_text(
    mysql_database: str, sql_type: str, literal: str, text: str, read: str
) -> None:
    mysql_query(mysql_database, "set session sql_mode = ''")
    mysql_query(mysql_database, f"create table odd (id int primary key, v {sql_type})")
    mysql_query(mysql_database, f"insert into odd values (1, null), (2, {literal})", ())
    args: dict[str, Any] = {"tables": ["odd"]} if read == "table" else {"query": {"odd": "select * from odd"}}
    with pytest.raises(DataError) as refused:
        list(hw.sources.sql_database(mysql_database, **args).resources["odd"])
    assert refused.value.where == {"table": "odd", "column": "v"}
    assert text.lstrip("-").split(".")[0] in str(refused.value)  # the value, as the database writes it
    assert "'v': 'text'" in str(refused.value)  # the way out
    source = hw.sources.sql_database(mysql_database, **args, table_hints={"odd": {"columns": {"v": "text"}}})
    (chunk,) = list(source.resources["odd"])
    assert chunk.column("v").to_pylist()[1].startswith(text)  # MySQL's own text ('100:00:00', '-00:00:01.5')


def test_timestamps_are_instants_whatever_the_server_time_zone(mysql_database: str, mysql_url: str) -> None:
    """The test server runs at +02:00 (tests/mysqlserver.py): TIMESTAMP values are stored in UTC and must be read
    as the instants they are, not shifted by the server's offset."""
    if not os.environ.get("HEADWATER_TEST_MYSQL_URL"):
        assert mysql_query(mysql_url, "select @@global.time_zone") == [("+02:00",)]
    mysql_query(mysql_database, "create table ev (id int primary key, at timestamp(6) null, wall datetime)")
    mysql_query(mysql_database, "insert into ev values (1, '2024-06-01 12:00:00', '2024-06-01 12:00:00')")  # +02:00
    mysql_query(mysql_database, "insert into ev values (2, '2024-06-01 12:00:01.5', '2024-06-01 12:00:01')")
    epochs = dict(mysql_query(mysql_database, "select id, unix_timestamp(at) from ev"))

    def source(**kw: Any) -> Any:
        return hw.sources.sql_database(mysql_database, **kw)

    table = pa.concat_tables(list(source(tables=["ev"]).resources["ev"])).sort_by("id")
    assert [t.timestamp() for t in table.column("at").to_pylist()] == [float(epochs[1]), float(epochs[2])]
    assert table.column("at")[0].as_py() == dt.datetime.fromtimestamp(int(epochs[1]), UTC)
    assert table.column("wall")[0].as_py() == dt.datetime(2024, 6, 1, 12, tzinfo=UTC)  # wall clock, taken as UTC
    query = pa.concat_tables(list(source(query={"q": "select * from ev order by id"}).resources["q"]))
    assert query.column("at").to_pylist() == table.column("at").to_pylist()
    cursor = hw.incremental("at", initial_value=dt.datetime.fromtimestamp(int(epochs[1]) + 1, UTC))
    late = list(source(tables=["ev"], incremental={"ev": cursor}).resources["ev"])
    assert [r["id"] for r in pa.concat_tables(late).to_pylist()] == [2]


def test_spatial_columns_as_wkb_or_wkt(mysql_database: str) -> None:
    """CAST(point AS CHAR) is refused by the server: the whole table failed, with or without a type hint."""
    mysql_query(mysql_database, "create table places (id int primary key, geo point, area polygon)")
    mysql_query(
        mysql_database,
        "insert into places values (1, ST_GeomFromText('POINT(1 2)'), "
        "ST_GeomFromText('POLYGON((0 0, 1 0, 1 1, 0 0))')), (2, null, null)",
    )
    (chunk,) = list(hw.sources.sql_database(mysql_database).resources["places"])
    assert chunk.schema.field("geo").type == pa.binary()
    wkb = mysql_query(mysql_database, "select ST_AsBinary(geo) from places where id = 1")[0][0]
    assert chunk.column("geo").to_pylist() == [wkb, None]
    hinted = hw.sources.sql_database(
        mysql_database, table_hints={"places": {"columns": {"geo": "text", "area": "binary"}}}
    )
    (chunk,) = list(hinted.resources["places"])
    assert chunk.column("geo").to_pylist() == ["POINT(1 2)", None]
    assert chunk.column("area").to_pylist()[0][:5] == b"\x01\x03\x00\x00\x00"  # WKB polygon, little-endian


def test_a_query_is_typed_like_the_table(every_type: str) -> None:
    """Without reflection, a query's column types come from the driver: not from each chunk's values."""
    # spatial values come as MySQL's internal form (SRID + WKB) unless the query selects ST_AsBinary(c); BIT(n>1)
    # as their bytes; MariaDB's UUID as text (the protocol says only "a string")
    picked = [t for t, _, _ in TYPES if not t.startswith(("point", "linestring", "polygon", "geometry", "uuid"))]
    columns = ", ".join(["id", *(column_of(t) for t in picked)])
    source = hw.sources.sql_database(
        every_type, query={"q": f"select {columns} from every_type order by id"}, chunk_size=5
    )
    chunks = list(source.resources["q"])
    assert len(chunks) > 10
    differ = {(f.name, str(f.type)) for c in chunks for f in c.schema if f.type != chunks[0].schema.field(f.name).type}
    assert differ == set()
    from_query = pa.concat_tables(chunks)
    table = hw.sources.sql_database(every_type, tables=["every_type"]).resources["every_type"]
    from_table = pa.concat_tables(list(table)).sort_by("id").select(from_query.column_names)
    assert from_query.schema.types == from_table.schema.types
    assert from_query.to_pylist() == from_table.to_pylist()


def test_a_users_engine_keeps_its_converters(every_type: str) -> None:
    """Headwater reads PyMySQL's text and parses it with Arrow; a pooled connection goes back as it came."""
    import sqlalchemy as sa

    engine = sa.create_engine(every_type, pool_size=1)
    list(hw.sources.sql_database(engine, tables=["every_type"]).resources["every_type"])
    with engine.connect() as conn:
        assert conn.exec_driver_sql("select cast(1.5 as double), date '2024-01-02'").one() == (1.5, dt.date(2024, 1, 2))
    engine.dispose()


@pytest.mark.parametrize(("column", "partitions"), [("id", 4), ("amount", 3), ("at", 5), ("day", 2)])
def test_mysql_partitions_equal_the_whole_and_merge_is_exact(
    mysql_database: str, make_pipeline: Callable[..., Any], column: str, partitions: int
) -> None:
    mysql_query(
        mysql_database,
        "create table orders (id bigint primary key, amount decimal(10,2), at timestamp(6) null, day date, "
        "status varchar(10))",
    )
    mysql_query(
        mysql_database,
        "insert into orders select seq, seq / 7, timestamp '2024-05-01 00:00:00' + interval seq second, "
        "date '2024-01-01' + interval (seq % 50) day, 'new' from seq_1_to_1000",
    )
    mysql_query(mysql_database, "update orders set amount = null, day = null where id % 97 = 0")

    def source(**kw: Any) -> Any:
        return hw.sources.sql_database(mysql_database, chunk_size=128, **kw)

    whole = pa.concat_tables(list(source().resources["orders"])).sort_by("id")
    parts = source(partition={"orders": {"column": column, "partitions": partitions}})
    assert pa.concat_tables(list(parts.resources["orders"])).sort_by("id").equals(whole)

    def incremental() -> Any:
        return source(
            incremental={"orders": hw.incremental("at", initial_value="2024-04-30T22:00:00Z")},  # +02:00 wall clock
            table_hints={"orders": {"write_disposition": "merge"}},
            partition={"orders": {"column": column, "partitions": partitions}},
        )

    p = make_pipeline(f"mysql_merge_{column}")
    assert p.run(incremental()).table_rows() == {"orders": 1000}
    assert p.run(incremental()).table_rows() == {}
    mysql_query(mysql_database, "update orders set status = 'paid', at = at + interval 1 hour where id <= 10")
    assert p.run(incremental()).table_rows() == {"orders": 10}
    assert p.query("select count(*) as n, count(*) filter (status = 'paid') as paid from raw.orders").to_pylist() == [
        {"n": 1000, "paid": 10}
    ]
