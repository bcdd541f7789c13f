"""Every SQLite type round-trips into DuckDB with the right type and the exact value, with each backend."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import headwater as hw
from headwater.errors import DataError
from tests.conftest import rows
from tests.integration.sql_database.conftest import column_types, sqlite_db

DDL = """create table t (
    id integer primary key,
    i integer, bi bigint, si smallint,
    dec numeric(12,2), dec6 decimal(18,6), num numeric,
    f real, d double, fl float,
    b boolean,
    tx text, vc varchar(10), nv nvarchar(100),
    dt date, ts datetime, ts2 timestamp,
    bl blob,
    j json,
    u uuid
)"""

# fmt: off
HUGE = "é" * 3_000_000 + "end"
UID = uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
ROWS = [
    # id, i, bi, si, dec, dec6, num, f, d, fl, b, tx, vc, nv, dt, ts, ts2, bl, j, u
    (
        1,
        1,
        2**62,
        -3,
        0.99,
        123456.123456,
        2,
        1.5,
        2.25,
        -0.5,
        1,
        "héllo ✓ 日本",
        "abc",
        "Ωmega",
        "2024-02-29",
        "2024-01-02 03:04:05",
        "2024-01-02T03:04:05.123456+02:00",
        b"\x00\xff\x10",
        '{"a": [1, 2]}',
        str(UID),
    ),
    (
        2,
        -(2**62),
        0,
        0,
        2,
        -0.000001,
        0.1 + 0.2,
        -1e300,
        1e-300,
        0.0,
        0,
        "",
        "",
        "",
        "1970-01-01",
        "1999-12-31 23:59:59.999999",
        "2000-01-01 00:00:00Z",
        b"",
        "[]",
        UID.hex,
    ),
    (
        3,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
    ),
    (
        4,
        7,
        7,
        7,
        -1234567890.12,
        0,
        1234567890.123456789,
        3.0,
        3.0,
        3.0,
        1,
        HUGE,
        "x" * 10,
        "y",
        "2024-12-31",
        "2024-12-31 23:59:59",
        "2024-12-31 23:59:59",
        b"x" * 100_000,
        '"text"',
        None,
    ),
]

EXPECTED_TYPES = {
    "id": "BIGINT",
    "i": "BIGINT",
    "bi": "BIGINT",
    "si": "BIGINT",
    "dec": "DECIMAL(12,2)",
    "dec6": "DECIMAL(18,6)",
    "num": "DECIMAL(38,9)",
    "f": "DOUBLE",
    "d": "DOUBLE",
    "fl": "DOUBLE",
    "b": "BOOLEAN",
    "tx": "VARCHAR",
    "vc": "VARCHAR",
    "nv": "VARCHAR",
    "dt": "DATE",
    "ts": "TIMESTAMP WITH TIME ZONE",
    "ts2": "TIMESTAMP WITH TIME ZONE",
    "bl": "BLOB",
    "j": "JSON",
    "u": "DECIMAL(38,9)",  # SQLite gives an unknown type name NUMERIC affinity; see test_unknown_type_names
}

UTC = dt.UTC


def test_every_type_round_trips(tmp_path: Path, make_pipeline: Callable[..., Any], backend: str) -> None:
    url = sqlite_db(tmp_path / "types.db", DDL.replace("u uuid", "u varchar(36)"), ROWS)
    p = make_pipeline(f"types_{backend}")
    assert p.run(hw.sources.sql_database(url, backend=backend)).table_rows() == {"t": 4}
    assert column_types(p, "t") == {**EXPECTED_TYPES, "u": "VARCHAR"}
    got = {r[0]: r for r in rows(p, "select * exclude (_hw_load_id, _hw_id) from raw.t order by id")}
    assert got[1] == (
        1, 1, 2**62, -3, Decimal("0.99"), Decimal("123456.123456"), Decimal("2.000000000"), 1.5, 2.25, -0.5, True,
        "héllo ✓ 日本", "abc", "Ωmega", dt.date(2024, 2, 29), dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        dt.datetime(2024, 1, 2, 1, 4, 5, 123456, tzinfo=UTC), b"\x00\xff\x10", '{"a": [1, 2]}', str(UID),
    )  # fmt: skip
    assert got[2] == (
        2, -(2**62), 0, 0, Decimal("2.00"), Decimal("-0.000001"), Decimal("0.300000000"), -1e300, 1e-300, 0.0,
        False, "", "", "", dt.date(1970, 1, 1), dt.datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        dt.datetime(2000, 1, 1, tzinfo=UTC), b"", "[]", UID.hex,
    )  # fmt: skip
    assert got[3] == (3, *([None] * 19))
    assert got[4][4] == Decimal("-1234567890.12")
    # SQLite stores NUMERIC values as binary floats: the float's digits, rounded to the column's scale
    assert got[4][6] == Decimal(repr(1234567890.123456789)).quantize(Decimal("1e-9"))
    assert got[4][11] == HUGE
    assert got[4][17] == b"x" * 100_000
    assert got[4][18] == '"text"'


def test_chunks_carry_the_reflected_arrow_schema(tmp_path: Path, backend: str) -> None:
    url = sqlite_db(tmp_path / "types.db", DDL, ROWS[2:3])  # a row of NULLs only: the types come from reflection
    (chunk,) = list(hw.sources.sql_database(url, backend=backend).resources["t"])
    assert isinstance(chunk, pa.Table)
    assert chunk.schema.field("dec").type == pa.decimal128(12, 2)
    assert chunk.schema.field("ts").type == pa.timestamp("us", tz="UTC")
    assert chunk.schema.field("dt").type == pa.date32()
    assert chunk.schema.field("b").type == pa.bool_()
    assert chunk.schema.field("bl").type == pa.binary()
    assert chunk.schema.field("id").nullable is False


def test_nulls_first_then_values(tmp_path: Path, make_pipeline: Callable[..., Any], backend: str) -> None:
    """ADBC's SQLite driver infers types from the first rows: a first chunk of NULLs must not fix them."""
    data = [(i, None, None, None) for i in range(3000)]
    data += [(3000 + i, f"v{i}", 0.5 + i, "2024-01-01 00:00:00") for i in range(10)]
    url = sqlite_db(tmp_path / "nulls.db", "create table t (id integer primary key, s text, r real, ts datetime)", data)
    p = make_pipeline(f"nulls_{backend}")
    p.run(hw.sources.sql_database(url, backend=backend, chunk_size=1000))
    assert rows(p, "select count(*), count(s), sum(r) from raw.t") == [(3010, 10, 50.0)]
    assert column_types(p, "t") == {"id": "BIGINT", "s": "VARCHAR", "r": "DOUBLE", "ts": "TIMESTAMP WITH TIME ZONE"}


