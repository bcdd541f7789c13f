"""pyarrow is kept from importing pandas where no value can be a pandas object, and is left as it was.

A column of one plain type is converted with the type Arrow would infer, given (no inference, which
imports pandas), and the conversion is the same; the shim pyarrow asks about pandas is reset after, so
pandas works as before once something imports it; nested values of small runs are unpacked in Python,
into the same tables (headwater.normalize.pandas_gate).
"""

from __future__ import annotations

import datetime as dt
import math
import subprocess
import sys
import zoneinfo
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headwater.normalize.values import Unconvertible, to_array
from headwater.schema.hints import build_hints
from tests.conftest import env_with_path
from tests.unit.normalize_helpers import normalize
from tests.unit.test_normalize_property import documents


def run_python(code: str) -> str:
    """Run ``code`` in a fresh interpreter (pandas not loaded yet); its stdout."""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env_with_path(), timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


ZONES = [dt.UTC, dt.timezone(dt.timedelta(hours=-3, minutes=-30)), zoneinfo.ZoneInfo("Europe/Paris")]
PLAIN = {
    "int": st.integers(-(2**64), 2**64),
    "float": st.floats(allow_nan=True, allow_infinity=True),
    "str": st.text(max_size=5),
    "bool": st.booleans(),
    "bytes": st.binary(max_size=5),
    "date": st.dates(),
    "time": st.times(),
    "naive": st.datetimes(),
    "aware": st.datetimes(timezones=st.sampled_from(ZONES)),
    "mixed": st.one_of(st.integers(), st.text(max_size=2), st.booleans()),
}


def inferred(values: list[Any]) -> tuple[str, Any]:
    """What Arrow's own inference makes of ``values`` (the reference)."""
    try:
        arr = pa.array(values, from_pandas=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError, TypeError, ValueError):
        return ("refused", None)
    return (str(arr.type), _comparable(arr.to_pylist()))


def _comparable(values: list[Any]) -> list[Any]:
    return ["nan" if isinstance(v, float) and math.isnan(v) else v for v in values]


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(sorted(PLAIN)), data=st.data())
def test_a_plain_column_converts_as_arrow_infers_it(kind: str, data: st.DataObject) -> None:
    values = data.draw(st.lists(st.one_of(st.none(), PLAIN[kind]), max_size=6))
    expected = inferred(values)
    try:
        arr = to_array(values)
    except Unconvertible:
        assert expected[0] == "refused" or kind == "mixed", expected
        return
    if pa.types.is_floating(arr.type) and any(type(v) is bool for v in values):
        return  # refused by to_array before this point
    assert (str(arr.type), _comparable(arr.to_pylist())) == expected


def test_the_first_datetime_names_the_time_zone_as_arrow_infers() -> None:
    paris, tokyo = zoneinfo.ZoneInfo("Europe/Paris"), zoneinfo.ZoneInfo("Asia/Tokyo")
    values = [None, dt.datetime(2024, 1, 1, tzinfo=paris), dt.datetime(2024, 1, 1, tzinfo=tokyo), None]
    arr = to_array(values)
    assert arr.type == pa.timestamp("us", tz="Europe/Paris") == pa.array(values).type
    assert arr.to_pylist() == pa.array(values).to_pylist()


GATED = """
import sys
import numpy as np, pyarrow as pa
from headwater.normalize import pandas_gate
pandas_gate.array([1, None], pa.int64())
pandas_gate.array(np.arange(3), pa.int32())
pandas_gate.scalar(2.5, pa.float64())
print("pandas" in sys.modules)
print(pa.array([1], pa.timestamp("ns"))[0].as_py().__class__.__name__)  # pyarrow asks again: pandas
print("pandas" in sys.modules)
"""


def test_typed_conversions_do_not_import_pandas_and_pyarrow_asks_again_after() -> None:
    pytest.importorskip("pandas")
    assert run_python(GATED).split() == ["False", "Timestamp", "True"]


PANDAS_AFTER = """
import pyarrow as pa
from headwater.normalize import pandas_gate
pandas_gate.array(["a", None], pa.string())
import pandas as pd
print(pa.array([pd.NA, 1], from_pandas=True).to_pylist())
print(pa.array([pd.DateOffset(months=1)]).type)
print(pa.table(pd.DataFrame({"a": [1, 2]})).num_rows)
print(pa.Table.from_pandas(pd.DataFrame({"a": pd.Series(["x", pd.NA], dtype=object)})).column(0).to_pylist())
"""


