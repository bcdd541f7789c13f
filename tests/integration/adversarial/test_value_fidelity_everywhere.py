"""The leaf oracle (tests/leaf_oracle.py) on the other destinations: every leaf value comes back exactly
from PostgreSQL, Parquet files, Iceberg and Delta too (DuckDB runs it with more examples in
tests/integration/duckdb/test_value_fidelity.py). PostgreSQL's text cannot hold NUL: such strings come
back from a binary variant column as their bytes, and JSON that would need one quarantines its row.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import headwater as hw
from tests.conftest import create_database
from tests.leaf_oracle import DERANDOMIZE, RECORDS, load_and_compare

_counter = itertools.count()


@pytest.fixture(scope="module")
def pg_database(pg_url: str) -> str:
    return create_database(pg_url)


def destination(kind: str, folder: Path, request: pytest.FixtureRequest) -> Any:
    if kind == "postgres":
        return hw.destinations.postgres(request.getfixturevalue("pg_database"))
    if kind == "filesystem":
        return hw.destinations.filesystem(folder / "files")
    if kind == "iceberg":
        return hw.destinations.iceberg(folder / "warehouse")
    return hw.destinations.delta(folder / "delta")


@pytest.mark.parametrize("kind", ["postgres", "filesystem", "iceberg", "delta"])
def test_every_leaf_comes_back_exactly(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    @settings(
        max_examples=25,
        deadline=None,
        derandomize=DERANDOMIZE,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
    )
    @given(
        records=RECORDS,
        cuts=st.lists(st.integers(1, 7), max_size=2),
        max_nesting=st.sampled_from([None, None, 0, 1, 2]),
    )
    def check(records: list[dict[str, Any]], cuts: list[int], max_nesting: int | None) -> None:
        n = next(_counter)
        folder = tmp_path / f"e{n}"
        p = hw.pipeline(
            f"fidelity_{kind}",
            destination=destination(kind, folder, request),
            dataset=f"ds{n}",
            pipelines_dir=folder / "work",
            progress=False,
        )
        load_and_compare(p, records, cuts, max_nesting)

    check()
