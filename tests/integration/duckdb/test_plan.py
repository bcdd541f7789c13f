"""The dry run against real DuckDB files (see tests/integration/plan_scenarios.py), and what is DuckDB's own:
the file opens read-only, and a file that does not exist is not created."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

import headwater as hw
from tests.integration.plan_scenarios import PlanScenarios, file_hashes, unchanged


class DuckTarget:
    """A DuckDB file under ``tmp/db``; working folders under ``tmp/pipelines``."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.db = tmp / "db" / "plan.duckdb"

    def pipeline(self, name: str) -> Any:
        return hw.pipeline(
            name, destination=f"duckdb:///{self.db}", pipelines_dir=self.tmp / "pipelines", progress=False
        )

    def destination_snapshot(self) -> Any:
        return file_hashes(self.tmp / "db")

    def is_empty(self) -> bool:
        return not (self.tmp / "db").exists()


@pytest.fixture
def target(tmp_path: Path) -> DuckTarget:
    return DuckTarget(tmp_path)


class TestPlanDuckDB(PlanScenarios):
    """Every scenario on DuckDB."""


def test_the_file_is_opened_read_only(tmp_path: Path) -> None:
    target = DuckTarget(tmp_path)
    p = target.pipeline("ro")
    p.run([{"id": 1}], table_name="t")
    read_only = p.destination.read_only()
    client = read_only.client(p.dataset_name)
    try:
        with pytest.raises(hw.errors.DestinationError, match="read-only"):
            client.execute(f'CREATE TABLE "{p.dataset_name}".x (i INT)')
    finally:
        client.close()
    assert hw.destinations.duckdb(tmp_path / "none" / "x.duckdb").read_only() is None
    assert not (tmp_path / "none").exists()


def test_plan_while_another_connection_holds_the_file(tmp_path: Path) -> None:
    target = DuckTarget(tmp_path)
    p = target.pipeline("shared")
    p.run([{"id": 1}], table_name="t")
    con = duckdb.connect(str(target.db))
    try:
        with unchanged(target):
            plan = p.plan([{"id": 2}], table_name="t")
        assert plan.table_rows() == {"t": 1}
    finally:
        con.close()


def test_kept_packages_are_not_copied_and_nothing_changes(tmp_path: Path) -> None:
    target = DuckTarget(tmp_path)
    p = hw.pipeline(
        "kept", destination=f"duckdb:///{target.db}", pipelines_dir=tmp_path / "pipelines", keep_packages=True
    )
    p.run([{"id": 1}], table_name="t")
    assert list((p.workdir.completed).glob("*/data/t/*"))
    with unchanged(target):
        plan = p.plan([{"id": 2}, {"id": 3}], table_name="t")
    assert plan.table_rows() == {"t": 2} and not plan.tables["t"].new
