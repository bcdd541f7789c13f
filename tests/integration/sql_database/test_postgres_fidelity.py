"""PostgreSQL as a source, on both backends: every type against what psycopg returns, infinite dates, partitions,
single-precision floats, URL options."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest

import headwater as hw
from headwater.errors import DataError
from headwater.normalize.arrow_types import to_arrow
from headwater.schema.types import parse_data_type
from tests.conftest import pg_temp_schema
from tests.integration.sql_database.conftest import PG_BACKENDS, needs_connectorx
from tests.pgserver import pg_query

UTC = dt.UTC

# (column type, SQL literals, Headwater type, compared with: "value" psycopg's value, "text" PostgreSQL's own text)
# fmt: off
TYPES: list[tuple[str, list[str], str, str]] = [
    ("smallint", ["-32768", "32767"], "bigint", "value"),
    ("integer", ["-2147483648", "2147483647"], "bigint", "value"),
    ("bigint", ["-9223372036854775808", "9223372036854775807"], "bigint", "value"),
    ("numeric(12,2)", ["1234567890.12", "-0.01", "0"], "decimal(12,2)", "value"),
    ("numeric(38,0)", ["99999999999999999999999999999999999999"], "decimal(38,0)", "value"),
    ("numeric", ["0.000000001", "-123456789012345678901234567.5"], "decimal(38,9)", "value"),
    ("numeric(50,10)", ["123456789012345678901234567890.0123456789"], "text", "text"),
    ("real", ["1.1", "3.4e38", "1e-45", "-0.3", "'NaN'", "'Infinity'"], "double", "value"),
    ("double precision", ["0.1", "1.7976931348623157e308", "5e-324", "'-Infinity'"], "double", "value"),
    ("boolean", ["true", "false"], "bool", "value"),
    ("text", ["'héllo ✓ 日本 😀'", "''", "repeat('é', 100000)"], "text", "value"),
    ("varchar(10)", ["'abc'"], "text", "value"),
    ("char(3)", ["'ab'"], "text", "value"),
    ("bytea", ["'\\x00ff10'::bytea", "''::bytea"], "binary", "value"),
    ("date", ["'2024-02-29'", "'0001-01-01'", "'9999-12-31'"], "date", "value"),
    ("time", ["'23:59:59.999999'", "'00:00:00'"], "time", "value"),
    ("timetz", ["'12:00:00+02'"], "text", "text"),
    ("timestamp", ["'2024-01-02 03:04:05.123456'", "'0001-01-01 00:00:00'"], "timestamp", "value"),
    ("timestamptz", ["'2024-01-02 03:04:05.123456+02'", "'9999-12-31 23:59:59.999999+00'"], "timestamp", "value"),
    ("interval", ["'1 day 01:00:00'", "'-3 months 2 us'"], "text", "text"),
    ("uuid", ["'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'"], "uuid", "value"),
    ("json", ["'{\"b\": 1, \"a\": [1, 2.50]}'"], "json", "text"),
    ("jsonb", ["'{\"b\": 1, \"a\": [1, 2.50]}'", "'\"x\"'"], "json", "text"),
    ("integer[]", ["'{1,2,NULL}'", "'{}'"], "json", "array"),
    ("text[]", ["ARRAY['a', 'b,c']"], "json", "array"),
    ("inet", ["'192.168.0.1/24'"], "text", "text"),
    ("money", ["12.34"], "text", "text"),
    ("bit(8)", ["B'10100101'"], "text", "text"),
    ("xml", ["'<a>1</a>'"], "text", "text"),
    ("point", ["'(1,2)'"], "text", "text"),
    ("tsvector", ["'a fat cat'"], "text", "text"),
]
# fmt: on


def column_of(sql_type: str) -> str:
    words = "".join(ch if ch.isalnum() else " " for ch in sql_type.replace("[]", " array")).split()
    return "c_" + "_".join(words)


@pytest.fixture(scope="module")
def every_type(pg_url: str) -> Iterator[str]:
    with pg_temp_schema(pg_url) as schema:
        columns = ", ".join(f"{column_of(t)} {t}" for t, _, _, _ in TYPES)
        pg_query(pg_url, f"create table {schema}.every_type (id int primary key, {columns})")
        pg_query(pg_url, f"insert into {schema}.every_type (id) values (0)")
        row = 0
        for sql_type, values, _, _ in TYPES:
            for value in values:
                row += 1
                pg_query(pg_url, f"insert into {schema}.every_type (id, {column_of(sql_type)}) values ({row}, {value})")
        yield schema


@pytest.fixture(scope="module", params=PG_BACKENDS)
def loaded(request: pytest.FixtureRequest, pg_url: str, every_type: str) -> pa.Table:
    source = hw.sources.sql_database(
        pg_url, schema=every_type, tables=["every_type"], backend=request.param, chunk_size=9
    )
    return pa.concat_tables(list(source.resources["every_type"])).sort_by("id")


def expected(value: Any, hw_type: str) -> Any:
    if value is None:
        return None
    if hw_type == "timestamp":
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if hw_type == "double" and value != value:
        return "nan"
    return value


@pytest.mark.parametrize(("sql_type", "values", "hw_type", "compare"), TYPES, ids=[t[0] for t in TYPES])
def test_every_postgres_type_round_trips(
    pg_url: str, every_type: str, loaded: pa.Table, sql_type: str, values: list[str], hw_type: str, compare: str
) -> None:
    column = column_of(sql_type)
    select = {"value": column, "text": f"{column}::text", "array": f"to_json({column})::text"}[compare]
    driver = pg_query(pg_url, f"select {select} from {every_type}.every_type order by id")
    want = [expected(v, hw_type) for (v,) in driver]
    got = loaded.column(column).to_pylist()
    if hw_type == "double":
        got = ["nan" if v is not None and v != v else v for v in got]
    assert got == want
    assert sum(v is not None for v in got) == len(values)
    assert loaded.schema.field(column).type == to_arrow(parse_data_type(hw_type))


@pytest.mark.parametrize("other", [pytest.param("connectorx", marks=needs_connectorx), "sqlalchemy"])
def test_the_backends_agree_on_every_type(pg_url: str, every_type: str, other: str) -> None:
    tables = [
        pa.concat_tables(
            list(hw.sources.sql_database(pg_url, schema=every_type, backend=b, chunk_size=7).resources["every_type"])
        ).sort_by("id")
        for b in ("adbc", other)
    ]
    assert tables[0].schema == tables[1].schema
    nan_free = [t.drop_columns(["c_real", "c_double_precision"]) for t in tables]
    assert nan_free[0].equals(nan_free[1])
    for name in ("c_real", "c_double_precision"):
        assert str(tables[0].column(name).to_pylist()) == str(tables[1].column(name).to_pylist())


# -- infinity: no instant stands for it -----------------------------------------------------------------------
@pytest.mark.parametrize("backend", PG_BACKENDS)
@pytest.mark.parametrize("sql_type", ["date", "timestamp", "timestamptz"])
@pytest.mark.parametrize("value", ["infinity", "-infinity"])
def test_infinite_dates_are_refused_or_read_as_text(
    pg_url: str, pg_schema: str, backend: str, sql_type: str, value: str
) -> None:
    pg_query(pg_url, f"create table {pg_schema}.validity (id int primary key, since {sql_type}, until {sql_type})")
    pg_query(pg_url, f"insert into {pg_schema}.validity values (1, '2024-01-01', '2024-02-01'), (2, null, '{value}')")

    def source(**kw: Any) -> Any:
        return hw.sources.sql_database(pg_url, schema=pg_schema, backend=backend, chunk_size=1, **kw)

    with pytest.raises(DataError, match="infinity") as refused:
        list(source().resources["validity"])
    assert refused.value.where == {"table": "validity", "column": "until"}
    assert "'until': 'text'" in str(refused.value)
    rows = pa.concat_tables(
        list(source(table_hints={"validity": {"columns": {"until": "text"}}}).resources["validity"])
    ).sort_by("id")
    assert rows.column("until").to_pylist()[1] == value
    assert rows.column("since").to_pylist()[0] is not None  # the other columns keep their types
    with pytest.raises(DataError, match="infinity") as in_query:
        list(source(query={"q": f"select * from {pg_schema}.validity"}).resources["q"])
    assert in_query.value.where["column"] == "until"


# -- partitions: each row once ---------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", PG_BACKENDS)
def test_a_whole_schema_reads_each_row_once(pg_url: str, pg_schema: str, backend: str) -> None:
    s = pg_schema
    pg_query(pg_url, f"create table {s}.measures (id int, at date not null) partition by range (at)")
    pg_query(
        pg_url,
        f"create table {s}.measures_2023 partition of {s}.measures for values from ('2023-01-01') to ('2024-01-01')",
    )
    pg_query(
        pg_url,
        f"create table {s}.measures_2024 partition of {s}.measures for values from ('2024-01-01') to ('2025-01-01')",
    )
    pg_query(pg_url, f"insert into {s}.measures select i, date '2023-06-01' + i from generate_series(1, 300) i")
    pg_query(pg_url, f"create table {s}.cities (name text, population int)")  # inheritance, the old way
    pg_query(pg_url, f"create table {s}.capitals (country text) inherits ({s}.cities)")
    pg_query(pg_url, f"insert into {s}.cities values ('Lyon', 500000), ('Porto', 230000)")
    pg_query(pg_url, f"insert into {s}.capitals values ('Paris', 2100000, 'FR')")
    source = hw.sources.sql_database(pg_url, schema=s, backend=backend)
    assert sorted(source.resources) == ["capitals", "cities", "measures"]
    counts = {name: sum(c.num_rows for c in r) for name, r in source.resources.items()}
    assert counts == {"measures": 300, "cities": 2, "capitals": 1}
    named = hw.sources.sql_database(pg_url, schema=s, tables=["measures_2024"], backend=backend)
    (held,) = pg_query(pg_url, f"select count(*) from {s}.measures_2024")[0]
    assert sum(c.num_rows for c in named.resources["measures_2024"]) == held  # a partition named is read


@pytest.mark.parametrize("backend", PG_BACKENDS)
@pytest.mark.parametrize(
    "spelling", ["-c%20timezone%3DAsia/Tokyo", "-c+timezone%3DAsia/Tokyo", "-c timezone=Asia/Tokyo"]
)
def test_url_options_reach_the_server(pg_url: str, backend: str, spelling: str) -> None:
    url = f"{pg_url}?options={spelling}"
    source = hw.sources.sql_database(url, query={"q": "select current_setting('TimeZone') as tz"}, backend=backend)
    (chunk,) = list(source.resources["q"])
    assert chunk.column("tz").to_pylist() == ["Asia/Tokyo"]
