"""Kill the pipeline (SIGKILL) while it extracts or packages, rerun, and prove the destination equals a
clean run. (Kills inside the load, on every destination: headwater.testing.scenarios.test_exactly_once.)

Each scenario runs three epochs of a deterministic source: incremental append (the cursor must move
exactly with the data), merge (updates of the same keys, child tables included) and scd2 (snapshots).
In the crashing pipeline every epoch is first killed at the failpoint, then run again until it
succeeds; the clean pipeline runs each epoch once. Tables are then compared row for row.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from tests.conftest import DESTINATIONS, create_database, drop_database
from tests.crash import run_killable
from tests.pgserver import pg_query

SCRIPT = r"""
import sys
import headwater as hw

scenario, epoch, target, pipelines = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
destination = target if target.startswith("postgresql://") else hw.destinations.duckdb(target)

if scenario == "append":
    @hw.resource(name="events", primary_key="id")
    def events(cursor=hw.incremental("ts")):
        # the API returns everything up to now; the cursor must filter what was loaded before
        start = cursor.start_value or 0
        for i in range(0, 300 * (epoch + 1)):
            if i // 3 >= start:
                yield {"id": i, "ts": i // 3, "v": f"e{i}", "tags": [i % 5, i % 7]}
elif scenario == "merge":
    @hw.resource(name="events", primary_key="id", write_disposition="merge")
    def events():
        for i in range(0, 400):
            if (i + epoch) % 3 != 0:  # each epoch updates two thirds of the keys
                yield {"id": i, "v": f"{epoch}-{i}", "tags": [f"t{epoch}"] * (i % 3)}
else:
    @hw.resource(name="events", primary_key="id", write_disposition="merge", merge_strategy="scd2")
    def events():
        for i in range(0, 300):
            if (i + epoch) % 4 != 0:  # some ids leave and come back
                yield {"id": i, "name": f"n{i % (7 + epoch)}", "tags": [f"t{i % 2}"]}

p = hw.pipeline("crash", destination=destination, dataset="raw", pipelines_dir=pipelines,
                progress=False, batch_size=100)
p.run(events)
"""

#: the extraction and packaging failpoints (before the destination is touched); the loader's are in the
#: conformance suite (headwater.testing.scenarios.test_exactly_once), on every destination
FAILPOINTS = ["extract.batch:3", "package.sealed"]
QUERIES = {
    "append": [
        "select id, ts, v from raw.events order by id",
        "select e.id, t.value, t._hw_list_idx from raw.events e join raw.events__tags t "
        "on t._hw_parent_id = e._hw_id order by 1, 3",
    ],
    "merge": [
        "select id, v from raw.events order by id",
        "select e.id, t.value, t._hw_list_idx from raw.events e join raw.events__tags t "
        "on t._hw_root_id = e._hw_id order by 1, 3",
    ],
    "scd2": [
        "select id, name, _hw_valid_to is null as current, "
        "dense_rank() over (partition by id order by _hw_valid_from) as version from raw.events order by 1, 4",
        "select e.id, e.name, t.value from raw.events e join raw.events__tags t "
        "on t._hw_root_id = e._hw_id order by 1, 2, 3",
    ],
}


def run(tmp: Path, name: str, target: str, scenario: str, epoch: int, failpoint: str | None) -> int:
    script = tmp / "scenario.py"
    script.write_text(SCRIPT)
    return run_killable(script, [scenario, str(epoch), target, str(tmp / f"{name}_p")], failpoint)


def snapshot(target: str, scenario: str) -> list[list[tuple[object, ...]]]:
    queries = [*QUERIES[scenario], "select count(*), count(distinct load_id) from raw._hw_loads"]
    if target.startswith("postgresql://"):
        return [[tuple(r) for r in pg_query(target, q)] for q in queries]
    con = duckdb.connect(target, read_only=True)
    try:
        out = []
        for query in queries:
            con.execute(query)
            out.append(con.fetchall())
        return out
    finally:
        con.close()


@pytest.mark.parametrize("kind", DESTINATIONS)
@pytest.mark.parametrize("scenario", ["append", "merge", "scd2"])
def test_killed_runs_leave_what_a_clean_run_leaves(
    tmp_path: Path, scenario: str, kind: str, request: pytest.FixtureRequest
) -> None:
    databases: list[str] = []

    def target(name: str) -> str:
        if kind == "duckdb":
            return str(tmp_path / f"{name}.duckdb")
        databases.append(create_database(request.getfixturevalue("pg_url")))
        return databases[-1]

    try:
        check(tmp_path, scenario, kind, target)
    finally:
        for url in databases:
            drop_database(url)


def check(tmp_path: Path, scenario: str, kind: str, target: Callable[[str], str]) -> None:
    clean_target = target("clean")
    for epoch in range(3):
        assert run(tmp_path, "clean", clean_target, scenario, epoch, None) == 0
    clean = snapshot(clean_target, scenario)
    assert clean[0], "the clean run loaded nothing"
    for failpoint in FAILPOINTS:
        name = "crash_" + failpoint.replace(".", "_").replace(":", "_")
        crash_target = target(name)
        for epoch in range(3):
            code = run(tmp_path, name, crash_target, scenario, epoch, failpoint)
            assert code == -signal.SIGKILL, f"{failpoint} never hit"
            assert run(tmp_path, name, crash_target, scenario, epoch, None) == 0
        crashed = snapshot(crash_target, scenario)
        assert crashed[:-1] == clean[:-1], f"{scenario}: destination differs after crashes at {failpoint}"
        loads, distinct = crashed[-1][0]
        assert loads == distinct  # no load recorded twice
    assert os.environ.get("HEADWATER_FAILPOINT") is None
