"""SQL models after the load (``models=``), on a real DuckDB file and the real PostgreSQL server: run in
the order of the tables they read, recorded in ``_hw_models`` with the load id, a failure named with the
database's message while the load stays, dependents skipped, a fixed model run again."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import headwater as hw
from tests.conftest import DESTINATIONS, rows

both = pytest.mark.parametrize("destination_kind", DESTINATIONS, indirect=True)

ORDERS = [
    {"id": 1, "customer": "ada", "amount": 5, "day": "2024-01-01"},
    {"id": 2, "customer": "bob", "amount": 7, "day": "2024-01-01"},
    {"id": 3, "customer": "ada", "amount": 4, "day": "2024-01-02"},
]
PER_CUSTOMER = "SELECT customer, CAST(sum(amount) AS BIGINT) AS total FROM orders GROUP BY customer"
# declared before the model it reads: the order comes from the tables read, not the list
TOP = (
    "WITH ranked AS (SELECT customer, total FROM per_customer) "
    "SELECT customer, total FROM ranked WHERE total = (SELECT max(total) FROM per_customer)"
)
DAILY = "SELECT CAST(day AS DATE) AS day, count(*) AS orders FROM raw.orders GROUP BY 1;"


def models_table(p: Any) -> list[tuple[Any, ...]]:
    return rows(p, "SELECT name, status, load_id, rows, error, sql_hash FROM _hw_models ORDER BY ran_at, name")


@both
def test_models_run_in_dependency_order_and_are_recorded(make_pipeline: Callable[..., Any], tmp_path: Path) -> None:
    (tmp_path / "daily_orders.sql").write_text(DAILY)
    models = [{"top_customer": TOP}, {"name": "per_customer", "sql": PER_CUSTOMER}, tmp_path / "daily_orders.sql"]
    p = make_pipeline("shop", models=models)
    assert [m.name for m in p.models] == ["per_customer", "top_customer", "daily_orders"]
    info = p.run(ORDERS, table_name="orders")
    assert [(m.name, m.status, m.rows) for m in info.models] == [
        ("per_customer", "ok", 2),
        ("top_customer", "ok", 1),
        ("daily_orders", "ok", 2),
    ]
    assert "model top_customer: ok (1 rows" in str(info)
    assert info.to_dict()["models"][0]["name"] == "per_customer"
    assert rows(p, "SELECT customer, total FROM per_customer ORDER BY customer") == [("ada", 9), ("bob", 7)]
    assert rows(p, "SELECT customer, total FROM top_customer") == [("ada", 9)]
    assert rows(p, "SELECT count(*) FROM daily_orders") == [(2,)]
    recorded = models_table(p)
    assert [(r[0], r[1], r[2], r[3]) for r in recorded] == [
        ("per_customer", "ok", info.load_id, 2),
        ("top_customer", "ok", info.load_id, 1),
        ("daily_orders", "ok", info.load_id, 2),
    ]
    assert recorded[0][5] == p.models[0].sql_hash
    assert "_hw_models" in p.dataset().tables(system=True) and "per_customer" in p.dataset().tables()

    # the next load replaces the models' tables with the new results
    again = p.run([{"id": 4, "customer": "bob", "amount": 10, "day": "2024-01-03"}], table_name="orders")
    assert rows(p, "SELECT customer, total FROM top_customer") == [("bob", 17)]
    assert {r[2] for r in models_table(p)} == {info.load_id, again.load_id}


@both
def test_a_failing_model_keeps_the_load_skips_dependents_and_reruns_once_fixed(
    make_pipeline: Callable[..., Any],
) -> None:
    broken = "SELECT customer, sum(amount_typo) AS total FROM orders GROUP BY customer"
    models = [{"top_customer": TOP}, {"per_customer": broken}, {"order_count": "SELECT count(*) AS n FROM orders"}]
    p = make_pipeline("shop", models=models)
    with pytest.raises(hw.errors.ModelError) as caught:
        p.run(ORDERS, table_name="orders")
    exc = caught.value
    text = str(exc)
    assert "model 'per_customer' failed" in text and "amount_typo" in text  # which model, the database's why
    assert "stays committed" in text and "pipeline.run_models()" in text
    assert exc.failed == ("per_customer",) and exc.model == "per_customer"
    info = exc.info
    assert [(m.name, m.status) for m in info.models] == [
        ("per_customer", "failed"),
        ("top_customer", "skipped"),
        ("order_count", "ok"),
    ]
    assert rows(p, "SELECT count(*) FROM orders") == [(3,)]  # the load stays
    assert rows(p, "SELECT n FROM order_count") == [(3,)]  # an independent model still ran
    assert "top_customer" not in p.dataset().tables()
    recorded = {r[0]: r for r in models_table(p)}
    assert recorded["per_customer"][1] == "failed" and "amount_typo" in recorded["per_customer"][4]
    assert recorded["per_customer"][2] == info.load_id
    assert recorded["top_customer"][1] == "skipped" and "per_customer" in recorded["top_customer"][4]

    # fixed: run the models again on demand, recorded with the newest load
    fixed = make_pipeline("shop", models=[{"top_customer": TOP}, {"per_customer": PER_CUSTOMER}])
    rerun = fixed.run_models()
    assert [(m.name, m.status) for m in rerun.models] == [("per_customer", "ok"), ("top_customer", "ok")]
    assert rows(p, "SELECT customer, total FROM top_customer") == [("ada", 9)]
    last = rows(p, "SELECT status, load_id FROM _hw_models WHERE name = 'top_customer' ORDER BY ran_at DESC")[0]
    assert last == ("ok", info.load_id)


@both
def test_models_run_only_when_something_was_loaded(make_pipeline: Callable[..., Any]) -> None:
    p = make_pipeline("shop", models=[{"order_count": "SELECT count(*) AS n FROM orders"}])
    p.run(ORDERS, table_name="orders")
    assert len(models_table(p)) == 1
    nothing = p.run()  # no data, no package waiting: no load, no model
    assert nothing.models == [] and nothing.loads == []
    assert p.load().models == []
    assert len(models_table(p)) == 1


@both
def test_a_model_may_not_replace_a_loaded_table(make_pipeline: Callable[..., Any]) -> None:
    p = make_pipeline("shop")
    p.run(ORDERS, table_name="orders")
    clash = make_pipeline("shop", models=[{"orders": "SELECT 1 AS x"}])
    with pytest.raises(hw.errors.ConfigError, match="would replace the table 'orders'"):
        clash.run_models()
    assert rows(p, "SELECT count(*) FROM orders") == [(3,)]


def test_a_cycle_and_unnamed_sql_are_refused_at_creation(tmp_path: Path) -> None:
    with pytest.raises(hw.errors.ConfigError, match=r"cycle: a -> b -> c -> a"):
        hw.pipeline(
            "cyc",
            models=[{"a": "SELECT * FROM b"}, {"b": "SELECT * FROM c JOIN x USING (id)"}, {"c": "SELECT * FROM a"}],
        )
    with pytest.raises(hw.errors.ConfigError, match="needs a table name") as caught:
        hw.pipeline("unnamed", models=["SELECT 1"])
    assert '{"daily_orders": "SELECT ..."}' in str(caught.value)
    with pytest.raises(hw.errors.ConfigError, match="reserved"):
        hw.pipeline("sys", models=[{"_hw_mine": "SELECT 1"}])
    with pytest.raises(hw.errors.ConfigError, match="not one SELECT query"):
        hw.pipeline("ddl", models=[{"t": "DROP TABLE orders"}])
    with pytest.raises(hw.errors.ConfigError, match="not a plain table name"):
        hw.pipeline("camel", models=[{"DailyOrders": "SELECT 1"}])
    with pytest.raises(hw.errors.ConfigError, match="cannot read the SQL model"):
        hw.pipeline("missing", models=[tmp_path / "nowhere.sql"])


def test_a_folder_of_models_and_a_cte_named_like_a_model(tmp_path: Path) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "b_second.sql").write_text("SELECT * FROM a_first")
    # a CTE that shadows the name of another model is not a dependency on it
    (folder / "a_first.sql").write_text("WITH b_second AS (SELECT 1 AS x) SELECT x FROM b_second")
    p = hw.pipeline("folder", destination=hw.destinations.duckdb(str(tmp_path / "f.duckdb")), models=str(folder))
    assert [m.name for m in p.models] == ["a_first", "b_second"]
    p.run([{"x": 1}], table_name="seed")
    assert rows(p, "SELECT x FROM b_second") == [(1,)]


def test_a_destination_without_sql_refuses_models(tmp_path: Path) -> None:
    with pytest.raises(hw.errors.ConfigError, match=r"SQL models .* run inside a SQL destination"):
        hw.pipeline("lake", destination=f"filesystem://{tmp_path / 'lake'}", models=[{"t": "SELECT 1"}])


@both
def test_drop_removes_the_models_tables_and_records(make_pipeline: Callable[..., Any]) -> None:
    p = make_pipeline("shop", models=[{"order_count": "SELECT count(*) AS n FROM orders"}])
    p.run(ORDERS, table_name="orders")
    assert "order_count" in p.dataset().tables()
    assert sorted(p.drop()) == ["order_count", "orders"]
    assert rows(p, "SELECT count(*) FROM _hw_models") == [(0,)]
    assert "order_count" not in p.dataset().tables(system=True)


def test_an_error_points_at_the_model_line(make_pipeline: Callable[..., Any], tmp_path: Path) -> None:
    """DuckDB's message shows the line (PostgreSQL's first line, kept in errors, does not)."""
    (tmp_path / "three_lines.sql").write_text("SELECT\n  customer,\n  no_such_column\nFROM orders\n")
    p = make_pipeline("shop", models=[tmp_path / "three_lines.sql"])
    with pytest.raises(hw.errors.ModelError, match="no_such_column") as caught:
        p.run(ORDERS, table_name="orders")
    assert "LINE 3" in str(caught.value)  # the line in the model's own file


@pytest.mark.parametrize("destination_kind", ["postgres"], indirect=True)
def test_postgres_only_sql_runs_with_depends_on(make_pipeline: Callable[..., Any]) -> None:
    """SQL DuckDB's parser refuses (FETCH ... WITH TIES) still runs on PostgreSQL, ordered by depends_on."""
    top = "SELECT customer, total FROM per_customer ORDER BY total DESC FETCH FIRST 1 ROWS WITH TIES"
    models = [{"name": "top_customer", "sql": top, "depends_on": ["per_customer"]}, {"per_customer": PER_CUSTOMER}]
    p = make_pipeline("shop", models=models)
    assert [m.name for m in p.models] == ["per_customer", "top_customer"]
    p.run(ORDERS, table_name="orders")
    assert rows(p, "SELECT customer, total FROM top_customer") == [("ada", 9)]


