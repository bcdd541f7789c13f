"""SQLite keeps each value's own storage class whatever the column's type: every value is loaded exactly, as
sqlite3 itself returns it, or refused naming the table and the column, on both backends."""

from __future__ import annotations

import datetime as dt
import math
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import headwater as hw
from headwater.errors import DataError
from headwater.normalize.arrow_types import to_arrow
from headwater.schema.types import parse_data_type
from headwater.sources.sql_database.values import real_text
from tests.integration.sql_database.conftest import sqlite_db

FIDELITY = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def read(url: str, backend: str, **kw: Any) -> pa.Table:
    source = hw.sources.sql_database(url, backend=backend, **kw)
    (name,) = source.resources
    return pa.concat_tables(list(source.resources[name])).sort_by("id")


def fresh(tmp_path: Path, ddl: str, rows: list[tuple[Any, ...]]) -> str:
    path = tmp_path / f"t{len(list(tmp_path.glob('*.db')))}.db"
    return sqlite_db(path, ddl, rows)


# -- booleans: SQLite keeps the text it was given -------------------------------------------------------------
BOOLEANS = [
    (1, True), (0, False), ("true", True), ("false", False), ("TRUE", True), ("False", False), ("yes", True),
    ("no", False), ("on", True), ("off", False), ("t", True), ("f", False), ("1", True), ("0", False), (1.0, True),
]  # fmt: skip


@pytest.mark.parametrize(("stored", "loaded"), BOOLEANS, ids=[repr(s) for s, _ in BOOLEANS])
def test_boolean_spellings(tmp_path: Path, backend: str, stored: Any, loaded: bool) -> None:
    url = fresh(tmp_path, "create table t (id integer primary key, b boolean)", [(1, None), (2, stored), (3, 1)])
    assert read(url, backend).column("b").to_pylist() == [None, loaded, True]


@pytest.mark.parametrize(
    ("ddl_type", "stored"),
    [("boolean", 2), ("boolean", "maybe"), ("boolean", 0.5), ("integer", 1.5), ("integer", "abc"), ("integer", b"\x01"),
     ("real", "abc"), ("date", "2024-13-45"), ("datetime", 2460000.5), ("numeric(5,2)", "n/a")],
)  # fmt: skip
def test_a_value_its_column_type_cannot_hold_is_refused(
    tmp_path: Path, backend: str, ddl_type: str, stored: Any
) -> None:
    """1.5 in an INTEGER column was loaded as 1; 'false' in a BOOLEAN as true: now each is refused by name."""
    rows = [(i, 1) for i in range(1, 4)] + [(4, stored)]
    url = fresh(tmp_path, f"create table t (id integer primary key, v {ddl_type})", rows)
    with pytest.raises(DataError) as refused:
        read(url, backend)
    assert refused.value.where == {"table": "t", "column": "v"}
    text = read(url, backend, table_hints={"t": {"columns": {"v": "text"}}}).column("v").to_pylist()
    assert text[3] == (
        stored.decode()
        if isinstance(stored, bytes)
        else real_text(stored)
        if isinstance(stored, float)
        else str(stored)
    )


# -- numbers: exact whatever the column's declared type -----------------------------------------------------------
@FIDELITY
@given(ints=st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=20))
def test_integers_exactly(tmp_path_factory: pytest.TempPathFactory, ints: list[int]) -> None:
    path = tmp_path_factory.mktemp("ints") / "t.db"
    url = sqlite_db(path, "create table t (id integer primary key, v integer)", list(enumerate(ints)))
    for backend in ("adbc", "sqlalchemy"):
        assert read(url, backend).column("v").to_pylist() == ints


# a tie at 16 digits (2**-24), one SQLite's printf gets wrong at 17 digits, extremes
FLOATS = st.floats(allow_nan=False) | st.sampled_from(
    [0.30000000000000004, 1e300, 5e-324, 1.7976931348623157e308, 2.0**-24, -6.7395816987552005e-270]
)


@FIDELITY
@given(values=st.lists(FLOATS | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=5), min_size=1, max_size=12))
def test_an_untyped_column_keeps_every_value(tmp_path_factory: pytest.TempPathFactory, values: list[Any]) -> None:
    """A column without a type is text: each value's exact text, the same on both backends (0.30000000000000004
    was '0.3' through SQLAlchemy, whose SQLite writes 15 digits)."""
    path = tmp_path_factory.mktemp("untyped") / "t.db"
    url = sqlite_db(path, "create table t (id integer primary key, v)", list(enumerate(values)))
    with sqlite3.connect(path) as conn:
        stored = [v for (v,) in conn.execute("select v from t order by id")]
    conn.close()
    for backend in ("adbc", "sqlalchemy"):
        got = read(url, backend).column("v").to_pylist()
        assert got == [real_text(v) if isinstance(v, float) else str(v) for v in stored]
        assert [float(g) for g, v in zip(got, stored, strict=True) if isinstance(v, float)] == [
            v for v in stored if isinstance(v, float)
        ]


@FIDELITY
@given(values=st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=12))
@example(values=[-0.0, 0.0, -1e-300])
def test_reals_exactly(tmp_path_factory: pytest.TempPathFactory, values: list[float]) -> None:
    path = tmp_path_factory.mktemp("reals") / "t.db"
    rows = [(i, v, v) for i, v in enumerate(values)]
    url = sqlite_db(path, "create table t (id integer primary key, v real, d double)", rows)
    with sqlite3.connect(path) as conn:
        stored = list(conn.execute("select v, d from t order by id"))  # SQLite keeps -0.0 as 0.0
    conn.close()
    for backend in ("adbc", "sqlalchemy"):
        table = read(url, backend)
        for column, i in (("v", 0), ("d", 1)):
            got = table.column(column).to_pylist()
            assert got == [r[i] for r in stored]
            assert [math.copysign(1, v) for v in got] == [math.copysign(1, r[i]) for r in stored]


