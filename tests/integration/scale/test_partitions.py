"""Partitioned resources on the threads and processes executors: the same tables as one resource read
whole, retries, a rerun that extracts only the missing partitions, a cursor per partition, and a
worker process killed in the middle of a partition."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import headwater as hw
from headwater.errors import ConfigError, ExtractError, StateError
from headwater.packages import files as package_files
from headwater.packages.package import list_packages
from tests.integration.scale import partitioned
from tests.integration.scale.common import extractions, make, table
from tests.integration.scale.partitioned import PARTS

EXECUTORS = ["threads", "processes"]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    log = tmp_path / "extractions.log"
    monkeypatch.setenv("HW_TEST_LOG", str(log))
    monkeypatch.delenv("HW_TEST_FAIL", raising=False)
    return log


CONTENT = {
    "orders": "select id, part, amount from d.orders order by id",
    "orders__tags": "select o.id, t.t, t._hw_list_idx from d.orders__tags t join d.orders o "
    "on t._hw_parent_id = o._hw_id order by 1, 3",
    "columns": "select table_name, column_name, data_type from information_schema.columns "
    "where table_schema = 'd' and table_name like 'orders%' order by 1, 2",
}


@pytest.mark.parametrize("executor", EXECUTORS)
def test_partitions_give_the_tables_one_whole_read_gives(tmp_path: Path, env: Path, executor: str) -> None:
    whole = make(tmp_path, "whole", "threads")
    whole.run(partitioned.orders_whole, primary_key="id", write_disposition="merge")
    parted = make(tmp_path, "parted", executor)
    info = parted.run(partitioned.orders)
    assert info.table_rows() == {"orders": 6000, "orders__tags": 12000}
    assert sorted(extractions(env)) == PARTS  # each partition once
    for sql in CONTENT.values():
        assert table(tmp_path, "parted", sql) == table(tmp_path, "whole", sql)
    # one load: every row carries the run's one load id
    assert table(tmp_path, "parted", "select count(distinct _hw_load_id) from d.orders") == [(1,)]
    assert info.metrics.resources["orders"].rows == 6000  # the workers' figures reach the run's


@pytest.mark.parametrize("executor", EXECUTORS)
def test_a_partition_failing_twice_is_retried_and_the_run_succeeds(
    tmp_path: Path, env: Path, monkeypatch: pytest.MonkeyPatch, executor: str
) -> None:
    monkeypatch.setenv("HW_TEST_FAIL", "p3:2")
    p = make(tmp_path, "retried", hw.executors.threads(retries=2) if executor == "threads" else executor)
    assert p.run(partitioned.orders).table_rows()["orders"] == 6000
    log = extractions(env)
    assert log.count("p3") == 3 and all(log.count(k) == 1 for k in PARTS if k != "p3")


@pytest.mark.parametrize("executor", EXECUTORS)
def test_a_partition_that_keeps_failing_loads_nothing_and_the_rerun_extracts_only_it(
    tmp_path: Path, env: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, executor: str
) -> None:
    monkeypatch.setenv("HW_TEST_FAIL", "p4:*")
    p = make(tmp_path, "stubborn", hw.executors.threads(retries=1) if executor == "threads" else executor)
    with pytest.raises(ExtractError, match=r"1 of 6 partitions failed after their retries \(orders\[p4\]\)") as err:
        p.run(partitioned.orders)
    assert "partition p4 is down" in str(err.value) and "5 finished partitions are kept" in (err.value.hint or "")
    # one hint, the partitions': the worker's error is quoted without its own (which said rows were kept)
    assert str(err.value).count("hint:") == 1 and "extracted before the failure" not in str(err.value)
    retried = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert retried and all("partition p4 is down" in m and "hint:" not in m for m in retried)
    assert err.value.where["partition"] == "p4"
    assert "orders" not in p.dataset().tables()  # nothing loaded
    first = extractions(env)
    assert first.count("p4") == (2 if executor == "threads" else 3) and len(first) - first.count("p4") == 5
    monkeypatch.setenv("HW_TEST_FAIL", "")
    env.unlink()
    info = p.run(partitioned.orders)
    assert extractions(env) == ["p4"]  # the finished parts were kept
    assert info.table_rows() == {"orders": 6000, "orders__tags": 12000}
    assert table(tmp_path, "stubborn", "select count(*), count(distinct id) from d.orders") == [(6000, 6000)]
    assert not any((p.workdir.root / "parts").rglob("part.json"))  # adopted parts leave the working folder
    env.unlink()
    p.run(partitioned.orders)  # a third run extracts everything again: nothing is left over
    assert sorted(extractions(env)) == PARTS
    assert table(tmp_path, "stubborn", "select count(*) from d.orders") == [(6000,)]


@pytest.mark.parametrize("executor", EXECUTORS)
def test_the_run_package_of_partitions_carries_the_workers_checksums_and_verifies_from_disk(
    tmp_path: Path, env: Path, monkeypatch: pytest.MonkeyPatch, executor: str
) -> None:
    """Parts moved into the run's package keep the checksums their workers computed (checked as they
    came in, not read a third time to seal the package); read back from disk, every file matches them."""
    checksummed: list[Path] = []
    real = package_files.file_checksum

    def noted(path: Path) -> tuple[int, int]:  # the real checksum, with the file it read noted
        checksummed.append(Path(path))
        return real(path)

    monkeypatch.setattr(package_files, "file_checksum", noted)
    p = make(tmp_path, "sealed", executor)
    load_id = p.extract(partitioned.orders)
    (package,) = [pkg for pkg in list_packages(p.workdir.packages) if pkg.load_id == load_id]
    assert not [f for f in checksummed if f.is_relative_to(package.root)]  # sealing read no adopted file
    assert not package.written_here
    package.verify()  # every data file read back and its CRC-32 compared
    files = package.manifest.tables["orders"]
    assert len(files.files) == len(PARTS) and all(files.checksums) and len(files.sizes) == len(files.files)
    assert p.load().table_rows() == {"orders": 6000, "orders__tags": 12000}


def _flip_a_bit(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x01  # the size unchanged
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize(
    ("damage", "reason"),
    [(_flip_a_bit, "CRC-32 differs"), (lambda p: p.write_bytes(p.read_bytes()[:-10]), "bytes, ")],
    ids=["one-bit", "truncated"],
)
def test_a_kept_part_damaged_at_rest_is_not_adopted_and_the_next_run_extracts_it_again(
    tmp_path: Path, env: Path, monkeypatch: pytest.MonkeyPatch, damage: Any, reason: str
) -> None:
    """The parts kept after a failed run wait on disk for the next; one whose data file changed since its
    worker sealed it (a full disk, a bad copy from a cluster's storage) stops the run before anything of it
    is adopted, naming the file, and is not reused: the run after extracts that partition again."""
    monkeypatch.setenv("HW_TEST_FAIL", "p4:*")
    p = make(tmp_path, "damaged", hw.executors.threads(retries=0))
    with pytest.raises(ExtractError):
        p.run(partitioned.orders)
    kept = sorted((p.workdir.root / "parts").rglob("part.json"))
    assert len(kept) == 5
    victim = sorted(kept[0].parent.rglob("*.arrow"))[0]
    damage(victim)
    monkeypatch.setenv("HW_TEST_FAIL", "")
    env.unlink()
    with pytest.raises(StateError, match=reason) as err:
        p.run(partitioned.orders)
    assert err.value.where["path"] == str(victim)
    assert err.value.where["resource"] == "orders" and "extracted again" in (err.value.hint or "")
    damaged_key = err.value.where["partition"]
    assert "orders" not in p.dataset().tables()  # nothing loaded
    env.unlink()
    info = p.run(partitioned.orders)
    assert damaged_key in extractions(env)  # the damaged part was not reused
    assert info.table_rows() == {"orders": 6000, "orders__tags": 12000}
    assert table(tmp_path, "damaged", "select count(*), count(distinct id) from d.orders") == [(6000, 6000)]


@pytest.mark.parametrize("executor", EXECUTORS)
def test_each_partition_keeps_its_own_cursor(
    tmp_path: Path, env: Path, monkeypatch: pytest.MonkeyPatch, executor: str
) -> None:
    p = make(tmp_path, "cursors", executor)
    assert p.run(partitioned.events).table_rows() == {"events": 6}
    monkeypatch.setenv("HW_TEST_TOP", "5")
    assert p.run(partitioned.events).table_rows() == {"events": 4}  # 2 new rows in each partition
    assert table(tmp_path, "cursors", "select part, max(updated) from d.events group by 1 order by 1") == [
        ("a", 4),
        ("b", 14),
    ]
    own = p.state.resource_state(p.name, "events")["partitions"]
    assert own["a"]["incremental"] != own["b"]["incremental"]


def test_a_worker_process_killed_mid_partition_is_retried_without_lost_or_doubled_rows(
    tmp_path: Path, env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HW_TEST_KILL", "p2")
    p = make(tmp_path, "killed", hw.executors.processes(workers=2, retries=2))
    info = p.run(partitioned.killable)
    assert info.table_rows()["orders"] == 6000
    assert extractions(env).count("p2") == 2  # killed once (SIGKILL), then extracted whole
    assert table(tmp_path, "killed", "select count(*), count(distinct id) from d.orders") == [(6000, 6000)]


def test_partition_mistakes_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="takes no 'partition' argument"):
        hw.resource(lambda: iter(()), name="x", partitions=[1])
    with pytest.raises(ConfigError, match="partition '1' twice"):
        hw.resource(lambda partition: iter(()), name="x", partitions=[1, "1"])
    with pytest.raises(ConfigError, match="takes a list of values"):
        hw.resource(lambda partition: iter(()), name="x", partitions="abc")
    with pytest.raises(ConfigError, match=r"(?s)unknown executor 'process'.*did you mean 'processes'"):
        hw.pipeline("x", pipelines_dir=tmp_path, executor="process")
    broken = hw.resource(lambda partition: iter(()), name="x", partitions=lambda: 1 / 0)
    with pytest.raises(ConfigError, match="partitions function of resource 'x' failed: ZeroDivisionError"):
        make(tmp_path, "mistakes", "threads").run(broken)
    assert os.environ.get("HW_TEST_FAIL") is None


@pytest.mark.parametrize(
    ("factory", "typo", "meant"),
    [("threads", "worker", "workers"), ("processes", "retry", "retries"), ("ray", "num_cpu", "num_cpus")],
)
def test_a_misspelled_executor_argument_gets_a_did_you_mean(factory: str, typo: str, meant: str) -> None:
    if factory == "ray":
        pytest.importorskip("ray")
    message = rf"(?s)hw.executors.{factory}\(\) got an unknown argument '{typo}'.*did you mean '{meant}'"
    with pytest.raises(ConfigError, match=message):
        getattr(hw.executors, factory)(**{typo: 2})


@pytest.mark.parametrize("executor", EXECUTORS)
def test_parts_that_type_a_column_differently_merge_as_one_read_would(tmp_path: Path, env: Path, executor: str) -> None:
    make(tmp_path, "mixed_whole", "threads").run(partitioned.mixed_whole)
    make(tmp_path, "mixed_parts", executor).run(partitioned.mixed)
    columns = CONTENT["columns"].replace("orders%", "mixed%")
    assert table(tmp_path, "mixed_parts", columns) == table(tmp_path, "mixed_whole", columns)
    assert ("mixed", "code__v_text", "VARCHAR") in table(tmp_path, "mixed_parts", columns)
    rows = "select id, code, code__v_text, score, extra__deep from d.mixed order by id"
    assert table(tmp_path, "mixed_parts", rows) == table(tmp_path, "mixed_whole", rows)


def test_outside_a_pipeline_run_a_partitioned_resource_reads_every_partition_in_turn(tmp_path: Path, env: Path) -> None:
    assert len(list(partitioned.orders)) == 6000 and extractions(env) == PARTS
    plan = make(tmp_path, "planned", "processes").plan(partitioned.orders)
    assert "6,000 rows" in str(plan)  # a dry run reads here, nothing is written

    @hw.transformer(data_from=partitioned.orders)
    def shipped(order: dict[str, Any]) -> Any:
        yield {"id": order["id"]}

    with pytest.raises(ConfigError, match="transformer of a partitioned resource"):
        make(tmp_path, "fed", "threads").run([partitioned.orders, shipped])


def test_a_flow_runs_its_partitions_on_the_executor_it_names(tmp_path: Path, env: Path) -> None:
    flows = hw.flows.load(
        {
            "sources": {"orders": {"type": "tests.integration.scale.partitioned:orders"}},
            "destinations": {"wh": {"type": "duckdb", "config": {"path": str(tmp_path / "flows.duckdb")}}},
            "flows": [
                {
                    "name": "parted",
                    "from": "orders",
                    "to": "wh",
                    "pipeline": {"executor": "processes", "progress": False},
                }
            ],
        }
    )
    (info,) = flows.run(pipelines_dir=tmp_path / "p")
    assert info.table_rows()["orders"] == 6000 and sorted(extractions(env)) == PARTS
    bad = {"flows": [{"name": "x", "from": "a", "to": "b", "pipeline": {"executor": 4}}]}
    with pytest.raises(ConfigError, match=r"pipeline\.executor.*expected an executor's name"):
        hw.flows.load(bad)


KILLED_RUN = """
import sys
sys.path.insert(0, {root!r})
import headwater as hw
from tests.integration.scale import partitioned

if __name__ == "__main__":
    dest = hw.destinations.duckdb({db!r})
    p = hw.pipeline("crash", destination=dest, dataset="d", pipelines_dir={pipelines!r}, progress=False,
                    executor="processes")
    p.run(partitioned.orders)
"""


@pytest.mark.parametrize(("failpoint", "again"), [("parts.finished", []), ("parts.adopted:2", ["p0", "p1"])])
def test_a_run_killed_while_adopting_parts_reruns_to_exactly_once(
    tmp_path: Path, env: Path, failpoint: str, again: list[str]
) -> None:
    import subprocess
    import sys

    root = str(Path(__file__).resolve().parents[3])
    script = tmp_path / "killed.py"
    db, pipelines = str(tmp_path / "crash.duckdb"), str(tmp_path / "p")
    script.write_text(KILLED_RUN.format(root=root, db=db, pipelines=pipelines))
    child_env = {**os.environ, "HEADWATER_FAILPOINT": failpoint}
    out = subprocess.run([sys.executable, str(script)], env=child_env, capture_output=True, text=True, timeout=300)
    assert out.returncode == -9, out.stderr  # SIGKILL at the failpoint
    assert sorted(extractions(env)) == PARTS
    env.unlink()
    p = make(tmp_path, "crash", "processes")
    assert p.run(partitioned.orders).table_rows()["orders"] == 6000
    assert sorted(extractions(env)) == again  # the parts still whole were reused, the others extracted again
    assert table(tmp_path, "crash", "select count(*), count(distinct id) from d.orders") == [(6000, 6000)]


FAILING_ON_THREADS = """
import sys
sys.path.insert(0, {root!r})
import headwater as hw
from headwater.errors import ExtractError
from tests.integration.scale import partitioned

dest = hw.destinations.duckdb({db!r})
p = hw.pipeline("threads", destination=dest, dataset="d", pipelines_dir={pipelines!r}, progress=False,
                executor=hw.executors.threads(retries=0))
try:
    p.run(partitioned.orders)
except ExtractError as exc:
    print("ExtractError", exc.where.get("partition"), "concurrent.futures.process" in sys.modules)
"""


def test_a_failing_partition_on_threads_is_an_extract_error_in_a_process_that_never_used_processes(
    tmp_path: Path, env: Path
) -> None:
    """The pool told a worker's death from a job's failure by ``concurrent.futures.process``, which only
    a process pool imports: a fresh process on threads got an AttributeError instead (the suite hid it,
    having used process pools before)."""
    import subprocess
    import sys

    root = str(Path(__file__).resolve().parents[3])
    script = tmp_path / "threads.py"
    script.write_text(
        FAILING_ON_THREADS.format(root=root, db=str(tmp_path / "t.duckdb"), pipelines=str(tmp_path / "p"))
    )
    out = subprocess.run(
        [sys.executable, str(script)],
        env={**os.environ, "HW_TEST_FAIL": "p2:*"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["ExtractError", "p2", "False"]


def test_a_run_can_read_only_some_partitions(tmp_path: Path, env: Path) -> None:
    from headwater.streams.partitions import only_partitions

    p = make(tmp_path, "some", "threads")
    assert p.run(partitioned.orders.only_partitions(["p1", "p4"])).table_rows()["orders"] == 2000
    assert sorted(extractions(env)) == ["p1", "p4"]
    source = hw.source(lambda: [partitioned.orders], name="shop")()
    assert p.run(only_partitions(source, ["p5"])).table_rows()["orders"] == 1000
    with pytest.raises(ConfigError, match="has no partition 'p9'") as err:
        p.run(partitioned.orders.only_partitions(["p9"]))
    assert "partitions: p0, p1, p2, p3, p4, p5" in (err.value.hint or "")  # what there is to choose from


def test_independent_resources_run_in_worker_processes_too(
    tmp_path: Path, env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = make(tmp_path, "independent", "processes")
    generated = hw.resource(({"id": i} for i in range(3)), name="generated")  # a generator object stays here
    info = p.run([partitioned.customers, partitioned.products, generated])
    assert info.table_rows() == {"customers": 3, "products": 5, "generated": 3}
    pids = table(
        tmp_path, "independent", "select distinct pid from d.customers union select distinct pid from d.products"
    )
    assert os.getpid() not in {pid for (pid,) in pids}  # read in worker processes
    monkeypatch.setenv("HW_TEST_TOP", "5")
    assert p.run([partitioned.customers, partitioned.products]).table_rows() == {"customers": 2, "products": 5}
    assert p.state.incremental_state(p.name, "customers")["updated"]["last_value"] == 4  # its cursor moved on
