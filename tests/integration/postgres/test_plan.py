"""The dry run against a real PostgreSQL database (see tests/integration/plan_scenarios.py): the database's
schemas, tables, column types and rows are checksummed before and after each plan."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import headwater as hw
from tests.conftest import pg_query
from tests.integration.plan_scenarios import PlanScenarios

DATASET = "plan_ds"


class PgTarget:
    """A fresh database; the dataset ``plan_ds``; working folders under ``tmp/pipelines``."""

    def __init__(self, url: str, tmp: Path) -> None:
        self.url = url
        self.tmp = tmp

    def pipeline(self, name: str) -> Any:
        return hw.pipeline(
            name, destination=self.url, dataset=DATASET, pipelines_dir=self.tmp / "pipelines", progress=False
        )

    def destination_snapshot(self) -> Any:
        schemas = pg_query(self.url, "SELECT nspname FROM pg_namespace ORDER BY 1")
        columns = pg_query(
            self.url,
            "SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2, ordinal_position",
        )
        tables = sorted({(s, t) for s, t, _, _ in columns})
        rows = {
            f"{s}.{t}": pg_query(
                self.url,
                f"SELECT count(*), md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM \"{s}\".\"{t}\" x",
            )
            for s, t in tables
        }
        return schemas, columns, rows

    def is_empty(self) -> bool:
        return not pg_query(self.url, "SELECT 1 FROM pg_namespace WHERE nspname = %s", [DATASET])


@pytest.fixture
def target(pg_database: str, tmp_path: Path) -> PgTarget:
    return PgTarget(pg_database, tmp_path)


class TestPlanPostgres(PlanScenarios):
    """Every scenario on PostgreSQL."""


def test_the_dry_run_session_is_read_only(pg_database: str, tmp_path: Path) -> None:
    p = PgTarget(pg_database, tmp_path).pipeline("ro")
    p.run([{"id": 1}], table_name="t")
    with p.destination.read_only().client(DATASET) as client:
        assert client.stored_tables().table("t") is not None
        with pytest.raises(hw.errors.DestinationError, match="read-only transaction"):
            client.execute(f'CREATE TABLE "{DATASET}".x (i int)')
    assert not pg_query(pg_database, "SELECT 1 FROM pg_tables WHERE tablename = 'x'")
