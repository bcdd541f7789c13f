"""Transform specs checked at the edge, and row-wise queries told by DuckDB's parser (headwater/transform/)."""

from __future__ import annotations

from pathlib import Path

import pytest

import headwater as hw
from headwater.errors import ConfigError
from headwater.transform import make_transform
from headwater.transform.rowwise import is_row_wise


@pytest.mark.parametrize(
    "sql",
    [
        "select * from records",
        "select id, upper(name) as name from records where amount > $least",
        "select * exclude (secret) from records r where r.id between 1 and 9",
        "select cast(x as int) as x, case when a then 1 else 2 end as b from records where y in (1, 2)",
        "select coalesce(a, 'none') as a, a || '-' || b as ab from RECORDS",
    ],
)
def test_row_wise_queries(sql: str) -> None:
    assert is_row_wise(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "select carrier, count(*) from records group by carrier",
        "select sum(x) from records",
        "select distinct a from records",
        "select * from records order by a",
        "select * from records limit 10",
        "select a, row_number() over () from records",
        "select * from records where a in (select a from records where b)",
        "select * from records join records__tags t on t._hw_parent_id = records._hw_id",
        "select * from records__tags",
        "with r as (select * from records) select * from r",
        "select * from records union all select * from records",
        "select * from records qualify a > 1",
        "select list_transform(xs, x -> x + 1) from records",
        "select * from main.records",
        "select * from records using sample 10%",
        "select string_agg(a, ',') from records",
        "select count(*) filter (where a) from records",
    ],
)
def test_queries_that_are_not_row_wise(sql: str) -> None:
    assert not is_row_wise(sql)


def test_spellings_of_a_transform(tmp_path: Path) -> None:
    (tmp_path / "q.sql").write_text("select * from records where day = '{day}' and n > $n")
    spec = {"query_path": "q.sql", "kwargs": {"day": "x'; drop table t; --"}, "params": {"n": 1}}
    by_path = make_transform(spec, base_dir=tmp_path)
    assert by_path.sql is not None and "drop table" not in by_path.sql
    assert dict(by_path.params) == {"day": "x'; drop table t; --", "n": 1}
    assert by_path.row_wise
    as_written = make_transform(tmp_path / "q.sql", {"n": 1, "day": 3}).sql  # no kwargs: braces are SQL
    assert as_written == "select * from records where day = '{day}' and n > $n"
    fn = make_transform(lambda records: records)
    assert fn.function is not None and not fn.row_wise
    assert make_transform({"query": "select count(*) from records"}).row_wise is False


@pytest.mark.parametrize(
    ("spec", "params", "message"),
    [
        ({"querry": "select 1"}, None, "did you mean 'query'"),
        ({"query": "select 1", "function": len}, None, "one of 'query', 'query_path' or 'function'"),
        ("selct * from records", None, "not a query DuckDB can parse"),
        ("select 1; select 2", None, "2 statements"),
        ("select * from records where a > $least", None, "least"),
        ("select * from records where a > $least", {"lest": 1}, "did you mean 'lest'"),
        ({"query_path": "missing.sql"}, None, "cannot read the transform query"),
        ({"function": "not callable"}, None, "is not callable"),
        ({"function": len, "params": {"a": 1}}, None, "kwargs, not params"),
        (42, None, "transform= takes SQL text"),
    ],
)
def test_mistakes_are_config_errors_at_the_edge(spec: object, params: dict[str, int] | None, message: str) -> None:
    with pytest.raises(ConfigError, match="resource='r'") as info:
        hw.resource([{"a": 1}], name="r", transform=spec, params=params)
    assert message in str(info.value)


def test_params_without_a_transform_is_refused() -> None:
    with pytest.raises(ConfigError, match="params= goes with transform="):
        hw.resource([{"a": 1}], name="r", params={"a": 1})
    with pytest.raises(ConfigError, match="did you mean 'transform'"):
        hw.resource([{"a": 1}], name="r", transfrom="select 1")


def test_with_transform_returns_a_copy() -> None:
    base = hw.resource([{"a": 1}], name="r")
    changed = base.with_transform("select a from records where a > $x", params={"x": 0})
    assert base.transform is None
    assert changed.transform is not None and changed.transform.row_wise
    assert changed.with_transform(None).transform is None
