"""Exactly once: kill the pipeline (SIGKILL) inside a load, run it again, and prove the destination holds
what a clean run leaves, with the cursor moved exactly with the data and no load recorded twice.

Each scenario runs a deterministic source for two epochs. The crashing pipeline's
epochs are each killed at the failpoint first (``HEADWATER_FAILPOINT``), then run again until they
succeed; the clean pipeline runs each epoch once. The failpoints are the loader's common ones (some
tables written, every table written but the load not recorded, the load recorded but not the local
bookkeeping) and the destination's own (``DestinationFactory.failpoints``). The killed process reopens
the destination from ``destination.to_uri()``.

Only the killed runs need a new process (a SIGKILL would take the test runner with it). The clean runs
and the reruns after a kill run the same script in this process, each with a new pipeline that reopens
the destination and the working folder from ``to_uri()`` and ``pipelines_dir``, as the next run after
a crash does. The killed runs are forked, one per kill, from one fresh interpreter per scenario that
has imported headwater and its libraries and done nothing else (:class:`Killer`): each starts as a new
process with nothing open, without paying for the imports again.
"""

from __future__ import annotations

import json
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
#: failpoints inside the load transaction: a kill there leaves a ``transactional`` destination untouched
UNCOMMITTED = ("load.after_insert", "load.before_commit", "load.mid_copy")
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
    return p.run(resources)


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


#: A fresh interpreter that imports what a run imports, then forks one child per killed run: each child
#: starts as a new process that has imported modules and done nothing else, the failpoint armed
#: (``headwater._failpoints`` reloaded with ``HEADWATER_FAILPOINT`` set), its output in a log file. It
#: answers each request (a JSON line: scenario, epoch, uri, pipelines, failpoint, log) with the child's
#: return code (``-9`` for SIGKILL). One interpreter start-up per scenario, not one per kill.
KILLER = r"""
import importlib, json, os, signal, sys, traceback

for module in sys.argv[2:]:
    try:
        importlib.import_module(module)
    except Exception:
        pass
script = {"__name__": "headwater_crash_scenario"}
exec(compile(open(sys.argv[1]).read(), sys.argv[1], "exec"), script)
for line in sys.stdin:
    scenario, epoch, uri, pipelines, failpoint, log = json.loads(line)
    pid = os.fork()
    if pid == 0:
        try:
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            signal.alarm(300)
            os.environ["HEADWATER_FAILPOINT"] = failpoint
            import headwater._failpoints

            importlib.reload(headwater._failpoints)
            script["main"](scenario, epoch, uri, pipelines)
            code = 0
        except BaseException:
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    print(os.waitstatus_to_exitcode(status), flush=True)
"""

#: what the killer imports before it forks (beside the headwater modules this process has imported)
PRELOAD = ("pyarrow", "pyarrow.parquet", "pyarrow.dataset", "pandas", "duckdb", "psycopg", "pyiceberg", "deltalake")


