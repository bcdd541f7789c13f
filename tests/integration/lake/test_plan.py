"""The dry run on the file destinations (filesystem, Delta, Iceberg): reading creates nothing (a destination
that does not exist stays so) and changes no byte; the counts are what the run then does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import headwater as hw
from tests.integration.plan_scenarios import file_hashes

KINDS = ["filesystem", "delta", "iceberg"]


def hints(kind: str) -> dict[str, Any]:
    if kind == "filesystem":  # no merge there
        return {"table_name": "t", "write_disposition": "replace"}
    return {"table_name": "t", "write_disposition": "merge", "primary_key": "id"}


@pytest.mark.parametrize("kind", KINDS)
def test_plan_then_run(tmp_path: Path, kind: str) -> None:
    lake = tmp_path / "lake"
    p = hw.pipeline(
        f"plan_{kind}", destination=getattr(hw.destinations, kind)(str(lake)), pipelines_dir=tmp_path / "pl"
    )
    first = [{"id": i, "v": i} for i in range(3)]
    work = file_hashes(tmp_path / "pl")
    plan = p.plan(first, **hints(kind))
    assert not lake.exists()
    assert file_hashes(tmp_path / "pl") == work
    assert plan.tables["t"].new and plan.table_rows() == {"t": 3}
    p.run(first, **hints(kind))
    second = [{"id": 2, "v": 9}, {"id": 7, "v": 1}]
    before = file_hashes(tmp_path)
    plan = p.plan(second, **hints(kind))
    assert file_hashes(tmp_path) == before
    t = plan.tables["t"]
    if kind == "filesystem":
        assert t.replaced == 3
    else:
        assert (t.inserted, t.updated, t.deleted) == (1, 1, 0)
    info = p.run(second, **hints(kind))
    assert plan.table_rows() == info.table_rows() == {"t": 2}
