"""Kill the pipeline (SIGKILL) while it extracts or packages, rerun, and prove the destination equals a
clean run: the conformance suite's crash scenarios (headwater.testing.scenarios.test_exactly_once, which
kills inside the load on every destination) at the extraction and packaging failpoints, before the
destination is touched, on DuckDB and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from headwater.testing.scenarios.test_exactly_once import check
from tests.conftest import DESTINATIONS, create_database, drop_database

FAILPOINTS = ("extract.batch:2", "package.sealed")


@pytest.mark.parametrize("kind", DESTINATIONS)
@pytest.mark.parametrize("scenario", ["append", "merge", "scd2"])
def test_killed_extractions_leave_what_a_clean_run_leaves(
    tmp_path: Path, scenario: str, kind: str, request: pytest.FixtureRequest
) -> None:
    databases: list[str] = []

    def uri(name: str) -> str:
        if kind == "duckdb":
            return f"duckdb://{tmp_path / name}.duckdb"
        databases.append(create_database(request.getfixturevalue("pg_url")))
        return databases[-1]

    try:
        check(uri, tmp_path, scenario, FAILPOINTS)
    finally:
        for url in databases:
            drop_database(url)
