"""Exactly once on Delta Lake: a load that fails between a merge's child and root commits is completed by
the next run. (SIGKILL inside a load, on every destination: headwater.testing.scenarios.test_exactly_once.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import headwater as hw
from headwater.destinations.delta import DeltaClient
from headwater.errors import LoadError

deltalake = pytest.importorskip("deltalake")


def test_a_load_failing_between_child_and_root_commits_is_completed_by_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def docs(version: int) -> list[dict[str, Any]]:
        return [{"id": i, "v": f"{version}-{i}", "tags": [f"v{version}"] * (1 + i % 2)} for i in range(6)]

    def pipeline(name: str) -> Any:
        dest = hw.destinations.delta(tmp_path / f"{name}_lake")
        return hw.pipeline(name, destination=dest, dataset="raw", pipelines_dir=tmp_path / "p", progress=False)

    hints: dict[str, Any] = {"table_name": "items", "write_disposition": "merge", "primary_key": "id"}
    clean = pipeline("clean")
    clean.run(docs(1), **hints)
    clean.run(docs(2), **hints)

    broken = pipeline("broken")
    broken.run(docs(1), **hints)
    original = DeltaClient.write

    def fail_on_root(self: DeltaClient, name: str, *args: Any, **kwargs: Any) -> None:
        if name == "items":
            raise OSError("the network went away")
        original(self, name, *args, **kwargs)

    children_version = deltalake.DeltaTable(str(tmp_path / "broken_lake" / "raw" / "items__tags")).version()
    monkeypatch.setattr(DeltaClient, "write", fail_on_root)
    with pytest.raises(LoadError, match="the network went away"):
        broken.run(docs(2), **hints)
    # the children's merge was committed, the root's was not
    assert deltalake.DeltaTable(str(tmp_path / "broken_lake" / "raw" / "items__tags")).version() == (
        children_version + 1
    )
    monkeypatch.setattr(DeltaClient, "write", original)
    info = broken.load()  # the kept package: children skipped (already committed), root merged
    assert len(info.loads) == 1
    assert deltalake.DeltaTable(str(tmp_path / "broken_lake" / "raw" / "items__tags")).version() == (
        children_version + 1
    )
    queries = [
        "select id, v from items order by id",
        "select i.id, t.value from items i join items__tags t on t._hw_root_id = i._hw_id order by 1, 2",
        "select count(*) from items__tags",
    ]
    for sql in queries:
        assert broken.query(sql) == clean.query(sql)