def test_pandas_converts_as_before_once_imported() -> None:
    pytest.importorskip("pandas")
    assert run_python(PANDAS_AFTER).splitlines() == [
        "[None, 1]",
        "month_day_nano_interval",
        "2",
        "['x', None]",
    ]


def test_nothing_is_refused_once_pandas_is_loaded() -> None:
    pytest.importorskip("pandas")
    import pandas as pd

    from headwater.normalize import pandas_gate

    with pandas_gate.refused():
        assert __import__("pandas") is pd  # the import succeeds inside the block
        arr = pa.array(pd.Series([1, 2]))
    assert arr.to_pylist() == [1, 2]


def _tables(batches: list[list[dict[str, Any]]], hints: Any = None) -> tuple[Any, Any]:
    schema, out = normalize(batches, hints=hints)
    random_ids = ("_hw_id", "_hw_parent_id", "_hw_root_id", "_hw_load_id")
    tables = {
        name: pa.concat_tables(parts, promote_options="permissive").drop_columns(
            [c for c in parts[0].schema.names if c in random_ids]
        )
        for name, parts in out.items()
    }
    columns = {name: [(c.name, str(c.type)) for c in t.columns.values()] for name, t in schema.tables.items()}
    return columns, {name: t.to_pylist() for name, t in tables.items()}


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    batches=st.lists(st.lists(documents(2), min_size=1, max_size=4), min_size=1, max_size=3),
    max_nesting=st.sampled_from([None, 0, 1, 2]),
)
def test_nested_values_walked_in_python_make_the_same_tables(
    batches: list[list[dict[str, Any]]], max_nesting: int | None
) -> None:
    """While pandas is not loaded, small runs' nested values are unpacked in Python instead of by Arrow's
    inference (which imports pandas): the tables must be the same, to the column order and type."""
    from headwater.normalize import pandas_gate

    hints = build_hints(resource="r", max_nesting=max_nesting)
    by_arrow = _tables(batches, hints)
    real = pandas_gate.walk_instead
    pandas_gate.walk_instead = lambda n: True  # type: ignore[assignment]  # as in a process without pandas
    try:
        walked = _tables(batches, hints)
    finally:
        pandas_gate.walk_instead = real  # type: ignore[assignment]
    assert walked == by_arrow


def test_walking_stops_at_the_budget_and_once_pandas_is_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    from headwater.normalize import pandas_gate

    monkeypatch.setattr(pandas_gate, "_walked", 0)
    monkeypatch.setattr(pandas_gate, "_pandas_installed", lambda: True)
    monkeypatch.delitem(sys.modules, "pandas", raising=False)  # as in a process that never imported it
    assert pandas_gate.walk_instead(pandas_gate.WALK_BUDGET - 1)
    assert not pandas_gate.walk_instead(2)  # a larger run: importing pandas once costs less
    monkeypatch.setattr(pandas_gate, "_walked", 0)
    monkeypatch.setitem(sys.modules, "pandas", object())
    assert not pandas_gate.walk_instead(1)  # loaded: Arrow's inference costs nothing more


def test_reading_through_adbc_imports_neither_pandas_nor_polars_and_both_work_after(tmp_path: Any) -> None:
    """ADBC's DB-API module imports pandas and polars when installed (0.8 s of every reading process);
    Headwater imports it without them, and a DataFrame still works afterwards."""
    pytest.importorskip("adbc_driver_sqlite")
    pytest.importorskip("polars")
    out = run_python(
        f"""
import sqlite3, sys
import headwater as hw
db = {str(tmp_path / "src.sqlite")!r}
con = sqlite3.connect(db)
con.execute("create table t (id integer primary key, name text)")
con.executemany("insert into t values (?, ?)", [(1, "a"), (2, "b")])
con.commit()
p = hw.pipeline("adbc", destination=hw.destinations.duckdb({str(tmp_path / "d.duckdb")!r}),
                pipelines_dir={str(tmp_path / "p")!r}, progress=False)
source = hw.sources.sql_database("sqlite:///" + db, backend="adbc")
print(p.run(source).table_rows())
print(sorted({{"pandas", "polars"}} & set(sys.modules)))
import pandas as pd, polars as pl, pyarrow as pa
table = pa.table({{"x": [1, None]}})
print(table.to_pandas()["x"].isna().tolist(), pl.from_arrow(table)["x"].to_list())
print(pa.array(pd.Series([1, None], dtype="Int64")).to_pylist())
"""
    )
    assert out.splitlines() == ["{'t': 2}", "[]", "[False, True] [1, None]", "[1, None]"]
