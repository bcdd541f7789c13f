"""SQLite keeps each value's own storage class whatever the column's type: every value is loaded exactly, as
sqlite3 itself returns it, or refused naming the table and the column, on both backends."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import headwater as hw
from headwater.errors import DataError
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


FLOATS = st.floats(allow_nan=False) | st.sampled_from([0.30000000000000004, 1e300, 5e-324, 1.7976931348623157e308])


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
def test_reals_exactly(tmp_path_factory: pytest.TempPathFactory, values: list[float]) -> None:
    path = tmp_path_factory.mktemp("reals") / "t.db"
    url = sqlite_db(
        path, "create table t (id integer primary key, v real, d double)", [(i, v, v) for i, v in enumerate(values)]
    )
    for backend in ("adbc", "sqlalchemy"):
        table = read(url, backend)
        assert table.column("v").to_pylist() == values
        assert [math.copysign(1, v) for v in table.column("d").to_pylist()] == [math.copysign(1, v) for v in values]


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
