"""The quick start runs as a user runs it and lands the sample's nested data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.conftest import env_with_path

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "data" / "github_events.jsonl"


def expected_counts() -> dict[str, int]:
    events = [json.loads(line) for line in SAMPLE.read_text().splitlines()]
    commits = sum(len(e["payload"].get("commits", [])) for e in events)
    labels = sum(len(e["payload"].get("issue", {}).get("labels", [])) for e in events)
    return {"events": len(events), "events__payload__commits": commits, "events__payload__issue__labels": labels}


def run_quickstart(tmp_path: Path, command: list[str]) -> subprocess.CompletedProcess[str]:
    env = env_with_path()
    env["HEADWATER_HOME"] = str(tmp_path / "home")
    return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)


def check_database(path: Path) -> None:
    con = duckdb.connect(str(path), read_only=True)
    try:
        for table, n in expected_counts().items():
            con.execute(f"select count(*) from github.{table}")
            assert con.fetchall()[0][0] == n, table
        con.execute(
            "select data_type from information_schema.columns where table_schema='github' "
            "and table_name='events' and column_name='created_at'"
        )
        assert con.fetchall()[0][0] == "TIMESTAMP WITH TIME ZONE"
        con.execute("select count(*) from github.events where score__v_text = 'n/a'")
        assert con.fetchall()[0][0] == 50
    finally:
        con.close()


def test_quickstart_example(tmp_path: Path) -> None:
    out = run_quickstart(tmp_path, [sys.executable, str(ROOT / "examples" / "quickstart.py")])
    assert out.returncode == 0, out.stderr
    assert "events__payload__commits" in out.stdout and "Commits per author" in out.stdout
    check_database(tmp_path / "quickstart.duckdb")
    # running it again replaces the tables (write_disposition="replace"): same counts
    again = run_quickstart(tmp_path, [sys.executable, str(ROOT / "examples" / "quickstart.py")])
    assert again.returncode == 0, again.stderr
    check_database(tmp_path / "quickstart.duckdb")


@pytest.mark.slow
def test_demo_script(tmp_path: Path) -> None:
    """The README's first command, from another folder (its setup step finds .venv installed)."""
    out = run_quickstart(tmp_path, [str(ROOT / "scripts" / "demo")])
    assert out.returncode == 0, out.stderr + out.stdout
    assert "What landed" in out.stdout
    check_database(tmp_path / "quickstart.duckdb")


def test_incremental_merge_example(tmp_path: Path) -> None:
    out = run_quickstart(tmp_path, [sys.executable, str(ROOT / "examples" / "incremental_merge.py")])
    assert out.returncode == 0, out.stderr
    assert "issues: [(1, 'issue 1'), (2, 'issue 2 (renamed)'), (3, 'issue 3'), (4, 'issue 4'), " in out.stdout
    assert "labels: [(1, 'bug'), (2, 'bug'), (2, 'urgent'), (3, 'bug')" in out.stdout
    assert "rows fetched per run: [5, 3, 1]" in out.stdout
    con = duckdb.connect(str(tmp_path / "issues_demo.duckdb"), read_only=True)
    con.execute("select count(*), count(distinct number) from tracker.issues")
    assert con.fetchall() == [(6, 6)]
    con.close()


def test_github_api_example(tmp_path: Path) -> None:
    """The REST plugin example: a GitHub source in a few lines, run twice against a local stand-in."""
    out = run_quickstart(tmp_path, [sys.executable, str(ROOT / "examples" / "github_api.py")])
    assert out.returncode == 0, out.stderr
    assert "issues: [(1, 'issue 1'), (2, 'issue 2 (renamed)'), (3, 'issue 3')" in out.stdout
    assert "comments per issue: [(1, 1), (2, 3), (4, 1), (5, 2), (7, 1)]" in out.stdout
    assert "requests: 10 in the first run, 2 in the second" in out.stdout
    assert "since=2024-03-07T12%3A00%3A00Z" in out.stdout  # the second run starts at the cursor
    con = duckdb.connect(str(tmp_path / "github_api.duckdb"), read_only=True)
    con.execute("select count(*), count(distinct id) from github.comments")
    assert con.fetchall() == [(8, 8)]
    con.close()


def test_lakehouse_example(tmp_path: Path) -> None:
    """CSV drops merged into Iceberg, then into Delta; each table checked by its own library too."""
    from deltalake import DeltaTable
    from pyiceberg.catalog.sql import SqlCatalog

    script = str(ROOT / "examples" / "lakehouse.py")
    expected = ["1  alice   12.50  shipped", "2  bob      7.25  cancelled", "3  carol   30.00  placed", "4  dave"]
    for flag in ([], ["--delta"]):
        out = run_quickstart(tmp_path, [sys.executable, script, *flag])
        assert out.returncode == 0, out.stderr
        # the second run reads only the new file: 3 rows, not 6
        assert "orders_2026-11-01.csv: 3 rows read" in out.stdout
        assert "orders_2026-11-02.csv: 3 rows read" in out.stdout
        for line in expected:
            assert line in out.stdout
    warehouse = tmp_path / "lakehouse" / "warehouse"
    assert not warehouse.exists()  # the Delta run started from a clean folder
    delta = DeltaTable(str(tmp_path / "lakehouse" / "delta" / "shop" / "orders"))
    assert list(delta.metadata().partition_columns) == ["ordered_day"]
    data = delta.to_pyarrow_table(columns=["id", "status"]).to_pydict()
    assert sorted(zip(data["id"], data["status"], strict=True)) == [
        (1, "shipped"),
        (2, "cancelled"),
        (3, "placed"),
        (4, "placed"),
    ]
    out = run_quickstart(tmp_path, [sys.executable, script])  # Iceberg again, for its own check
    assert out.returncode == 0, out.stderr
    catalog = SqlCatalog("headwater", uri=f"sqlite:///{warehouse / 'catalog.db'}", warehouse=warehouse.as_uri())
    table = catalog.load_table(("shop", "orders"))
    assert [str(f.transform) for f in table.spec().fields] == ["day"]
    assert table.scan().to_arrow().num_rows == 4
