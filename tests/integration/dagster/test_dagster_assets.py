"""Flows as Dagster assets, materialized in-process by ``dagster.materialize``.

A TOML flows file names a Python source of this module (orders with a nested list of items, and
customers, read from a JSON file the tests grow) and a real DuckDB file; each test reads what landed
with DuckDB and what Dagster recorded (materializations, their metadata, asset check evaluations).
Dagster runs with an ephemeral instance (telemetry off, nothing reached over the network).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest

import headwater as hw
from headwater.dagster import flow_assets, flow_definitions
from headwater.errors import ConfigError
from tests.conftest import env_with_path

FLOWS = """
[sources.shop]
type = "tests.integration.dagster.test_dagster_assets:shop"
config = { path = "${here}/shop.json" }

[sources.flaky]
type = "tests.integration.dagster.test_dagster_assets:flaky"

[destinations.warehouse]
type = "duckdb"
config = { path = "${here}/warehouse.duckdb" }

[[flows]]
name = "shop_raw"
from = "shop"
to = "warehouse"
dataset = "raw"
write_disposition = "merge"

[flows.resources.orders]
incremental = { cursor_path = "id", initial_value = 0 }
checks = [
    { check = "not_null", column = "id" },
    { check = "between", column = "amount", min = 0, severity = "warn" },
]

[flows.resources.customers]

[[flows]]
name = "shop_strict"
from = "shop"
to = "warehouse"
dataset = "strict"
resources = ["orders"]
checks = [{ check = "between", column = "amount", min = 0 }]

[[flows]]
name = "flaky_feed"
from = "flaky"
to = "warehouse"
dataset = "raw"
"""


def orders_data(first: int, last: int) -> list[dict[str, Any]]:
    """Orders ``first..last``: order i has i items; order 2 has a negative amount (a ``warn`` check fails)."""
    return [
        {
            "id": i,
            "amount": -5 if i == 2 else i * 10,
            "items": [{"sku": f"s{i}-{k}", "qty": k} for k in range(1, i + 1)],
        }
        for i in range(first, last + 1)
    ]


@hw.source(name="shop")
def shop(path: str) -> list[Any]:
    """Orders and customers from a JSON file (``{"orders": [...], "customers": [...]}``)."""
    data = json.loads(Path(path).read_text())

    @hw.resource(primary_key="id")
    def orders() -> Iterator[list[dict[str, Any]]]:
        yield data["orders"]

    @hw.resource(primary_key="id")
    def customers() -> Iterator[list[dict[str, Any]]]:
        yield data["customers"]

    return [orders, customers]


@hw.resource(name="feed")
def flaky() -> Iterator[dict[str, Any]]:
    """A resource whose upstream breaks after one row."""
    yield {"id": 1}
    raise RuntimeError("the upstream feed broke at row 2")


@pytest.fixture(scope="module", autouse=True)
def dagster_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A DAGSTER_HOME of the tests' own with telemetry off (the instances are ephemeral anyway)."""
    home = tmp_path_factory.mktemp("dagster_home")
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAGSTER_HOME", str(home))
        mp.setenv("DAGSTER_DISABLE_TELEMETRY", "1")
        yield home


@pytest.fixture
def flows_file(tmp_path: Path) -> Path:
    (tmp_path / "shop.json").write_text(json.dumps({"orders": orders_data(1, 3), "customers": _customers()}))
    path = tmp_path / "flows.toml"
    path.write_text(FLOWS)
    return path


def _customers() -> list[dict[str, Any]]:
    return [{"id": 1, "name": "ada"}, {"id": 2, "name": "grace"}]


def add_orders(flows_file: Path, first: int, last: int) -> None:
    path = flows_file.parent / "shop.json"
    data = json.loads(path.read_text())
    data["orders"] += orders_data(first, last)
    path.write_text(json.dumps(data))


def materialize(assets: list[dg.AssetsDefinition], **kwargs: Any) -> dg.ExecuteInProcessResult:
    return dg.materialize(assets, instance=dg.DagsterInstance.ephemeral(), **kwargs)


