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
