"""Checks beyond the conformance suite: drop, the dry run, a destination that does not run checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

import headwater as hw
from headwater.errors import ConfigError, QualityError

ROWS = [{"id": 1, "amount": 5}, {"id": 2, "amount": -3}, {"id": 3, "amount": 7}]


def make(tmp_path: Path, name: str, destination: Any = None) -> Any:
    dest = destination or hw.destinations.duckdb(str(tmp_path / f"{name}.duckdb"))
    return hw.pipeline(name, destination=dest, dataset="d", pipelines_dir=tmp_path / "p", progress=False)


def test_drop_removes_the_check_rows_of_the_dropped_tables(tmp_path: Path) -> None:
    p = make(tmp_path, "dropme")
    p.run(hw.resource(ROWS, name="t", checks=[hw.checks.between("amount", min=0, severity="warn")]))
    other = make(tmp_path, "other", p.destination)
    other.run(hw.resource(ROWS, name="u", checks=[hw.checks.not_null("id")]))
    p.drop()
    with duckdb.connect(str(tmp_path / "dropme.duckdb")) as con:
        assert con.execute("select table_name from d._hw_checks").fetchall() == [("u",)]


def test_the_dry_run_counts_quarantined_rows_and_writes_nothing(tmp_path: Path) -> None:
    p = make(tmp_path, "dry")
    checks = [
        hw.checks.between("amount", min=0, severity="quarantine"),
        hw.checks.not_null("id"),
        hw.checks.unique("id"),
    ]
    plan = p.plan(hw.resource(ROWS, name="t", checks=checks))
    assert [(q.rows, q.table) for q in plan.quarantined] == [(1, "t")]
    assert "between(amount)" in plan.quarantined[0].reason
    assert [(c.check, c.failing) for c in plan.checks] == [("between(amount)", 1), ("not_null(id)", 0)]
    text = str(plan)
    assert "t: check 'between(amount)' (quarantine; amount >= 0): 1 of 3 rows failed" in text
    assert "1 table check(s) run at load time" in text
    assert plan.to_dict()["checks"][0]["failing"] == 1
    assert not (tmp_path / "dry.duckdb").exists()


class ListLoader:
    """A Hippo-style loader: any class with load(records)."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.loaded: list[Any] = []

    def load(self, records: Any) -> None:
        self.loaded.extend(records.fetchall())  # a DuckDB relation


def test_a_loader_without_check_support_judges_row_checks_and_refuses_table_checks(tmp_path: Path) -> None:
    from headwater.destinations.loader import LoaderDestination

    loader = ListLoader({})
    p = make(tmp_path, "loader", LoaderDestination(loader))
    info = p.run(hw.resource(ROWS, name="t", checks=[hw.checks.between("amount", min=0, severity="warn")]))
    assert [(c.check, c.failing) for c in info.checks] == [("between(amount)", 1)]
    with pytest.raises(QualityError, match="between"):
        p.run(hw.resource(ROWS, name="t", checks=[hw.checks.between("amount", min=0)]))
    p.drop_pending()
    with pytest.raises(ConfigError, match="table checks"):
        p.run(hw.resource(ROWS, name="t", checks=[hw.checks.unique("id")]))


SCRIPT = """
import sys
import headwater as hw
p = hw.pipeline("rerun", destination=hw.destinations.delta(sys.argv[1]), pipelines_dir=sys.argv[2], progress=False)
ids = [int(i) for i in sys.argv[3].split(",")]
p.run(hw.resource([{"id": i} for i in ids], name="t", checks=[hw.checks.unique("id")]))
"""


def test_a_lake_load_killed_after_a_table_commit_is_checked_once_on_rerun(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.conftest import env_with_path

    script = tmp_path / "load.py"
    script.write_text(SCRIPT)
    args = [sys.executable, str(script), str(tmp_path / "lake"), str(tmp_path / "p")]
    env = env_with_path()
    assert subprocess.run([*args, "1,2"], env=env, capture_output=True, timeout=300).returncode == 0
    killed = subprocess.run([*args, "3,4"], env={**env, "HEADWATER_FAILPOINT": "load.after_insert"}, timeout=300)
    assert killed.returncode != 0  # killed after the table's commit, before _hw_loads
    p = hw.pipeline("rerun", destination=hw.destinations.delta(str(tmp_path / "lake")), pipelines_dir=tmp_path / "p")
    info = p.load()  # the table already holds ids 3 and 4: the staged table must not count them twice
    assert [(c.check, c.checked, c.failing) for c in info.checks] == [("unique(id)", 4, 0)]
    assert sorted(r["id"] for r in p.query("select id from t").to_pylist()) == [1, 2, 3, 4]


@pytest.mark.parametrize("severity", ["warn", "fail"])
def test_a_counting_check_that_cannot_run_fails_the_extraction(tmp_path: Path, severity: str) -> None:
    """fail and warn kernel checks run on the checks thread: an error there still stops the run,
    naming the check, and nothing is loaded."""
    p = make(tmp_path, f"broken_{severity}")
    rows = [{"id": i, "amount": i} for i in range(30_000)]
    check = hw.checks.between("amount", min="not a number", severity=severity)
    with pytest.raises(hw.errors.DataError, match=r"check 'between\(amount\)' .* could not run on table 't'"):
        p.run(hw.resource(rows, name="t", checks=[check]))
    assert not (tmp_path / f"broken_{severity}.duckdb").exists() or p.dataset().tables() == []
