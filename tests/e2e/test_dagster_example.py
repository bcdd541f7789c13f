"""examples/dagster_assets.py runs as a user runs it: in-process (``python examples/dagster_assets.py``)
and through Dagster's own command line with its multiprocess executor (what ``dagster dev`` runs),
where the two flows writing one DuckDB file must run one after the other."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.conftest import env_with_path
from tests.e2e.test_examples import expected_counts

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "dagster_assets.py"


def run(tmp_path: Path, command: list[str]) -> subprocess.CompletedProcess[str]:
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = env_with_path()
    env.update(HEADWATER_HOME=str(tmp_path / "home"), DAGSTER_HOME=str(home), DAGSTER_DISABLE_TELEMETRY="1")
    return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)


def check_database(path: Path) -> None:
    with duckdb.connect(str(path), read_only=True) as con:
        for table, n in expected_counts().items():
            assert con.execute(f"select count(*) from github.{table}").fetchall() == [(n,)], table
        assert con.execute("select id, amount from shop.orders order by id").fetchall() == [
            (1, 42.5),
            (2, 18.0),
            (3, -7.5),
        ]
        assert con.execute("select count(*) from shop.orders__lines").fetchall() == [(3,)]


def test_dagster_example_materializes_and_prints_what_dagster_recorded(tmp_path: Path) -> None:
    first = run(tmp_path, [sys.executable, str(EXAMPLE)])

    assert first.returncode == 0, first.stderr[-3000:]
    out = first.stdout
    assert "success: True" in out
    counts = expected_counts()
    assert f"github_events/events: {counts['events']} rows loaded, schema filesystem v1" in out
    commits = counts["events__payload__commits"]
    assert f"  child table events__payload__commits: {commits} rows loaded" in out
    assert "shop_orders/orders: 3 rows loaded, schema shop_orders v1, columns ['id', 'customer', 'amount'" in out
    assert "  child table orders__lines: 3 rows loaded" in out
    assert "check github_events/events:unique_id: passed" in out
    assert "check shop_orders/orders:between_amount: FAILED (WARN)" in out
    check_database(tmp_path / "dagster_assets.duckdb")

    again = run(tmp_path, [sys.executable, str(EXAMPLE)])  # nothing new: the file and the orders are as they were

    assert again.returncode == 0, again.stderr[-3000:]
    assert "github_events/events: 0 rows loaded" in again.stdout
    assert "shop_orders/orders: 0 rows loaded" in again.stdout
    assert "check shop_orders/orders:between_amount: did not run" in again.stdout
    check_database(tmp_path / "dagster_assets.duckdb")


@pytest.mark.slow
def test_dagster_command_line_runs_the_flows_one_at_a_time(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "dagster", "asset", "materialize", "-f", str(EXAMPLE), "--select", "*"]

    done = run(tmp_path, command)

    assert done.returncode == 0, done.stderr[-5000:]
    # each step ran in a process of its own (the pid of Dagster's STEP_START lines; its console lines come
    # from several processes and a busy machine can lose one, so the order is taken from the runs' records)
    starts = dict(re.findall(r" - (\d+) - (\w+) - STEP_START - ", done.stderr))
    assert set(starts.values()) == {"github_events", "shop_orders"}, done.stderr[-3000:]
    assert len(starts) == 2, starts
    check_database(tmp_path / "dagster_assets.duckdb")
    # the second run started after the first had ended (one DuckDB writer)
    with duckdb.connect(str(tmp_path / "dagster_assets.duckdb"), read_only=True) as con:
        runs = con.execute(
            "select started_at, ended_at, status from github._hw_runs union all "
            "select started_at, ended_at, status from shop._hw_runs order by 1"
        ).fetchall()
    assert [r[2] for r in runs] == ["completed", "completed"], runs
    assert runs[0][1] <= runs[1][0], runs
