"""Hippo transformer queries: parameters are bound, never formatted into the SQL (headwater/transform/params.py)."""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.errors import ConfigError
from headwater.flows.hippo import transform_relation
from headwater.transform.params import bind_sql

RECORDS = pa.table({"id": [1, 2, 3], "name": ["a", "b", "c'd"]})


def rows(relation: Any) -> list[tuple[Any, ...]]:
    return sorted(relation.fetchall())


@pytest.mark.parametrize(
    ("sql", "params", "kwargs", "expected_sql", "expected_params"),
    [
        ("select $x", {"x": 1}, None, "select $x", {"x": 1}),
        ("select {x}", None, {"x": 1}, "select $x", {"x": 1}),
        ("select {x}, $y", {"y": 2}, {"x": 1}, "select $x, $y", {"x": 1, "y": 2}),
        ("select '{x}'", None, {"x": 1}, "select CAST($x AS VARCHAR)", {"x": 1}),
        ("select 'a_{x}_b'", None, {"x": 1}, "select ('a_' || CAST($x AS VARCHAR) || '_b')", {"x": 1}),
        ("select '{x}'", None, None, "select '{x}'", {}),  # no kwargs: Hippo formats nothing
        ("select '{\"a\": 1}'", None, {"x": 1}, "select '{\"a\": 1}'", {}),  # JSON text in a literal
        ("select {{x}}", None, {"x": 1}, "select {x}", {}),  # Hippo's escapes
        ("select {'k': {'j': {x}}}", None, {"x": 1}, "select {'k': {'j': $x}}", {"x": 1}),  # struct literals
        ('select "{x}" from t', None, {"x": 1}, 'select "{x}" from t', {}),  # a quoted identifier
        ("select 1 -- {x} $y\n", None, {"x": 1}, "select 1 -- {x} $y\n", {}),  # comments
        ("select 1 /* {x} $y */", None, {"x": 1}, "select 1 /* {x} $y */", {}),
        ("select $$ {x} $y $$", None, {"x": 1}, "select $$ {x} $y $$", {}),  # dollar quoting
        ("select 'it''s {x}'", None, {"x": 1}, "select ('it''s ' || CAST($x AS VARCHAR))", {"x": 1}),
        ("select $x, $x", {"x": 1, "unused": 2}, None, "select $x, $x", {"x": 1}),
    ],
)
def test_placeholders_become_parameters(
    sql: str, params: Any, kwargs: Any, expected_sql: str, expected_params: dict[str, Any]
) -> None:
    assert bind_sql(sql, params, kwargs) == (expected_sql, expected_params)


@pytest.mark.parametrize(
    ("sql", "params", "kwargs", "message"),
    [
        ("select {missing}", None, {"other": 1}, "placeholder {missing}"),
        ("select $missing", {"other": 1}, None, "parameter $missing"),
        ("select '{x} {y}'", None, {"x": 1}, "placeholder {y}"),
        ("select {x:>5}", None, {"x": 1}, "not a plain name"),
        ("select {0}", None, {"x": 1}, "not a plain name"),
        ("select $1", None, None, "positional parameter $1"),
        ("select 'open", None, None, "not closed"),
        ('select "open', None, None, "not closed"),
        ("select 1 /* open", None, None, "not closed"),
        ("select $x", {"x": 1}, {"x": 2}, "one value in params and another in kwargs"),
        ("select 1", {"not a name": 1}, None, "is not a name"),
    ],
)
def test_refused(sql: str, params: Any, kwargs: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("$", r"\$").replace("{", r"\{").replace("}", r"\}")):
        bind_sql(sql, params, kwargs)


def test_missing_placeholder_names_it_with_a_did_you_mean() -> None:
    with pytest.raises(ConfigError) as err:
        bind_sql("select * from records where day = {dya}", None, {"day": "2024-01-01"})
    assert "{dya}" in str(err.value) and "did you mean 'day'" in str(err.value)


INJECTION = "x'; DROP TABLE t; --"


@pytest.mark.parametrize(
    "spec",
    [
        {"query": "select * from records where name = {v}", "kwargs": {"v": INJECTION}},
        {"query": "select * from records where name = '{v}'", "kwargs": {"v": INJECTION}},
        {"query": "select * from records where name = $v", "params": {"v": INJECTION}},
    ],
)
def test_injection_is_a_value(spec: dict[str, Any]) -> None:
    result = transform_relation(RECORDS, spec)
    assert rows(result) == []  # compared with the value; nothing else ran
    same = transform_relation(pa.table({"name": [INJECTION, "other"]}), spec)
    assert rows(same) == [(INJECTION,)]