def metadata(result: dg.ExecuteInProcessResult) -> dict[tuple[str, ...], dict[str, Any]]:
    """Each materialization's metadata by asset key path, values unwrapped."""
    out = {}
    for event in result.get_asset_materialization_events():
        m = event.materialization
        out[tuple(m.asset_key.path)] = {k: getattr(v, "value", v) for k, v in m.metadata.items()}
    return out


def query(flows_file: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(flows_file.parent / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def columns(schema: dg.TableSchema) -> dict[str, str]:
    return {c.name: c.type for c in schema.columns}


# -- one asset per flow --------------------------------------------------------------------------
def test_flow_asset_loads_and_reports_rows_schema_and_checks(flows_file: Path, tmp_path: Path) -> None:
    assets = flow_assets(flows_file, ["shop_raw"], pipelines_dir=tmp_path / "pipelines")
    assert [a.key.path for a in assets] == [["shop_raw"]]
    assert assets[0].op.tags["headwater/writer"].startswith("duckdb:")  # one DuckDB writer at a time

    result = materialize(assets)

    assert result.success
    assert query(flows_file, "select id, amount from raw.orders order by id") == [(1, 10), (2, -5), (3, 30)]
    assert query(flows_file, "select count(*) from raw.orders__items") == [(6,)]
    assert query(flows_file, "select id, name from raw.customers order by id") == [(1, "ada"), (2, "grace")]
    got = metadata(result)[("shop_raw",)]
    assert got["rows_loaded"] == 11
    assert got["rows_by_table"] == {"orders": 3, "orders__items": 6, "customers": 2}
    assert got["schema"] == "shop"
    assert got["schema_version"] == 1
    assert got["dataset"] == "raw"
    assert len(got["load_ids"]) == 1
    assert query(flows_file, "select load_id, schema_version from raw._hw_loads") == [(got["load_ids"][0], 1)]
    assert got["run_id"]
    checks = {c["check"]: c for c in got["checks"]}
    assert checks["not_null(id)"] | {"description": None} == {
        "table": "orders",
        "check": "not_null(id)",
        "kind": "not_null",
        "severity": "fail",
        "description": None,
        "passed": True,
        "checked": 3,
        "failing": 0,
        "error": None,
    }
    assert (checks["between(amount)"]["passed"], checks["between(amount)"]["failing"]) == (False, 1)
    assert (got["checks_passed"], got["checks_failed"]) == (1, 1)
    assert columns(got["columns/orders"]) == {"id": "bigint", "amount": "bigint"}
    assert columns(got["columns/orders__items"]) == {"sku": "text", "qty": "bigint"}
    assert got["columns/orders"].constraints.other == ["primary key (id)"]
    assert "dagster/column_schema" not in got  # three tables: one schema would not say which


def test_second_materialization_loads_only_new_rows(flows_file: Path, tmp_path: Path) -> None:
    assets = flow_assets(flows_file, ["shop_raw"], pipelines_dir=tmp_path / "pipelines")
    assert materialize(assets).success
    add_orders(flows_file, 4, 5)

    result = materialize(assets)

    assert result.success
    got = metadata(result)[("shop_raw",)]
    # orders 4 and 5 with their 9 items; the customers (no cursor) merge again on their key
    assert got["rows_by_table"] == {"orders": 2, "orders__items": 9, "customers": 2}
    assert got["rows_loaded"] == 13
    assert {c["check"]: c["checked"] for c in got["checks"]} == {"not_null(id)": 2, "between(amount)": 2}
    assert query(flows_file, "select count(*), count(distinct id) from raw.orders") == [(5, 5)]
    assert query(flows_file, "select count(*) from raw.orders__items") == [(15,)]
    assert query(flows_file, "select count(*) from raw.customers") == [(2,)]


def test_failing_flow_fails_the_materialization_with_its_error(flows_file: Path, tmp_path: Path) -> None:
    assets = flow_assets(flows_file, ["flaky_feed"], pipelines_dir=tmp_path / "pipelines")

    result = materialize(assets, raise_on_error=False)

    assert not result.success
    failures = result.get_step_failure_events()
    assert len(failures) == 1
    error = failures[0].step_failure_data.error
    assert error is not None
    text = error.to_string()
    assert "ExtractError" in text and "the upstream feed broke at row 2" in text
    assert "FlowsFailed" not in text  # the flow's own error, not the summary around it
    assert result.get_asset_materialization_events() == []
    assert query(flows_file, "select count(*) from information_schema.tables where table_name = 'feed'") == [(0,)]
    with pytest.raises(hw.errors.ExtractError, match="the upstream feed broke at row 2"):
        materialize(assets)


# -- one asset per table -------------------------------------------------------------------------
def test_table_assets_give_one_materialization_per_table(flows_file: Path, tmp_path: Path) -> None:
    pipelines = tmp_path / "pipelines"
    assets = flow_assets(flows_file, "shop_raw", per="table", pipelines_dir=pipelines, key_prefix="lake")
    (multi,) = assets
    orders_key, customers_key = ("lake", "shop_raw", "orders"), ("lake", "shop_raw", "customers")
    assert {tuple(k.path) for k in multi.keys} == {orders_key, customers_key}
    assert {c.name for c in multi.check_specs} == {"not_null_id", "between_amount"}
    assert multi.op.tags["headwater/writer"].startswith("duckdb:")

    result = materialize(assets)

    assert result.success
    got = metadata(result)
    assert set(got) == {orders_key, customers_key}
    orders, customers = got[orders_key], got[customers_key]
    assert (orders["rows_loaded"], customers["rows_loaded"]) == (3, 2)
    assert orders["child_tables"] == {"orders__items": 6}  # loaded with the orders, in one transaction
    assert columns(orders["columns/orders__items"]) == {"sku": "text", "qty": "bigint"}
    assert "child_tables" not in customers
    assert orders["dagster/table_name"] == "raw.orders"
    assert columns(orders["dagster/column_schema"]) == {"id": "bigint", "amount": "bigint"}
    assert columns(customers["dagster/column_schema"]) == {"id": "bigint", "name": "text"}
    assert (orders["schema"], orders["schema_version"]) == ("shop", 1)
    assert orders["load_ids"] == customers["load_ids"] != []
    assert [c["check"] for c in orders["checks"]] == ["not_null(id)", "between(amount)"]
    assert "checks" not in customers
    evaluations = {e.asset_check_key.name: e for e in result.get_asset_check_evaluations()}
    assert {e.asset_check_key.asset_key.path[-1] for e in evaluations.values()} == {"orders"}
    assert evaluations["not_null_id"].passed
    assert evaluations["not_null_id"].metadata["checked"].value == 3
    assert not evaluations["between_amount"].passed
    assert evaluations["between_amount"].severity == dg.AssetCheckSeverity.WARN
    assert evaluations["between_amount"].metadata["samples"].value == [{"id": 2, "amount": -5}]

    # the definitions loaded again (each step of a multiprocess run does) are the same assets
    (again,) = flow_assets(flows_file, "shop_raw", per="table", pipelines_dir=pipelines, key_prefix="lake")
    assert again.keys == multi.keys
    assert set(again.check_keys) == set(multi.check_keys)
    add_orders(flows_file, 4, 4)

    result = materialize([again])

    assert result.success
    got = metadata(result)
    assert (got[orders_key]["rows_loaded"], got[orders_key]["child_tables"]) == (1, {"orders__items": 4})
    assert got[customers_key]["rows_loaded"] == 2
    assert query(flows_file, "select count(*) from raw.orders__items") == [(10,)]


def test_a_failing_fail_check_fails_the_step_and_commits_nothing(flows_file: Path, tmp_path: Path) -> None:
    (multi,) = flow_assets(flows_file, ["shop_strict"], per="table", pipelines_dir=tmp_path / "pipelines")
    assert [c.name for c in multi.check_specs] == ["between_amount"]

    result = materialize([multi], raise_on_error=False)

    assert not result.success
    (failure,) = result.get_step_failure_events()
    text = failure.step_failure_data.error.to_string()  # type: ignore[union-attr]
    assert "QualityError" in text and "between(amount)" in text
    assert result.get_asset_materialization_events() == []
    assert result.get_asset_check_evaluations() == []
    tables = query(flows_file, "select table_name from information_schema.tables where table_schema = 'strict'")
    assert tables == [("_hw_runs",)]  # the run's record; nothing of the load


def test_table_check_that_did_not_run_passes_saying_so(flows_file: Path, tmp_path: Path) -> None:
    pipelines = tmp_path / "pipelines"
    (multi,) = flow_assets(flows_file, "shop_raw", per="table", pipelines_dir=pipelines)
    assert materialize([multi]).success

    result = materialize([multi])  # no new order: nothing to check in this run

    assert result.success
    assert metadata(result)[("shop_raw", "orders")]["rows_loaded"] == 0
    evaluations = {e.asset_check_key.name: e for e in result.get_asset_check_evaluations()}
    assert evaluations["between_amount"].passed
    assert evaluations["between_amount"].metadata["ran"].value is False


# -- names and mistakes --------------------------------------------------------------------------
def test_mistakes_are_config_errors_naming_what_and_what_to_do(flows_file: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no flow 'shop_rwa'") as unknown:
        flow_assets(flows_file, ["shop_rwa"])
    assert "did you mean 'shop_raw'" in str(unknown.value)
    with pytest.raises(ConfigError, match="unknown per='tables'") as per:
        flow_assets(flows_file, per="tables")  # type: ignore[arg-type]
    assert "did you mean 'table'" in str(per.value)
    with pytest.raises(ConfigError, match="key_prefix 'my-lake'"):
        flow_assets(flows_file, key_prefix=["my-lake"])
    with pytest.raises(ConfigError, match="partitions_def must be 'flow' or a Dagster partitions definition"):
        flow_assets(flows_file, partitions_def="flows")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="has no partitioned resource"):
        flow_assets(flows_file, ["shop_raw"], partitions_def="flow")
    with pytest.raises(ConfigError, match="asset_names: no flow 'shop'"):
        flow_assets(flows_file, asset_names={"shop": "x"})
    with pytest.raises(ConfigError, match="flow 'shop_raw': Dagster refuses its asset") as reserved:
        flow_assets(flows_file, ["shop_raw"], asset_names={"shop_raw": "input"})
    assert "reserved" in str(reserved.value)


def test_tables_named_by_the_items_need_an_asset_per_flow(tmp_path: Path) -> None:
    by_kind = hw.resource([{"kind": "a"}, {"kind": "b"}], name="events", table_name=lambda row: row["kind"])
    flows = hw.flows.load(
        {
            "sources": {"events": {"type": by_kind}},
            "destinations": {"local": {"type": "duckdb", "config": {"path": str(tmp_path / "events.duckdb")}}},
            "flows": [{"name": "events", "from": "events", "to": "local"}],
        }
    )
    with pytest.raises(ConfigError, match="resource 'events' names its tables from its items") as refused:
        flow_assets(flows, per="table", pipelines_dir=tmp_path / "pipelines")
    assert "per='flow'" in str(refused.value)
    assert not (tmp_path / "pipelines").exists()  # building the flow to list its tables wrote nothing
    assert [a.key.path for a in flow_assets(flows, pipelines_dir=tmp_path / "pipelines")] == [["events"]]


def test_a_flow_name_dagster_refuses_is_a_config_error_with_a_way_out(tmp_path: Path) -> None:
    flows = hw.flows.load(
        {
            "sources": {"hello": {"type": hw.resource([{"id": 1}, {"id": 2}], name="hello")}},
            "destinations": {"local": {"type": "duckdb", "config": {"path": str(tmp_path / "hello.duckdb")}}},
            "flows": [{"name": "hello-world", "from": "hello", "to": "local", "incremental": {"cursor_path": "id"}}],
        }
    )
    with pytest.raises(ConfigError, match="flow 'hello-world'") as refused:
        flow_assets(flows)
    assert "asset_names={'hello-world': 'hello_world'}" in str(refused.value)

    assets = flow_assets(flows, asset_names={"hello-world": "hello_world"}, pipelines_dir=tmp_path / "pipelines")

    result = materialize(assets)
    assert result.success
    assert metadata(result)[("hello_world",)]["rows_loaded"] == 2
    assert (tmp_path / "pipelines" / "hello-world").is_dir()  # the pipeline keeps the flow's name

    again = materialize(assets)  # no new row: nothing to load, still a materialization (the table is current)

    assert again.success
    got = metadata(again)[("hello_world",)]
    assert (got["rows_loaded"], got["load_ids"], got["rows_by_table"]) == (0, [], {})
    assert (got["schema"], got["schema_version"]) == ("hello-world", 1)  # as the last load left it
    assert columns(got["dagster/column_schema"]) == {"id": "bigint"}  # one table: Dagster's own key


def test_definitions_run_flows_writing_one_duckdb_file_one_at_a_time(flows_file: Path) -> None:
    defs = flow_definitions(flows_file)

    graph = defs.resolve_asset_graph()
    assert {k.to_user_string() for k in graph.get_all_asset_keys()} == {"shop_raw", "shop_strict", "flaky_feed"}
    tags = {a.key.to_user_string(): a.op.tags.get("headwater/writer") for a in defs.assets}  # type: ignore[union-attr]
    assert set(tags.values()) == {"duckdb:${here}/warehouse.duckdb"}
    executor = defs.resolve_implicit_global_asset_job_def().executor_def
    assert executor.name == "multiprocess"
    limits = executor.apply_config_mapping({}).value["config"]["tag_concurrency_limits"]
    assert limits == [{"key": "headwater/writer", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}]


def test_import_headwater_never_imports_dagster_and_its_absence_says_what_to_install() -> None:
    code = (
        "import sys, headwater as hw\n"
        "hw.flows.load\n"
        "assert 'dagster' not in sys.modules, 'import headwater imported dagster'\n"
        "sys.modules['dagster'] = None  # as if it were not installed\n"
        "try:\n"
        "    import headwater.dagster\n"
        "except hw.errors.ConfigError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env_with_path(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "needs the dagster package" in done.stdout
    assert "pip install 'headwater[dagster]'" in done.stdout


# -- partitions ------------------------------------------------------------------------------------------
def test_flow_partitions_are_dagster_partitions_and_a_materialization_reads_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "extractions.log"
    monkeypatch.setenv("HW_TEST_LOG", str(log))
    flows = hw.flows.load(
        {
            "sources": {"orders": {"type": "tests.integration.scale.partitioned:orders"}},
            "destinations": {"wh": {"type": "duckdb", "config": {"path": str(tmp_path / "parts.duckdb")}}},
            "flows": [{"name": "orders_flow", "from": "orders", "to": "wh", "dataset": "raw"}],
        }
    )
    for per in ("flow", "table"):
        (asset,) = flow_assets(flows, per=per, pipelines_dir=tmp_path / "p", partitions_def="flow")  # type: ignore[arg-type]
        assert asset.partitions_def is not None
        assert asset.partitions_def.get_partition_keys() == [f"p{i}" for i in range(6)]
    (asset,) = flow_assets(flows, pipelines_dir=tmp_path / "p", partitions_def="flow")
    result = materialize([asset], partition_key="p2")
    assert result.success and log.read_text().splitlines() == ["p2"]  # only that partition was read
    assert metadata(result)[("orders_flow",)]["rows_loaded"] == 3000  # 1,000 orders and their 2,000 tags
    assert materialize([asset], partition_key="p5").success
    with duckdb.connect(str(tmp_path / "parts.duckdb"), read_only=True) as con:
        assert con.execute("select part, count(*) from raw.orders group by 1 order by 1").fetchall() == [
            ("p2", 1000),
            ("p5", 1000),
        ]
