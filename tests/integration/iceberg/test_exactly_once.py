"""Kill an Iceberg load (SIGKILL at a failpoint) and run again: the tables must equal a clean run's.

One source, two resources, so a package writes several tables with one commit each: ``events`` is an
incremental append (the cursor must move exactly with the data) with a child table, ``items`` a
merge by key whose child table is committed before its root. Every epoch of the crashing pipeline is
first killed at the failpoint, then run again until it succeeds; the clean pipeline runs each epoch
once. The tables are then compared row for row (without Headwater's ids and load ids).
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.crash import run_killable

pytest.importorskip("pyiceberg")

SCRIPT = r"""
import sys
import headwater as hw

epoch, warehouse, pipelines = int(sys.argv[1]), sys.argv[2], sys.argv[3]

@hw.resource(name="events", primary_key="id")
def events(cursor=hw.incremental("ts")):
    # the API returns everything up to now; the cursor must filter what was loaded before
    start = cursor.start_value or 0
    for i in range(0, 60 * (epoch + 1)):
        if i // 3 >= start:
            yield {"id": i, "ts": i // 3, "v": f"e{i}", "tags": [i % 5, i % 7]}

@hw.resource(name="items", primary_key="id", write_disposition="merge")
def items():
    for i in range(40):
        if (i + epoch) % 3 != 0:  # each epoch updates two thirds of the keys
            yield {"id": i, "v": f"{epoch}-{i}", "tags": [f"t{epoch}"] * (i % 3)}

@hw.source
def api():
    return events, items

p = hw.pipeline("crash", destination=hw.destinations.iceberg(warehouse), dataset="raw",
                pipelines_dir=pipelines, progress=False)
p.run(api())
"""

EPOCHS = 2
# commits of one load: events, events__tags, items__tags, items, _hw_loads
FAILPOINTS = [
    "load.after_insert",  # events and its child committed, items not yet (between two tables)
    "iceberg.table_committed:3",  # inside the merge: the child table committed, its root not yet
    "load.before_commit",  # every table committed, the load not recorded
    "load.after_commit",  # the load recorded, the package not marked loaded locally
]
QUERIES = [
    "select id, ts, v from events order by id",
    "select e.id, t.value, t._hw_list_idx from events e join events__tags t on t._hw_parent_id = e._hw_id "
    "order by 1, 3",
    "select id, v from items order by id",
    "select i.id, t.value, t._hw_list_idx from items i join items__tags t on t._hw_root_id = i._hw_id order by 1, 3",
    "select (select count(*) from events), (select count(*) from events__tags), "
    "(select count(*) from items), (select count(*) from items__tags)",
]


def run(tmp: Path, name: str, epoch: int, failpoint: str | None) -> int:
    script = tmp / "scenario.py"
    script.write_text(SCRIPT)
    return run_killable(script, [str(epoch), str(tmp / f"{name}_wh"), str(tmp / f"{name}_p")], failpoint, timeout=120)


def snapshot(warehouse: Path) -> tuple[list[list[tuple[Any, ...]]], tuple[int, int]]:
    """The results of QUERIES over the tables as pyiceberg reads them, and (loads, distinct load ids)."""
    from pyiceberg.catalog.sql import SqlCatalog

    catalog = SqlCatalog("headwater", uri=f"sqlite:///{warehouse / 'catalog.db'}", warehouse=warehouse.as_uri())
    con = duckdb.connect()
    try:
        for ident in catalog.list_tables("raw"):
            con.register(ident[-1], catalog.load_table(ident).scan().to_arrow())
        results = [con.sql(q).fetchall() for q in QUERIES]
        [(loads, distinct)] = con.sql("select count(*), count(distinct load_id) from _hw_loads").fetchall()
        return results, (int(loads), int(distinct))
    finally:
        con.close()
        catalog.close()


def test_killed_loads_leave_what_a_clean_run_leaves(tmp_path: Path) -> None:
    for epoch in range(EPOCHS):
        assert run(tmp_path, "clean", epoch, None) == 0
    clean, _ = snapshot(tmp_path / "clean_wh")
    assert clean[-1] == [(120, 240, 40, 39)] and clean[0][-1] == (119, 39, "e119")
    for failpoint in FAILPOINTS:
        name = "crash_" + failpoint.replace(".", "_").replace(":", "_")
        for epoch in range(EPOCHS):
            assert run(tmp_path, name, epoch, failpoint) == -signal.SIGKILL, f"{failpoint} never hit"
            assert run(tmp_path, name, epoch, None) == 0
        crashed, (loads, distinct) = snapshot(tmp_path / f"{name}_wh")
        for query, got, want in zip(QUERIES, crashed, clean, strict=True):
            assert got == want, f"after crashes at {failpoint}: {query}"
        assert loads == distinct  # no load recorded twice