def test_injection_against_a_real_table(tmp_path: Any) -> None:
    """The value would drop the table if it were formatted into the SQL: the table is still there."""
    con = duckdb.connect(str(tmp_path / "t.duckdb"))
    con.execute("CREATE TABLE t AS SELECT 1 AS a")
    relation = con.sql("select * from t")
    spec = {"query": "select '{v}' as v, * from records", "kwargs": {"v": "'; DROP TABLE t; --"}}
    assert rows(transform_relation(relation, spec)) == [("'; DROP TABLE t; --", 1)]
    assert con.execute("select count(*) from t").fetchall() == [(1,)]
    con.close()


@settings(max_examples=30, deadline=None)
@given(value=st.text())
def test_any_text_round_trips_as_a_value(value: str) -> None:
    for spec in (
        {"query": "select {v} as v from records limit 1", "kwargs": {"v": value}},
        {"query": "select $v as v from records limit 1", "params": {"v": value}},
        {"query": "select '{v}' as v from records limit 1", "kwargs": {"v": value}},
    ):
        assert transform_relation(RECORDS, spec).fetchall() == [(value,)]


@settings(max_examples=40, deadline=None)
@given(value=st.one_of(st.integers(min_value=-(2**63), max_value=2**63 - 1), st.booleans(), st.none()))
def test_other_values_keep_their_type(value: Any) -> None:
    got = transform_relation(RECORDS, {"query": "select {v} as v limit 1", "kwargs": {"v": value}}).fetchall()
    assert got == [(value,)]


def test_query_path_relative_to_base_dir(tmp_path: Any) -> None:
    (tmp_path / "q").mkdir()
    (tmp_path / "q" / "pick.sql").write_text("select id from records where id >= {lo} and name <> $skip")
    spec = {"query_path": "q/pick.sql", "kwargs": {"lo": 2}, "params": {"skip": "b"}}
    assert rows(transform_relation(RECORDS, spec, base_dir=tmp_path)) == [(3,)]
    with pytest.raises(ConfigError, match="cannot read the transform query"):
        transform_relation(RECORDS, {"query_path": "nope.sql"}, base_dir=tmp_path)


def test_records_can_be_read_twice_from_a_relation() -> None:
    source = duckdb.connect().sql("select range as id from range(1000)")
    joined = transform_relation(source, {"query": "select count(*) from records a join records b using (id)"})
    assert joined.fetchall() == [(1000,)]


def test_function_transformer_gets_a_relation() -> None:
    def keep(records: Any, *, at_least: int) -> Any:
        assert type(records).__name__ == "DuckDBPyRelation"
        return records.filter(f"id >= {int(at_least)}")

    assert rows(transform_relation(RECORDS, {"function": keep, "kwargs": {"at_least": 3}})) == [(3, "c'd")]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"qeury": "select 1"}, "did you mean 'query'"),
        ({}, "needs one of"),
        ({"query": "select 1", "function": len}, "query and function"),
        ({"function": "headwater.transform.params:bind_sqll"}, "did you mean 'bind_sql'"),
        ({"function": "no_such_module_x:f"}, "cannot import"),
        ({"query": "select 1", "kwargs": [1]}, "kwargs must be a table"),
    ],
)
def test_bad_transformer_specs(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        transform_relation(RECORDS, spec)


@pytest.mark.parametrize(
    "make",
    [
        lambda: duckdb.connect().from_arrow(RECORDS),
        lambda: RECORDS,
        lambda: RECORDS.to_reader(),
        lambda: RECORDS.to_pandas(),
        lambda: __import__("polars").from_arrow(RECORDS),
        lambda: RECORDS.to_pylist(),
        lambda: (dict(r) for r in RECORDS.to_pylist()),
    ],
    ids=["relation", "arrow", "reader", "pandas", "polars", "dicts", "generator"],
)
def test_a_query_reads_every_kind_of_extracted_data(make: Any) -> None:
    spec = {"query": "select id from records where name = {n}", "kwargs": {"n": "c'd"}}
    assert rows(transform_relation(make(), spec)) == [(3,)]