def test_models_run_after_a_load_an_interrupted_run_committed(tmp_path: Path) -> None:
    """Killed after the load's commit (so before its models): the next run finds the package loaded
    already and runs the models then."""
    import os
    import subprocess
    import sys

    from tests.conftest import env_with_path

    db, pipelines = tmp_path / "shop.duckdb", tmp_path / "pipelines"
    models = [{"order_count": "SELECT count(*) AS n FROM orders"}]
    script = tmp_path / "run.py"
    script.write_text(
        "import sys\nimport headwater as hw\n"
        f"p = hw.pipeline('shop', destination=hw.destinations.duckdb({str(db)!r}), dataset='raw', "
        f"pipelines_dir={str(pipelines)!r}, progress=False, models={models!r})\n"
        f"p.run({ORDERS!r}, table_name='orders')\n"
    )
    env = {
        **env_with_path(),
        "HEADWATER_FAILPOINT": "load.after_commit",
        "HEADWATER_HOME": os.environ["HEADWATER_HOME"],
    }
    died = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert died.returncode == -9, died.stderr  # SIGKILL after the commit
    p = hw.pipeline("shop", destination=hw.destinations.duckdb(str(db)), dataset="raw", pipelines_dir=pipelines)
    assert "order_count" not in p.dataset().tables()
    again = hw.pipeline(
        "shop", destination=hw.destinations.duckdb(str(db)), dataset="raw", pipelines_dir=pipelines, models=models
    )
    info = again.run()
    assert [load.already_loaded for load in info.loads] == [True]
    assert [(m.name, m.status, m.rows) for m in info.models] == [("order_count", "ok", 1)]
    assert rows(again, "SELECT n FROM order_count") == [(3,)]
    assert rows(again, "SELECT load_id FROM _hw_models") == [(info.load_id,)]