def test_sqlite_numbers_of_mixed_storage(tmp_path: Path, backend: str) -> None:
    """A NUMERIC(10,2) column holds integers and floats in SQLite; both read as exact decimals."""
    url = sqlite_db(
        tmp_path / "mixed.db",
        "create table t (id integer primary key, n numeric(10,2))",
        [(i, 2 if i % 2 else 0.99) for i in range(5000)],
    )
    table = pa.concat_tables(list(hw.sources.sql_database(url, backend=backend, chunk_size=700).resources["t"]))
    assert table.schema.field("n").type == pa.decimal128(10, 2)
    assert sum(table["n"].to_pylist()) == Decimal("7475.00")


def test_a_column_type_can_be_overridden(tmp_path: Path, make_pipeline: Callable[..., Any], backend: str) -> None:
    url = sqlite_db(tmp_path / "o.db", "create table t (id integer primary key, price numeric(10,2))", [(1, 9.99)])
    source = hw.sources.sql_database(url, backend=backend, table_hints={"t": {"columns": {"price": "double"}}})
    p = make_pipeline(f"override_{backend}")
    p.run(source)
    assert column_types(p, "t") == {"id": "BIGINT", "price": "DOUBLE"}
    source.resources["t"].apply_hints(columns={"price": "text"})
    (chunk,) = list(source.resources["t"])
    assert chunk.column("price").to_pylist() == ["9.99"]


def test_unknown_type_names(tmp_path: Path, backend: str) -> None:
    """SQLite gives a type name it does not know NUMERIC affinity (SQLAlchemy reflects it so): text that is not
    a number is refused with the column named, never turned into 0."""
    url = sqlite_db(tmp_path / "u.db", "create table t (id integer primary key, u uuid)", [(1, str(UID))])
    source = hw.sources.sql_database(url, backend=backend)
    with pytest.raises(DataError, match=r"not a number|does not fit") as refused:
        list(source.resources["t"])
    assert refused.value.where == {"table": "t", "column": "u"}
    source = hw.sources.sql_database(url, backend=backend, table_hints={"t": {"columns": {"u": "uuid"}}})
    (chunk,) = list(source.resources["t"])
    assert chunk.column("u").to_pylist() == [UID]
