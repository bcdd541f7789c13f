"""Exactly once on Delta Lake: kill the pipeline (SIGKILL) inside a load, run it again, and prove the
tables equal those of a clean run; and a load that fails between a merge's child and root commits.

Each epoch runs one source with an incremental append resource, a delete-insert merge resource and
an upsert merge resource, all with child tables. The crashing pipeline's epochs are each killed at
the failpoint first, then run again until they succeed; the clean pipeline runs each epoch once.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

import headwater as hw
from headwater.destinations.delta import DeltaClient, DeltaDestination
from headwater.errors import LoadError
from tests.crash import run_killable

deltalake = pytest.importorskip("deltalake")

SCRIPT = r"""
import sys
import headwater as hw

epoch, target, pipelines = int(sys.argv[1]), sys.argv[2], sys.argv[3]

@hw.resource(name="events", primary_key="id")
def events(cursor=hw.incremental("ts")):
    start = cursor.start_value or 0
    for i in range(0, 150 * (epoch + 1)):
        if i // 3 >= start:
            yield {"id": i, "ts": i // 3, "v": f"e{i}", "tags": [i % 5, i % 7]}

@hw.resource(name="items", primary_key="id", write_disposition="merge")
def items():
    for i in range(200):
        if (i + epoch) % 3 != 0:  # each epoch updates two thirds of the keys and skips the others
            yield {"id": i, "v": f"{epoch}-{i}", "tags": [f"t{epoch}"] * (i % 3)}

@hw.resource(name="ups", primary_key="id", write_disposition="merge", merge_strategy="upsert")
def ups():
    for i in range(100):
        if (i + epoch) % 2 == 0:
            yield {"id": i, "v": f"{epoch}-{i}", "tags": [f"u{epoch}-{k}" for k in range(i % 3)]}

@hw.source
def crash():
    return [events, items, ups]

p = hw.pipeline("crash", destination=hw.destinations.delta(target), dataset="raw", pipelines_dir=pipelines,
                progress=False, batch_size=100)
p.run(crash())
"""

QUERIES = [
    "select id, ts, v from events order by id",
    "select e.id, t.value, t._hw_list_idx from events e join events__tags t on t._hw_parent_id = e._hw_id "
    "order by 1, 3",
    "select id, v from items order by id",
    "select i.id, t.value from items i join items__tags t on t._hw_root_id = i._hw_id order by 1, 2",
    "select id, v from ups order by id",
    "select u.id, t.value from ups u join ups__tags t on t._hw_parent_id = u._hw_id order by 1, 2",
    "select (select count(*) from events__tags), (select count(*) from items__tags), (select count(*) from ups__tags)",
]


def run(tmp: Path, name: str, epoch: int, failpoint: str | None) -> int:
    script = tmp / "scenario.py"
    script.write_text(SCRIPT)
    return run_killable(script, [str(epoch), str(tmp / f"{name}_lake"), str(tmp / f"{name}_p")], failpoint)


def snapshot(lake: Path) -> list[list[tuple[Any, ...]]]:
    with DeltaDestination(lake).client("raw") as client:
        out = []
        for sql in [*QUERIES, "select count(*), count(distinct load_id) from _hw_loads"]:
            data = client.query_arrow(sql).to_pydict()
            out.append(list(zip(*data.values(), strict=True)))
        return out


@pytest.mark.parametrize("failpoint", ["load.after_insert", "load.before_commit"])
def test_killed_loads_leave_what_a_clean_run_leaves(tmp_path: Path, failpoint: str) -> None:
    epochs = 2
    for epoch in range(epochs):
        assert run(tmp_path, "clean", epoch, None) == 0
    clean = snapshot(tmp_path / "clean_lake")
    assert clean[0] and clean[2] and clean[4], "the clean run loaded nothing"
    for epoch in range(epochs):
        assert run(tmp_path, "crash", epoch, failpoint) == -signal.SIGKILL, f"{failpoint} never hit"
        assert run(tmp_path, "crash", epoch, None) == 0
    crashed = snapshot(tmp_path / "crash_lake")
    assert crashed[:-1] == clean[:-1], f"the tables differ after kills at {failpoint}"
    loads, distinct = crashed[-1][0]
    assert loads == distinct  # no load recorded twice


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
