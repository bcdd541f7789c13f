"""Pipelines into real DuckDB files: item kinds, dispositions, evolution, system tables."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pyarrow as pa

import headwater as hw
from headwater.testing import requires, rows, scalar


def github_source() -> Any:
    @hw.resource(table_name="events", write_disposition="append", primary_key="id")
    def events() -> Any:
        for page in range(3):
            yield [
                {
                    "id": page * 10 + i,
                    "type": "PushEvent",
                    "actor": {"login": f"user{i}", "url": "https://x"},
                    "payload": {"commits": [{"sha": f"{i}{j}", "message": "m"} for j in range(i % 3)]},
                    "labels": [{"name": "bug"}] if i % 2 else [],
                    "created_at": "2024-01-02T03:04:05Z",
                }
                for i in range(10)
            ]

    @hw.source
    def github() -> Any:
        return [events]

    return github


def test_append_twice_accumulates_and_records_loads(make_pipeline: Any) -> None:
    p = make_pipeline()
    first = p.run([{"a": 1}, {"a": 2}], table_name="t")
    second = p.run([{"a": 3}], table_name="t")
    assert scalar(p, "select count(*) from t") == 3
    loads = rows(p, "select load_id, status, rows, table_rows from _hw_loads order by load_id")
    assert [r[0] for r in loads] == [first.load_id, second.load_id]
    assert [r[1] for r in loads] == ["completed", "completed"]
    assert json.loads(loads[0][3]) == {"t": 2}
    by_load = rows(p, "select _hw_load_id, count(*) from t group by 1 order by 1")
    assert by_load == [(first.load_id, 2), (second.load_id, 1)]


def test_replace_replaces_root_and_child_tables_atomically(make_pipeline: Any) -> None:
    p = make_pipeline()

    def data(n: int, with_tags: bool) -> Any:
        return [{"id": i, "tags": ["x", "y"] if with_tags else []} for i in range(n)]

    p.run(data(5, True), table_name="t", write_disposition="replace")
    assert scalar(p, "select count(*) from t__tags") == 10
    p.run(data(2, False), table_name="t", write_disposition="replace")
    assert scalar(p, "select count(*) from t") == 2
    assert scalar(p, "select count(*) from t__tags") == 0  # children of the replaced root too


def test_replace_with_no_rows_empties_the_table(make_pipeline: Any) -> None:
    p = make_pipeline()

    @hw.resource(write_disposition="replace")
    def things(n: int) -> Any:
        yield from ({"i": i} for i in range(n))

    p.run(things(3))
    assert scalar(p, "select count(*) from things") == 3
    info = p.run(things(0))
    assert scalar(p, "select count(*) from things") == 0
    assert info.table_rows() == {"things": 0}


def test_every_item_kind(make_pipeline: Any) -> None:
    import duckdb
    import pandas as pd
    import polars as pl

    @hw.resource(table_name="mixed")
    def items() -> Any:
        yield {"k": "dict"}
        yield [{"k": "list"}, {"k": "list"}]
        yield pa.table({"k": ["arrow"]})
        yield pa.record_batch({"k": ["batch"]})
        yield pd.DataFrame({"k": ["pandas"]})
        yield pl.DataFrame({"k": ["polars"]})
        yield duckdb.sql("select 'duckdb' as k")
        yield "scalar"
        yield None

    p = make_pipeline()
    p.run(items())
    got = rows(p, "select k, value from mixed")
    ks = sorted(r[0] for r in got if r[0])
    assert ks == sorted(["dict", "list", "list", "arrow", "batch", "pandas", "polars", "duckdb"])
    assert [r[1] for r in got if r[1]] == ["scalar"]


def test_pandas_frame_with_mixed_object_column_takes_the_careful_path(make_pipeline: Any) -> None:
    import pandas as pd

    frame = pd.DataFrame({"x": [1, "a", None], "n": [1.5, 2.5, None]})
    p = make_pipeline()
    p.run(frame, table_name="f")
    assert rows(p, "select x, x__v_text, n from f") == [(1, None, 1.5), (None, "a", 2.5), (None, None, None)]


def test_dynamic_table_names(make_pipeline: Any) -> None:
    events = [{"type": "Push", "n": 1}, {"type": "Watch", "n": 2}, {"type": "Push", "n": 3}]
    p = make_pipeline()
    info = p.run(hw.resource(events, name="events", table_name=lambda e: e["type"] + "Event"))
    assert info.table_rows() == {"push_event": 2, "watch_event": 1}


def test_async_resources_in_a_source(make_pipeline: Any) -> None:
    @hw.resource
    async def slow_a() -> Any:
        for i in range(3):
            await asyncio.sleep(0.01)
            yield {"i": i}

    @hw.resource
    async def slow_b() -> Any:
        for i in range(4):
            await asyncio.sleep(0.01)
            yield [{"i": i}]

    @hw.source
    def both() -> Any:
        return [slow_a, slow_b]

    p = make_pipeline()
    info = p.run(both())
    assert info.table_rows() == {"slow_a": 3, "slow_b": 4}


def test_transformers_load_into_their_own_tables(make_pipeline: Any) -> None:
    @hw.resource
    def repos() -> Any:
        yield [{"name": "a"}, {"name": "b"}]

    @hw.transformer(data_from=repos)
    def issues(page: list[dict[str, Any]]) -> Any:
        for repo in page:
            yield {"repo": repo["name"], "title": "t"}

    @hw.source
    def gh() -> Any:
        return [repos, issues]

    p = make_pipeline()
    assert p.run(gh()).table_rows() == {"repos": 2, "issues": 2}
    p2 = make_pipeline("only_issues")
    assert p2.run(gh().with_resources("issues")).table_rows() == {"issues": 2}


def test_schema_is_restored_from_the_destination_on_a_new_machine(make_pipeline: Any, tmp_path: Path) -> None:
    p = make_pipeline("restore")
    p.run([{"userId": 1, "user_id": 2}], table_name="t")
    assert {c for c in p.schema().tables["t"].columns if not c.startswith("_hw")} == {"user_id", "user_id_2"}
    # a new working folder, same destination: names stay stable because the schema comes back
    fresh = make_pipeline("restore", pipelines_dir=tmp_path / "elsewhere")
    fresh.run([{"user_id": 3, "userId": 4}], table_name="t")
    got = rows(fresh, "select user_id, user_id_2 from t order by user_id")
    assert got == [(1, 2), (4, 3)]


def test_parquet_packages_load_the_same(make_pipeline: Any, tmp_path: Path) -> None:
    docs = [{"id": i, "v": {"x": i * 1.5}, "tags": ["a"] * (i % 3)} for i in range(1000)]
    arrow_p = make_pipeline("with_arrow")
    parquet_p = make_pipeline("with_parquet", package_format="parquet", keep_packages=True)
    assert arrow_p.run(docs, table_name="t").table_rows() == parquet_p.run(docs, table_name="t").table_rows()
    assert list((tmp_path / "pipelines" / "with_parquet" / "completed").rglob("*.parquet"))
    query = "select id, v__x, (select count(*) from t__tags c where c._hw_parent_id = t._hw_id) from t order by id"
    assert rows(arrow_p, query) == rows(parquet_p, query)


def test_plain_data_with_a_table_name_function_is_named_after_the_pipeline(make_pipeline: Any) -> None:
    p = make_pipeline("routed")
    events = ({"kind": k, "n": i} for i, k in enumerate(["a", "b", "a"]))  # a generator expression
    info = p.run(events, table_name=lambda e: f"kind_{e['kind']}")
    assert info.table_rows() == {"kind_a": 2, "kind_b": 1}
    assert {p.schema().tables[t].resource for t in ("kind_a", "kind_b")} == {"routed"}


def schema_types(p: Any, table: str) -> dict[str, str]:
    """The Headwater types of a table's columns, from the pipeline's schema."""
    return {name: column.data_type for name, column in p.schema().tables[table].columns.items()}


def test_readme_example_runs_and_lands_nested_data(make_pipeline: Any) -> None:
    p = make_pipeline("github")
    info = p.run(github_source()())
    assert info.table_rows() == {"events": 30, "events__payload__commits": 27, "events__labels": 15}
    assert "events" in str(info)
    assert info.load_id
    assert scalar(p, "select count(*) from events") == 30
    assert scalar(p, "select count(*) from events__payload__commits") == 27
    # children join back to their parents
    joined = scalar(
        p,
        "select count(*) from events e join events__payload__commits c on c._hw_parent_id = e._hw_id",
    )
    assert joined == 27
    types = schema_types(p, "events")
    assert types["created_at"] == "timestamp"
    assert types["actor__login"] == "text"
    assert types["id"] == "bigint"
    assert scalar(p, "select max(created_at) from events") == dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert "actor__login" in info.loads[0].tables["events"].new_columns


def test_nested_lists_become_linked_child_tables_in_order(make_pipeline: Any) -> None:
    p = make_pipeline()
    orders = [
        {"id": 1, "tags": ["a", "b"], "lines": [{"sku": "x", "parts": [1, 2]}, {"sku": "y", "parts": []}]},
        {"id": 2, "tags": [], "lines": [{"sku": "z", "parts": [3]}]},
        {"id": 3, "tags": ["c"]},
    ]
    p.run(orders, table_name="orders")
    assert rows(
        p, "select o.id, t.value from orders o join orders__tags t on t._hw_parent_id = o._hw_id order by 1, 2"
    ) == [(1, "a"), (1, "b"), (3, "c")]
    assert rows(
        p,
        "select o.id, l.sku, x.value, x._hw_root_id = o._hw_id from orders o "
        "join orders__lines l on l._hw_parent_id = o._hw_id "
        "join orders__lines__parts x on x._hw_parent_id = l._hw_id order by 1, 2, 3",
    ) == [(1, "x", 1, True), (1, "x", 2, True), (2, "z", 3, True)]
    # list order is kept
    assert rows(p, "select value, _hw_list_idx from orders__tags order by value") == [("a", 0), ("b", 1), ("c", 0)]


def test_values_of_every_type_come_back(make_pipeline: Any) -> None:
    import decimal
    import uuid

    p = make_pipeline()
    u = uuid.UUID("12345678-1234-5678-1234-567812345678")
    row = {
        "i": 1,
        "f": 1.5,
        "b": True,
        "s": "text",
        "ts": dt.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC),
        "d": dt.date(2024, 1, 2),
        "bin": b"\x00\x01",
        "u": u,
        "dec": decimal.Decimal("12.34"),
        "j": {"a": [1, 2]},
    }
    p.run([row], table_name="typed", columns={"j": {"data_type": "json"}})
    got = p.query("select i, f, b, s, ts, d, bin, u, dec, j from typed").to_pylist()[0]
    assert got["i"] == 1
    assert got["f"] == 1.5
    assert got["b"] is True
    assert got["s"] == "text"
    assert got["ts"] == row["ts"]
    assert got["d"] == row["d"]
    assert got["bin"] == b"\x00\x01"
    assert str(got["u"]) == str(u)  # a uuid, or its text where the destination stores uuids as text
    assert got["dec"] == decimal.Decimal("12.34")
    j = got["j"] if isinstance(got["j"], str) else json.dumps(got["j"])
    assert json.loads(j) == {"a": [1, 2]}
    types = schema_types(p, "typed")
    assert {k: types[k] for k in row} == {
        "i": "bigint",
        "f": "double",
        "b": "bool",
        "s": "text",
        "ts": "timestamp",
        "d": "date",
        "bin": "binary",
        "u": "uuid",
        "dec": "decimal",
        "j": "json",
    }


def test_new_columns_appear_and_a_conflicting_type_becomes_a_variant_column(make_pipeline: Any) -> None:
    p = make_pipeline()
    p.run([{"id": 1, "v": 1, "a": "x"}], table_name="t")
    info = p.run([{"id": 2, "v": 2, "extra": "new", "when": dt.date(2024, 5, 1)}], table_name="t")
    assert info.loads[0].tables["t"].new_columns == ["extra", "when"]
    assert rows(p, 'select id, v, a, extra, "when" from t order by id') == [
        (1, 1, "x", None, None),
        (2, 2, None, "new", dt.date(2024, 5, 1)),
    ]
    p.run([{"id": 3, "v": "n/a"}], table_name="t")
    assert rows(p, "select v, v__v_text from t where id = 3") == [(None, "n/a")]
    assert schema_types(p, "t")["v"] == "bigint"
    assert schema_types(p, "t")["v__v_text"] == "text"


@requires("type_widening", ("bigint", "double"))
def test_a_bigint_column_widens_to_double(make_pipeline: Any) -> None:
    p = make_pipeline()
    p.run([{"id": 1, "v": 1}], table_name="t")
    p.run([{"id": 2, "v": 2.5}], table_name="t")
    assert rows(p, "select id, v from t order by id") == [(1, 1.0), (2, 2.5)]
    assert schema_types(p, "t")["v"] == "double"
    assert "v__v_double" not in p.schema().tables["t"].columns


def test_column_hints_create_typed_columns(make_pipeline: Any) -> None:
    @hw.resource(columns={"price": "decimal(12,2)", "raw": "json", "seen": "timestamp"})
    def sales() -> Any:
        yield {"price": "10.10", "raw": {"a": [1, {"b": None}]}, "seen": "2024-05-01T00:00:00+02:00"}

    p = make_pipeline()
    p.run(sales())
    columns = p.schema().tables["sales"].columns
    assert columns["price"].data_type == "decimal"
    assert columns["raw"].data_type == "json"
    got = p.query("select price, raw, seen from sales").to_pylist()[0]
    assert str(got["price"]) == "10.10"
    raw = got["raw"] if isinstance(got["raw"], str) else json.dumps(got["raw"])
    assert json.loads(raw) == {"a": [1, {"b": None}]}
    assert got["seen"] == dt.datetime(2024, 4, 30, 22, tzinfo=dt.UTC)


def test_system_tables_record_every_load(make_pipeline: Any) -> None:
    p = make_pipeline()
    first = p.run([{"a": {"b": 1}}], table_name="t")
    second = p.run([{"a": {"b": 2}, "c": 1}], table_name="t")
    loads = rows(p, "select load_id, status from _hw_loads order by load_id")
    assert loads == [(first.load_id, "completed"), (second.load_id, "completed")]
    # the schema comes back on a new machine: stored with the load
    assert [c for c in p.schema().tables["t"].columns if not c.startswith("_hw")] == ["a__b", "c"]
