"""The dashboard's data layer on real DuckDB files and working folders, without a server or a browser."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import headwater as hw
from headwater.errors import StateError
from headwater.observe.dashboard import gather
from headwater.pipelines.workdir import WorkDir
from tests.integration.dashboard.conftest import Shop, orders, orders_first, orders_second, shop_pipeline
from tests.integration.dashboard.records import recorded_run


def test_the_detail_of_a_pipeline_run_twice(shop: Shop) -> None:
    detail = gather.pipeline_detail(WorkDir(shop.pipelines_dir / "shop"))
    json.dumps(detail)  # JSON-ready as it is: the endpoint sends it without converting anything

    assert (detail["pipeline"], detail["dataset"], detail["problems"]) == ("shop", "sales", [])
    first, second = shop.records
    assert [(r["run_id"], r["status"], r["rows"]) for r in detail["runs"]] == [
        (first["run_id"], "completed", first["rows"]),
        (second["run_id"], "completed", second["rows"]),
    ]
    tables = {t["name"]: t for t in detail["tables"]}
    assert set(tables) == {"orders", "orders__items"}  # the system tables are not data tables
    assert tables["orders"]["rows"] == 4  # 2 + 2 orders; the negative amount went to the quarantine
    assert tables["orders__items"]["rows"] == 4
    assert [g["rows"] for g in tables["orders"]["growth"]] == [2, 2]
    assert [g["rows"] for g in tables["orders__items"]["growth"]] == [3, 1]

    (schema,) = detail["schemas"]
    versions = schema["versions"]
    assert [v["diff"] is None for v in versions] == [True, False]
    assert versions[1]["diff"]["added"] == [{"table": "orders", "column": "coupon", "type": "text"}]
    assert versions[1]["diff"]["new_tables"] == [] and versions[1]["diff"]["changed"] == []
    assert "coupon" not in versions[0]["tables"]["orders"] and "coupon" in versions[1]["tables"]["orders"]
    assert [v["load_id"] for v in versions] == [first["load_ids"][0], second["load_ids"][0]]

    state = detail["state"]
    assert state["load_id"] == second["load_ids"][0]
    assert [(c["resource"], c["cursor"], c["last_value"]) for c in state["cursors"]] == [
        ("orders", "updated", "2026-11-05T00:00:00Z")
    ]

    checks = {(c["load_id"], c["check_name"]): c for c in detail["checks"]}
    between = checks[(first["load_ids"][0], "between(amount)")]
    assert (between["failing_rows"], between["passed"]) == (1, False)
    assert checks[(second["load_ids"][0], "between(amount)")]["passed"] is True
    quarantine = detail["quarantine"]
    assert [(c["table"], c["rows"]) for c in quarantine["counts"]] == [("orders", 1)]
    assert quarantine["samples"][0]["row"]["id"] == 2 and quarantine["samples"][0]["row"]["amount"] == -3
    assert detail["errors"] == []


def test_a_failed_run_shows_its_error_in_full(tmp_path: Path) -> None:
    pipeline = shop_pipeline(tmp_path / "p", tmp_path / "shop.duckdb")
    recorded_run(pipeline, orders(orders_first()))

    def broken() -> object:
        yield {"id": 9, "amount": 1, "updated": "2026-11-09T00:00:00Z"}
        raise ValueError("the API answered 503 on page 2")

    failed = recorded_run(pipeline, hw.resource(broken, name="orders"))
    detail = gather.pipeline_detail(WorkDir(tmp_path / "p" / "shop"))

    assert [r["status"] for r in detail["runs"]] == ["completed", "failed"]
    (error,) = detail["errors"]
    assert error["run_id"] == failed["run_id"] and error["type"] == "ExtractError"
    assert "the API answered 503 on page 2" in error["message"]
    assert error["hint"] == failed["error"]["hint"] and "drop-pending" in error["hint"]
    summary = gather.pipeline_summaries(gather.workdirs(tmp_path / "p"))
    assert [(s["id"], s["runs"], s["failed_runs"], s["last_run"]["status"]) for s in summary] == [
        ("shop", 2, 1, "failed")
    ]


def test_a_destination_that_is_gone_is_a_problem_line_not_a_failed_page(tmp_path: Path) -> None:
    pipeline = shop_pipeline(tmp_path / "p", tmp_path / "shop.duckdb")
    record = recorded_run(pipeline, orders(orders_first()))
    (tmp_path / "shop.duckdb").rename(tmp_path / "moved.duckdb")

    detail = gather.pipeline_detail(WorkDir(tmp_path / "p" / "shop"))

    (problem,) = detail["problems"]
    assert "shop.duckdb" in problem and "holds no table of dataset 'sales'" in problem
    assert [r["run_id"] for r in detail["runs"]] == [record["run_id"]]  # the records still show
    assert {t["name"]: t["rows"] for t in detail["tables"]} == {"orders": None, "orders__items": None}
    (schema,) = detail["schemas"]  # the working folder's copy, marked as such
    assert [v["local_only"] for v in schema["versions"]] == [True]
    assert detail["state"]["cursors"][0]["last_value"] == "2026-11-03T00:00:00Z"


def test_a_misspelled_pipeline_name_is_refused_with_the_closest(shop: Shop) -> None:
    with pytest.raises(StateError, match=r"no pipeline 'shpo' in .*did you mean 'shop'\?"):
        gather.workdirs(shop.pipelines_dir, ["shpo"])
    assert [w.root.name for w in gather.workdirs(shop.pipelines_dir)] == ["shop"]
    assert [w.root.name for w in gather.workdirs(shop.pipelines_dir, ["shop"])] == ["shop"]


@pytest.mark.parametrize("kind", ["postgres", "filesystem", "delta"])
def test_the_detail_on_the_other_destination_families(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """PostgreSQL keeps schema versions in ``_hw_schemas`` as DuckDB does; files and table formats keep them
    in the ``_hw_loads`` row of the load that changed the schema."""
    if kind == "postgres":
        destination = hw.destinations.postgres(request.getfixturevalue("pg_database"))
    elif kind == "filesystem":
        destination = hw.destinations.filesystem(tmp_path / "files")
    else:
        destination = hw.destinations.delta(tmp_path / "delta")
    pipeline = hw.pipeline(
        "shop", destination=destination, dataset="sales", pipelines_dir=tmp_path / "p", progress=False
    )
    first = recorded_run(pipeline, orders(orders_first()))
    second = recorded_run(pipeline, orders(orders_second()))

    detail = gather.pipeline_detail(WorkDir(tmp_path / "p" / "shop"))

    assert detail["problems"] == []
    assert {t["name"]: t["rows"] for t in detail["tables"]} == {"orders": 4, "orders__items": 4}
    (schema,) = detail["schemas"]
    assert [v["load_id"] for v in schema["versions"]] == [first["load_ids"][0], second["load_ids"][0]]
    assert schema["versions"][1]["diff"]["added"] == [{"table": "orders", "column": "coupon", "type": "text"}]
    failing = {(c["load_id"], c["check_name"]): c["failing_rows"] for c in detail["checks"]}
    assert failing[(first["load_ids"][0], "between(amount)")] == 1
    assert [(c["table"], c["rows"]) for c in detail["quarantine"]["counts"]] == [("orders", 1)]
    assert detail["quarantine"]["samples"][0]["row"]["amount"] == -3