class Killer:
    """Runs epochs that a failpoint kills, each in a new process forked from one fresh interpreter."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        script = folder / "scenario.py"
        script.write_text(SCRIPT)
        env = dict(os.environ)
        env.pop("HEADWATER_FAILPOINT", None)
        root = str(Path(hw.__file__).resolve().parents[1])  # this headwater, wherever it is imported from
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
        ours = sorted(m for m in sys.modules if m.startswith("headwater.") and not m.startswith("headwater.testing"))
        self.proc = subprocess.Popen(
            [sys.executable, "-c", KILLER, str(script), *ours, *PRELOAD],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.runs = 0

    def run(self, name: str, uri: str, scenario: str, epoch: int, failpoint: str) -> int:
        """Run one epoch with ``failpoint`` armed: 0, or -SIGKILL when the failpoint killed it."""
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.runs += 1
        log = self.folder / f"killed_{self.runs}.log"
        request = [scenario, epoch, uri, str(self.folder / f"{name}_p"), failpoint, str(log)]
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline()
        if not answer:
            raise AssertionError(f"the killer process died (code {self.proc.wait()})")
        code = int(answer)
        if code not in (0, -signal.SIGKILL):
            raise AssertionError(f"{scenario} epoch {epoch} (failpoint {failpoint}) failed:\n{log.read_text()[-3000:]}")
        return code

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


def run_epoch(folder: Path, name: str, uri: str, scenario: str, epoch: int) -> Any:
    """Run one epoch in this process with a new pipeline; its ``LoadInfo``."""
    script: dict[str, Any] = {"__name__": "headwater_crash_scenario"}
    exec(compile(SCRIPT, "scenario.py", "exec"), script)
    return script["main"](scenario, epoch, uri, str(folder / f"{name}_p"))


def snapshot(folder: Path, uri: str, scenario: str) -> list[list[tuple[Any, ...]]]:
    reader = hw.pipeline("reader", destination=uri, dataset="raw", pipelines_dir=folder / "reader", progress=False)
    return [
        rows(reader, sql) for sql in [*QUERIES[scenario], "select count(*), count(distinct load_id) from _hw_loads"]
    ]


def check(
    uri: Callable[[str], str], folder: Path, scenario: str, failpoints: Iterable[str], transactional: bool = False
) -> None:
    """Two clean epochs, then for each failpoint two killed-and-rerun epochs into a fresh place
    (``uri(name)`` reopens it): every table equals the clean run's, and no load is recorded twice.
    ``transactional``: a kill at an ``UNCOMMITTED`` failpoint in the second epoch changes no table
    (``_hw_loads`` included)."""
    clean_uri = uri("clean")
    for epoch in range(EPOCHS):
        run_epoch(folder, "clean", clean_uri, scenario, epoch)
    clean = snapshot(folder, clean_uri, scenario)
    assert all(clean[:-1]), "the clean run loaded nothing"
    killer = Killer(folder)
    try:
        for failpoint in failpoints:
            name = "crash_" + failpoint.replace(".", "_").replace(":", "_")
            crash_uri = uri(name)
            untouched = transactional and failpoint.split(":")[0] in UNCOMMITTED
            for epoch in range(EPOCHS):
                before = snapshot(folder, crash_uri, scenario) if epoch and untouched else None
                code = killer.run(name, crash_uri, scenario, epoch, failpoint)
                assert code == -signal.SIGKILL, f"{failpoint} never hit"
                if before is not None:
                    assert snapshot(folder, crash_uri, scenario) == before, f"{scenario}: {failpoint} left a trace"
                work = hw.pipeline("crash", destination=crash_uri, dataset="raw", pipelines_dir=folder / f"{name}_p")
                kept = 0 if failpoint.startswith("extract.") else 1  # a package killed while open is dropped
                assert len(work.pending_packages()) == kept, f"{failpoint}: the killed run's package"
                info = run_epoch(folder, name, crash_uri, scenario, epoch)
                assert not work.pending_packages()
                # a load committed before the kill is recognised, not loaded again
                assert info.loads[0].already_loaded == (failpoint == "load.after_commit")
            crashed = snapshot(folder, crash_uri, scenario)
            for query, got, want in zip(QUERIES[scenario], crashed, clean, strict=False):
                assert got == want, f"{scenario}: differs after kills at {failpoint}: {query}"
            ((loads, distinct),) = crashed[-1]
            assert loads == distinct  # no load recorded twice
    finally:
        killer.close()


def _check(destination: Any, tmp_path: Path, scenario: str) -> None:
    def uri(name: str) -> str:
        found = destination.at(name).to_uri()
        assert found, f"{destination.name}: the crash scenarios reopen the destination from its to_uri()"
        return str(found)

    failpoints = (*FAILPOINTS, *destination.factory.failpoints)
    check(uri, tmp_path, scenario, failpoints, destination.capabilities.transactional)


def test_killed_appends_and_replaces_load_once(destination: Any, tmp_path: Path) -> None:
    _check(destination, tmp_path, "append")


@requires("write_dispositions", "merge")
def test_killed_merges_load_once(destination: Any, tmp_path: Path) -> None:
    _check(destination, tmp_path, "merge")


@requires("write_dispositions", "merge")
@requires("merge_strategies", "scd2")
def test_killed_scd2_loads_keep_one_history(destination: Any, tmp_path: Path) -> None:
    _check(destination, tmp_path, "scd2")
