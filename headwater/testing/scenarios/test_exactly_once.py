"""Exactly once: kill the pipeline (SIGKILL) inside a load, run it again, and prove the destination holds
what a clean run leaves, with the cursor moved exactly with the data and no load recorded twice.

Each scenario runs a deterministic source for two epochs in a fresh interpreter. The crashing pipeline's
epochs are each killed at the failpoint first (``HEADWATER_FAILPOINT``), then run again until they
succeed; the clean pipeline runs each epoch once. The failpoints are the loader's common ones (some
tables written, every table written but the load not recorded, the load recorded but not the local
bookkeeping) and the destination's own (``DestinationFactory.failpoints``). The subprocess reopens the
destination from ``destination.to_uri()``.

Only the killed runs need a fresh interpreter (a SIGKILL would take the test runner with it); the
clean runs and the reruns after a kill run the same script in this process, each with a new pipeline
that reopens the destination and the working folder from ``to_uri()`` and ``pipelines_dir``, as the
next run after a crash does. That keeps one interpreter start-up per kill, not three.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import headwater as hw
from headwater.testing import requires, rows

FAILPOINTS = ("load.after_insert", "load.before_commit", "load.after_commit")
EPOCHS = 2

SCRIPT = r"""
import sys
import headwater as hw


def main(scenario, epoch, uri, pipelines):
    epoch = int(epoch)

    @hw.resource(name="events", primary_key="id")
    def events(cursor=hw.incremental("ts")):
        # the API returns everything up to now; the cursor must filter what was loaded before
        start = cursor.start_value or 0
        for i in range(0, 150 * (epoch + 1)):
            if i // 3 >= start:
                yield {"id": i, "ts": i // 3, "v": f"e{i}", "tags": [i % 5, i % 7]}

    @hw.resource(name="snap", write_disposition="replace")
    def snap():
        yield from ({"id": i, "epoch": epoch} for i in range(50 + epoch))

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

    @hw.resource(name="hist", primary_key="id", write_disposition="merge", merge_strategy="scd2")
    def hist():
        for i in range(150):
            if (i + epoch) % 4 != 0:  # some ids leave and come back
                yield {"id": i, "name": f"n{i % (7 + epoch)}", "tags": [f"t{i % 2}"]}

    resources = {"append": [events, snap], "merge": [items, ups], "scd2": [hist]}[scenario]
    p = hw.pipeline("crash", destination=uri, dataset="raw", pipelines_dir=pipelines, progress=False, batch_size=100)
    p.run(resources)


if __name__ == "__main__":
    main(*sys.argv[1:5])
"""

QUERIES = {
    "append": [
        "select id, ts, v from events order by id",
        "select e.id, t.value, t._hw_list_idx from events e join events__tags t on t._hw_parent_id = e._hw_id "
        "order by 1, 3",
        "select id, epoch from snap order by id",
    ],
    "merge": [
        "select id, v from items order by id",
        "select i.id, t.value, t._hw_list_idx from items i join items__tags t on t._hw_root_id = i._hw_id "
        "order by 1, 3",
        "select id, v from ups order by id",
        "select u.id, t.value from ups u join ups__tags t on t._hw_parent_id = u._hw_id order by 1, 2",
    ],
    "scd2": [
        "select id, name, _hw_valid_to is null as current, "
        "dense_rank() over (partition by id order by _hw_valid_from) as version from hist order by 1, 4",
        "select h.id, h.name, t.value from hist h join hist__tags t on t._hw_root_id = h._hw_id order by 1, 2, 3",
    ],
}


def _run(folder: Path, name: str, uri: str, scenario: str, epoch: int, failpoint: str | None) -> int:
    """Run one epoch: with a failpoint in a fresh interpreter (0, or -SIGKILL when the failpoint killed
    it), without one in this process with a new pipeline (0)."""
    pipelines = str(folder / f"{name}_p")
    if not failpoint:
        script: dict[str, Any] = {"__name__": "headwater_crash_scenario"}
        exec(compile(SCRIPT, "scenario.py", "exec"), script)
        script["main"](scenario, epoch, uri, pipelines)
        return 0
    script_file = folder / "scenario.py"
    script_file.write_text(SCRIPT)
    env = dict(os.environ)
    env["HEADWATER_FAILPOINT"] = failpoint
    root = str(Path(hw.__file__).resolve().parents[1])  # this headwater, wherever it is imported from
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    args = [sys.executable, str(script_file), scenario, str(epoch), uri, pipelines]
    out = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    if out.returncode not in (0, -signal.SIGKILL):
        raise AssertionError(f"{scenario} epoch {epoch} (failpoint {failpoint}) failed:\n{out.stderr[-3000:]}")
    return out.returncode


def _snapshot(folder: Path, uri: str, scenario: str) -> list[list[tuple[Any, ...]]]:
    reader = hw.pipeline("reader", destination=uri, dataset="raw", pipelines_dir=folder / "reader", progress=False)
    return [
        rows(reader, sql) for sql in [*QUERIES[scenario], "select count(*), count(distinct load_id) from _hw_loads"]
    ]


def check(uri: Callable[[str], str], folder: Path, scenario: str, failpoints: Iterable[str]) -> None:
    """Two clean epochs, then for each failpoint two killed-and-rerun epochs into a fresh place
    (``uri(name)`` reopens it): every table equals the clean run's, and no load is recorded twice."""
    clean_uri = uri("clean")
    for epoch in range(EPOCHS):
        assert _run(folder, "clean", clean_uri, scenario, epoch, None) == 0
    clean = _snapshot(folder, clean_uri, scenario)
    assert all(clean[:-1]), "the clean run loaded nothing"
    for failpoint in failpoints:
        name = "crash_" + failpoint.replace(".", "_").replace(":", "_")
        crash_uri = uri(name)
        for epoch in range(EPOCHS):
            code = _run(folder, name, crash_uri, scenario, epoch, failpoint)
            assert code == -signal.SIGKILL, f"{failpoint} never hit"
            assert _run(folder, name, crash_uri, scenario, epoch, None) == 0
        crashed = _snapshot(folder, crash_uri, scenario)
        for query, got, want in zip(QUERIES[scenario], crashed, clean, strict=False):
            assert got == want, f"{scenario}: differs after kills at {failpoint}: {query}"
        ((loads, distinct),) = crashed[-1]
        assert loads == distinct  # no load recorded twice


def _check(destination: Any, tmp_path: Path, scenario: str) -> None:
    def uri(name: str) -> str:
        found = destination.at(name).to_uri()
        assert found, f"{destination.name}: the crash scenarios reopen the destination from its to_uri()"
        return str(found)

    check(uri, tmp_path, scenario, (*FAILPOINTS, *destination.factory.failpoints))


def test_killed_appends_and_replaces_load_once(destination: Any, tmp_path: Path) -> None:
    _check(destination, tmp_path, "append")


@requires("write_dispositions", "merge")
def test_killed_merges_load_once(destination: Any, tmp_path: Path) -> None:
    _check(destination, tmp_path, "merge")


@requires("write_dispositions", "merge")
@requires("merge_strategies", "scd2")
def test_killed_scd2_loads_keep_one_history(destination: Any, tmp_path: Path) -> None:
    _check(destination, tmp_path, "scd2")