# -- text that is not UTF-8 ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("ddl_type", ["text", "varchar(10)", ""])
def test_text_that_is_not_utf8_is_refused_by_name(tmp_path: Path, backend: str, ddl_type: str) -> None:
    """ADBC passed it on and the destination failed without naming the table or the column."""
    path = tmp_path / "bad.db"
    url = sqlite_db(path, f"create table t (id integer primary key, v {ddl_type})", [(1, "ok"), (2, "also ok")])
    with sqlite3.connect(path) as conn:
        conn.execute("update t set v = cast(x'fffe41' as text) where id = 2")
    conn.close()
    with pytest.raises(DataError, match="not valid UTF-8") as refused:
        read(url, backend)
    assert refused.value.where == {"table": "t", "column": "v"}
    binary = read(url, backend, table_hints={"t": {"columns": {"v": "binary"}}})
    assert binary.column("v").to_pylist() == [b"ok", b"\xff\xfeA"]


# -- every declared type against what sqlite3 returns ---------------------------------------------------------
# (declared type, values as given to sqlite3, Headwater type)
SQLITE_TYPES: list[tuple[str, list[Any], str]] = [
    ("integer", [1, -(2**63), 2**63 - 1], "bigint"),
    ("int", [0, 7], "bigint"),
    ("bigint", [2**62], "bigint"),
    ("smallint", [-3], "bigint"),
    ("tinyint", [255], "bigint"),
    ("real", [1.5, -1e300, 5e-324, 0.1], "double"),
    ("double", [2.25, 1.7976931348623157e308], "double"),
    ("float", [-0.5], "double"),
    ("numeric(10,2)", [0.99, 2, "12.5", -1234567.89], "decimal(10,2)"),
    ("decimal(18,6)", [123456.123456, -0.000001], "decimal(18,6)"),
    ("boolean", [0, 1, "true", "no"], "bool"),
    ("text", ["héllo ✓ 日本 😀", ""], "text"),
    ("varchar(10)", ["abc", "x" * 20], "text"),
    ("nvarchar(100)", ["Ωmega"], "text"),
    ("clob", ["long"], "text"),
    ("blob", [b"\x00\xff\x10", b""], "binary"),
    ("date", ["2024-02-29", "0001-01-01"], "date"),
    ("datetime", ["2024-01-02 03:04:05", "2024-01-02T03:04:05.123456+02:00", "2000-01-01 00:00:00Z"], "timestamp"),
    ("timestamp", ["1999-12-31 23:59:59.999999"], "timestamp"),
    ("time", ["23:59:59.999999", "00:00:00", "12:30"], "time"),
    ("json", ['{"a": [1, 2]}', "[]", '"text"'], "json"),
    ("", [1, 1.5, "x", 0.30000000000000004], "text"),
]


def sqlite_expected(value: Any, hw_type: str) -> Any:
    """What Headwater must give for what sqlite3 returned: the same value, in the column type's family."""
    if value is None:
        return None
    if hw_type.startswith("decimal"):
        scale = int(hw_type.split(",")[1].rstrip(")"))
        exact = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        return exact.quantize(Decimal(1).scaleb(-scale))
    if hw_type == "bool":
        return str(value).lower() in ("1", "true", "yes")
    if hw_type == "date":
        return dt.date.fromisoformat(value)
    if hw_type == "timestamp":
        parsed = dt.datetime.fromisoformat(value)
        return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)
    if hw_type == "time":
        return dt.time.fromisoformat(value)
    if hw_type == "text" and not isinstance(value, str):
        return real_text(value) if isinstance(value, float) else str(value)
    return value


@pytest.fixture(scope="module")
def sqlite_every_type(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("every") / "every.db"
    columns = ", ".join(f"c{i} {t}" for i, (t, _, _) in enumerate(SQLITE_TYPES))
    with sqlite3.connect(path) as conn:
        conn.execute(f"create table every_type (id integer primary key, {columns})")
        conn.execute("insert into every_type (id) values (0)")
        row = 0
        for i, (_, values, _) in enumerate(SQLITE_TYPES):
            for value in values:
                row += 1
                conn.execute(f"insert into every_type (id, c{i}) values (?, ?)", (row, value))
    conn.close()
    return path


@pytest.mark.parametrize("index", range(len(SQLITE_TYPES)), ids=[t or "untyped" for t, _, _ in SQLITE_TYPES])
def test_every_sqlite_type_round_trips(sqlite_every_type: Path, backend: str, index: int) -> None:
    _, values, hw_type = SQLITE_TYPES[index]
    with sqlite3.connect(sqlite_every_type) as conn:
        driver = [v for (v,) in conn.execute(f"select c{index} from every_type order by id")]
    conn.close()
    table = read(f"sqlite:///{sqlite_every_type}", backend)
    assert table.column(f"c{index}").to_pylist() == [sqlite_expected(v, hw_type) for v in driver]
    assert sum(v is not None for v in driver) == len(values)
    assert table.schema.field(f"c{index}").type == to_arrow(parse_data_type(hw_type))
