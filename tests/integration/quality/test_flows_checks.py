"""Checks declared in a flows file: run by ``headwater run``, mistakes located, failures exit 1."""

from __future__ import annotations

import json
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
config = {{ path = "w.duckdb" }}

[[flows]]
name = "shop_raw"
from = "shop"
to = "warehouse"
dataset = "raw"

[flows.resources.invoice]
primary_key = "InvoiceId"
checks = [
  {{ check = "between", column = "Total", max = 20, severity = "quarantine" }},
  {{ check = "unique", column = "InvoiceId" }},
  {{ check = "{kind}", min = {low} }},
]
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    con = sqlite3.connect(tmp_path / "shop.sqlite")
    con.execute("create table Invoice (InvoiceId integer primary key, CustomerId integer, Total real)")
    con.executemany("insert into Invoice values (?, ?, ?)", [(i, i % 5 + 1, i * 1.5) for i in range(1, 21)])
    con.commit()
    con.close()
    return tmp_path


def run(folder: Path, kind: str = "row_count", low: int = 1, *extra: str) -> int:
    (folder / "flows.toml").write_text(FLOWS.format(kind=kind, low=low))
    return main(["run", str(folder / "flows.toml"), "--pipelines-dir", str(folder / "p"), *extra])


def query(folder: Path, sql: str) -> list[tuple[object, ...]]:
    with duckdb.connect(str(folder / "w.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_checks_from_a_flows_file_run_and_are_recorded(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(folder, "row_count", 1, "--json") == 0
    out = json.loads(capsys.readouterr().out)
    [flow] = out
    [load] = flow["loads"]
    assert {c["check"]: c["failing"] for c in load["checks"]} == {
        "between(total)": 7,  # totals 21.0 .. 30.0
        "unique(invoice_id)": 0,
        "row_count": 0,
    }
    assert query(folder, "select count(*) from raw.invoice") == [(13,)]
    assert query(folder, "select count(*), min(check_name) from raw._hw_quarantine") == [(7, "between(total)")]
    assert query(folder, "select check_name, passed from raw._hw_checks order by 1") == [
        ("between(total)", False),
        ("row_count", True),
        ("unique(invoice_id)", True),
    ]


def test_a_misspelled_check_is_located_and_nothing_runs(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(folder, "row_cont") == 2
    err = capsys.readouterr().err
    assert "flows[0].resources.invoice.checks: checks[2]: unknown check 'row_cont'" in err
    assert "did you mean 'row_count'" in err
    assert not (folder / "w.duckdb").exists()


def test_a_failing_check_exits_1_and_commits_nothing(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(folder, "row_count", 50) == 1
    err = capsys.readouterr().err
    assert "check 'row_count' (fail; row count >= 50): failed" in err
    assert '"row_count":13' in err
    data = "select count(*) from information_schema.tables where table_schema = 'raw' and table_name <> '_hw_runs'"
    assert query(folder, data) == [(0,)]
    assert query(folder, "select kind, status from raw._hw_runs") == [("run", "failed")]  # only the run's record
