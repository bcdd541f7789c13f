"""transform= on resources, end to end on real DuckDB files: row-wise queries per batch, whole-data
queries staged on disk, functions, parameters, hints, dispositions, state and failures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

import headwater as hw
from headwater.errors import ConfigError, ContractViolation, ExtractError
from headwater.pipelines import transforming


def _pipeline(tmp_path: Path, name: str = "etl", **kwargs: Any) -> Any:
    return hw.pipeline(
        name,
        destination=hw.destinations.duckdb(str(tmp_path / "etl.duckdb")),
        pipelines_dir=tmp_path / "p",
        progress=False,
        **kwargs,
    )


def _rows(pipeline: Any, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(r.values()) for r in pipeline.query(sql).to_pylist()]


ORDERS = [
    {"OrderId": 1, "Customer": {"Name": "ada"}, "Lines": [{"Sku": "a", "Qty": 2}, {"Sku": "b", "Qty": 1}]},
    {"OrderId": 2, "Customer": {"Name": "bob"}, "Lines": [{"Sku": "a", "Qty": 5}]},
    {"OrderId": 3, "Customer": {"Name": "ada"}, "Lines": []},
]


def test_a_row_wise_query_sees_normalized_names_and_binds_params(tmp_path: Path) -> None:
    pipeline = _pipeline(tmp_path)
    orders = hw.resource(
        ORDERS,
        name="orders",
        transform="select order_id, upper(customer__name) as who from records where order_id >= $least",
        params={"least": 2},
    )
    assert orders.transform is not None and orders.transform.row_wise
    pipeline.run(orders)
    assert _rows(pipeline, "select order_id, who from orders order by order_id") == [(2, "BOB"), (3, "ADA")]
    assert "orders__lines" not in pipeline.dataset().tables()  # the query selected no list


def test_a_row_wise_query_runs_per_batch_while_extracting(tmp_path: Path) -> None:
    seen: list[int] = []  # how many items the generator had yielded when each result batch arrived
    produced = 0

    def numbers() -> Any:
        nonlocal produced
        for i in range(50):
            produced += 1
            yield {"n": i}

    real = transforming.Stage._run

    def spy(self: Any, con: Any) -> None:
        seen.append(produced)
        real(self, con)

    pipeline = _pipeline(tmp_path, batch_size=10)
    transforming.Stage._run = spy  # type: ignore[method-assign]
    try:
        pipeline.run(hw.resource(numbers, transform="select n * 2 as doubled from records where n % 5 = 0"))
    finally:
        transforming.Stage._run = real  # type: ignore[method-assign]
    assert seen == [10, 20, 30, 40, 50]  # one query per batch of 10, as the rows came
    assert _rows(pipeline, "select sum(doubled), count(*) from numbers") == [(2 * sum(range(0, 50, 5)), 10)]


def test_an_aggregate_joins_child_tables_over_all_batches(tmp_path: Path) -> None:
    pipeline = _pipeline(tmp_path, batch_size=2)
    query = """
        select r.customer__name as customer, count(distinct r.order_id) as orders, coalesce(sum(l.qty), 0) as qty
        from records r left join records__lines l on l._hw_parent_id = r._hw_id
        group by r.customer__name
    """
    per_customer = hw.resource(ORDERS, name="per_customer", transform=query)
    assert per_customer.transform is not None and not per_customer.transform.row_wise
    pipeline.run(per_customer)
    assert _rows(pipeline, "select customer, orders, qty from per_customer order by customer") == [
        ("ada", 2, 3),
        ("bob", 1, 5),
    ]
    columns = pipeline.dataset().table("per_customer").columns
    assert [c for c in columns if not c.startswith("_hw_")] == ["customer", "orders", "qty"]
    assert not list((tmp_path / "p").rglob("transform-*.duckdb"))  # the staging database is gone


def test_output_lands_with_merge_hints_state_and_exactly_once(tmp_path: Path) -> None:
    @hw.resource(
        write_disposition="merge",
        primary_key="customer",
        transform="select customer, sum(amount) as total, max(ts) as last_at from records group by customer",
    )
    def totals(ts: Any = hw.incremental("ts", initial_value=0)) -> Any:
        yield from batches.pop(0)

    batches = [
        [{"customer": "ada", "amount": 1.0, "ts": 1}, {"customer": "bob", "amount": 2.0, "ts": 2}],
        [{"customer": "ada", "amount": 4.0, "ts": 3}],
    ]
    pipeline = _pipeline(tmp_path)
    pipeline.run(totals)
    pipeline.run(totals)
    assert _rows(pipeline, "select customer, total, last_at from totals order by customer") == [
        ("ada", 4.0, 3),
        ("bob", 2.0, 2),
    ]
    assert pipeline.schema().tables["totals"].columns["customer"].primary_key
    last = pipeline.query("select state from _hw_state order by version desc limit 1")
    committed = json.loads(last["state"][0].as_py())
    assert committed["sources"]["etl"]["incremental"]["totals"]["ts"]["last_value"] == 3  # raw rows moved the cursor
    assert _rows(pipeline, "select count(*) from _hw_loads") == [(2,)]


def test_a_function_gets_a_relation_and_may_return_a_frame_or_arrow(tmp_path: Path) -> None:
    def top(records: Any, *, n: int) -> Any:
        assert type(records).__name__ == "DuckDBPyRelation"
        return records.order("order_id desc").limit(n).df()

    def as_arrow(records: pa.Table) -> pa.Table:  # annotated: it gets the records as an Arrow table
        assert isinstance(records, pa.Table)
        return records.select(["order_id"])

    pipeline = _pipeline(tmp_path)
    pipeline.run(hw.resource(ORDERS, name="top", transform={"function": top, "kwargs": {"n": 2}}))
    pipeline.run(hw.resource(ORDERS, name="ids").with_transform(as_arrow))
    assert _rows(pipeline, "select order_id from top order by 1") == [(2,), (3,)]
    assert _rows(pipeline, "select count(*) from ids") == [(3,)]


def test_query_path_with_hippo_kwargs_is_bound(tmp_path: Path) -> None:
    (tmp_path / "q.sql").write_text("select order_id, '{tag}' as tag from records where order_id > {above}")
    pipeline = _pipeline(tmp_path)
    evil = "x'); drop table records; --"
    pipeline.run(
        hw.resource(
            ORDERS, name="tagged", transform={"query_path": tmp_path / "q.sql", "kwargs": {"tag": evil, "above": 1}}
        )
    )
    assert _rows(pipeline, "select order_id, tag from tagged order by 1") == [(2, evil), (3, evil)]


def test_a_query_error_names_the_resource_and_shows_duckdbs_message(tmp_path: Path) -> None:
    pipeline = _pipeline(tmp_path)
    with pytest.raises(ConfigError) as info:
        pipeline.run(hw.resource(ORDERS, name="orders", transform="select nope from records"))
    text = str(info.value)
    assert "the transform of resource 'orders' failed" in text
    assert "nope" in text and "Binder Error" in text


def test_a_failed_extraction_loads_no_partial_aggregate(tmp_path: Path) -> None:
    def flaky() -> Any:
        yield [{"k": "a", "v": 1}, {"k": "a", "v": 2}]
        raise RuntimeError("the source broke")

    pipeline = _pipeline(tmp_path, batch_size=1)
    with pytest.raises(ExtractError, match="the source broke"):
        pipeline.run(hw.resource(flaky, transform="select k, sum(v) as v from records group by k"))
    assert not pipeline.dataset().tables()
    assert not list((tmp_path / "p").rglob("transform-*.duckdb"))


def test_arrow_and_frames_are_normalized_before_the_query(tmp_path: Path) -> None:
    import pandas as pd

    table = pa.table({"Event Name": ["a", "b", "a"], "Value": [1, 2, 3]})
    frame = pd.DataFrame({"Event Name": ["b"], "Value": [10]})
    pipeline = _pipeline(tmp_path)
    pipeline.run(
        hw.resource(
            [table, frame], name="events", transform="select event_name, sum(value) as total from records group by 1"
        )
    )
    assert _rows(pipeline, "select event_name, total from events order by 1") == [("a", 4), ("b", 12)]


def test_dry_run_plans_the_transformed_table(tmp_path: Path) -> None:
    pipeline = _pipeline(tmp_path)
    plan = pipeline.plan(hw.resource(ORDERS, name="few", transform="select order_id from records where order_id < 3"))
    assert plan.tables["few"].rows == 2
    assert duckdb is not None


def test_a_row_wise_batch_without_a_column_earlier_batches_had_sees_it_as_null(tmp_path: Path) -> None:
    rows = [{"id": 1, "note": "x"}, {"id": 2, "note": "y"}, {"id": 3}, {"id": 4}]
    pipeline = _pipeline(tmp_path, batch_size=2)  # the second batch has no 'note' at all
    pipeline.run(hw.resource(rows, name="notes", transform="select id, coalesce(note, '-') as note from records"))
    assert _rows(pipeline, "select id, note from notes order by id") == [(1, "x"), (2, "y"), (3, "-"), (4, "-")]


def test_a_staged_transform_leaves_nothing_in_the_kept_package(tmp_path: Path) -> None:
    pipeline = _pipeline(tmp_path, keep_packages=True)
    pipeline.run(hw.resource(ORDERS, name="n", transform={"query": "select count(*) as n from records"}))
    assert _rows(pipeline, "select n from n") == [(3,)]
    leftovers = [p.name for p in (tmp_path / "p").rglob("transform-*")]
    assert leftovers == []


def test_a_frozen_contract_applies_to_the_result_columns(tmp_path: Path) -> None:
    pipeline = _pipeline(tmp_path)
    pipeline.run(hw.resource(ORDERS, name="c", schema_contract="freeze", transform="select order_id from records"))
    wider = "select order_id, customer__name from records"
    with pytest.raises(ContractViolation, match=r"customer__?name"):
        pipeline.run(hw.resource(ORDERS, name="c", schema_contract="freeze", transform=wider))
    assert pipeline.dataset().table("c").count() == 3


@pytest.mark.parametrize("query", ["select email, n from records", "select email, sum(n) as n from records group by 1"])
def test_masks_apply_to_the_items_before_the_transform_and_only_once(tmp_path: Path, query: str) -> None:
    import hashlib
    import hmac

    seen: list[Any] = []

    def spy(records: Any) -> Any:
        seen.extend(v for (v,) in records.select("email").fetchall())
        return records.query("records", query)

    pipeline = _pipeline(tmp_path, mask_key="k-9")
    rows = [{"email": "ann@example.org", "n": 1}, {"email": "ann@example.org", "n": 2}]
    pipeline.run(hw.resource(rows, name="people", transform=spy, columns={"email": {"mask": "hash"}}))
    want = hmac.new(b"k-9", b"ann@example.org", hashlib.sha256).hexdigest()
    assert seen and set(seen) == {want}  # the transform never sees the clear value
    assert {e for (e,) in _rows(pipeline, "select email from people")} == {want}  # hashed once, not twice
    assert b"ann@example.org" not in (tmp_path / "etl.duckdb").read_bytes()


def test_checks_apply_to_the_result_of_the_transform(tmp_path: Path) -> None:
    pipeline = _pipeline(tmp_path)
    checks = [hw.checks.between("orders", min=2, severity="quarantine"), hw.checks.row_count(min=1)]
    query = "select customer__name as customer, count(*) as orders from records group by 1"
    info = pipeline.run(hw.resource(ORDERS, name="per_customer", transform=query, checks=checks))
    assert _rows(pipeline, "select customer, orders from per_customer") == [("ada", 2)]
    assert {c.check: (c.checked, c.failing) for c in info.checks} == {"between(orders)": (2, 1), "row_count": (1, 0)}
