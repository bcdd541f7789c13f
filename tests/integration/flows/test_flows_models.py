"""A flow's ``models`` through ``headwater run``: SQL files beside the flows file and inline SQL run in the
DuckDB file after the load; a failing model fails the run (exit 1) while the load stays; mistakes in
``models`` are found by ``headwater flows validate``."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import duckdb
import pytest

from headwater.cli import main

FLOWS = """
[sources.shop]
type = "sql_database"
config = {{ credentials = "sqlite:///${{here}}/shop.sqlite" }}

[destinations.warehouse]
type = "duckdb"
config = {{ path = "{db}" }}

[[flows]]
name = "shop_elt"
from = "shop"
to = "warehouse"
dataset = "raw"
resources = ["invoice", "customer"]
models = [
  "models/top_customer.sql",
  {{ name = "customer_totals", path = "models/totals.sql" }},
  {{ name = "invoice_count", sql = "SELECT count(*) AS n FROM invoice" }},
]
"""
TOTALS = (
    "SELECT c.name, round(sum(i.total), 2) AS total FROM invoice i "
    "JOIN customer c ON c.customer_id = i.customer_id GROUP BY c.name"
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    con = sqlite3.connect(tmp_path / "shop.sqlite")
    con.execute("create table Customer (CustomerId integer primary key, Name text)")
    con.execute("create table Invoice (InvoiceId integer primary key, CustomerId integer, Total real)")
    con.executemany("insert into Customer values (?, ?)", [(1, "ada"), (2, "bob")])
    con.executemany("insert into Invoice values (?, ?, ?)", [(1, 1, 2.5), (2, 2, 1.0), (3, 1, 4.0)])
    con.commit()
    con.close()
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "totals.sql").write_text(TOTALS)
    (tmp_path / "models" / "top_customer.sql").write_text(
        "SELECT name FROM customer_totals ORDER BY total DESC LIMIT 1;\n"
    )
    (tmp_path / "flows.toml").write_text(FLOWS.format(db=tmp_path / "warehouse.duckdb"))
    return tmp_path


def test_headwater_run_runs_the_flow_models_after_the_load(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    elsewhere = project / "elsewhere"
    elsewhere.mkdir()
    flows = str(project / "flows.toml")
    assert main(["flows", "validate", flows]) == 0
    assert main(["run", flows, "--pipelines-dir", str(project / "p")]) == 0
    with duckdb.connect(str(project / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("select name, total from raw.customer_totals order by name").fetchall() == [
            ("ada", 6.5),
            ("bob", 1.0),
        ]
        assert con.execute("select name from raw.top_customer").fetchall() == [("ada",)]
        assert con.execute("select n from raw.invoice_count").fetchall() == [(3,)]
        recorded = con.execute("select name, status, load_id from raw._hw_models order by ran_at").fetchall()
        loaded = con.execute("select max(load_id) from raw._hw_loads").fetchone()[0]
    assert recorded == [
        ("customer_totals", "ok", loaded),
        ("top_customer", "ok", loaded),
        ("invoice_count", "ok", loaded),
    ]


def test_a_failing_flow_model_fails_the_run_and_keeps_the_load(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "models" / "totals.sql").write_text(TOTALS.replace("i.total", "i.totl"))
    capsys.readouterr()
    assert main(["run", str(project / "flows.toml"), "--pipelines-dir", str(project / "p")]) == 1  # a failed flow
    err = capsys.readouterr().err
    assert "model 'customer_totals' failed" in err and "totl" in err and "stays committed" in err
    with duckdb.connect(str(project / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from raw.invoice").fetchone() == (3,)
        statuses = dict(con.execute("select name, status from raw._hw_models").fetchall())
    assert statuses == {"customer_totals": "failed", "top_customer": "skipped", "invoice_count": "ok"}


def test_mistakes_in_models_are_reported_by_validate(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (project / "flows.toml").read_text()
    bad = text.replace('{ name = "invoice_count", sql', '{ nam = "invoice_count", sql').replace(
        'path = "models/totals.sql"', 'path = "models/totals.sql", sql = "SELECT 1"'
    )
    (project / "flows.toml").write_text(bad)
    capsys.readouterr()
    assert main(["flows", "validate", str(project / "flows.toml")]) == 2
    err = capsys.readouterr().err
    assert "flows[0].models[2].nam: unknown key 'nam'" in err
    assert "flows[0].models[1]: give exactly one of 'sql' and 'path'" in err


def test_models_survive_the_canonical_dict(project: Path) -> None:
    from headwater.flows.reader import read
    from headwater.flows.runner import load

    model = load(project / "flows.toml").model
    assert model.flows[0].models == (
        "models/top_customer.sql",
        {"name": "customer_totals", "path": "models/totals.sql"},
        {"name": "invoice_count", "sql": "SELECT count(*) AS n FROM invoice"},
    )
    assert read(model.to_dict()) == model


def test_a_failed_flow_model_keeps_the_flows_load_info(project: Path) -> None:
    from headwater.flows import FlowsFailed
    from headwater.flows.runner import load

    (project / "models" / "top_customer.sql").write_text("SELECT nam FROM customer_totals")
    with pytest.raises(FlowsFailed) as caught:
        load(project / "flows.toml").run(pipelines_dir=project / "p", progress=False)
    result = caught.value.results[0]
    assert "model 'top_customer' failed" in str(result.error)
    assert result.info is not None and result.info.rows == 5  # 3 invoices and 2 customers loaded
    assert [(m.name, m.status) for m in result.info.models] == [
        ("customer_totals", "ok"),
        ("top_customer", "failed"),
        ("invoice_count", "ok"),
    ]
