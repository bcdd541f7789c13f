"""Partitioned resources on a real Ray cluster: a file set and a SQL table read in partitions give the
tables one whole read gives, a worker killed in the middle of a partition is retried without a lost or
doubled row, parts travel through a storage URL, and the mistakes are clear errors.

The cluster is one node with 2 CPUs on 127.0.0.1 (``ray start --head`` in a subprocess), started once
for the module: Ray takes 20 to 40 seconds to start on a busy 2-core machine.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import headwater as hw
from headwater.errors import ConfigError
from headwater.executors.ray import worker_environment
from tests.integration.scale import partitioned
from tests.integration.scale import ray_resources as rr
from tests.integration.scale.common import extractions, make, table
from tests.integration.scale.partitioned import PARTS

ROOT = Path(__file__).resolve().parents[3]
START_SECONDS = 240
# one cluster per module and per xdist worker: under --dist loadgroup the module's tests share one worker
pytestmark = pytest.mark.xdist_group("ray")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ours(marker: str) -> list[int]:
    """The processes whose command line names ``marker`` (the cluster's own temporary folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


@pytest.fixture(scope="session")  # once per test worker: a module fixture would start again after other modules
def cluster() -> Iterator[Any]:
    """A Ray cluster of one node, 2 CPUs, bound to 127.0.0.1; yields a connected executor for it.

    Ray advertises a machine's network address even when asked for 127.0.0.1 (by design,
    ray-project/ray#26293) except with its cluster mode off (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``,
    the macOS/Windows default): then every Ray process binds 127.0.0.1 only. The driver (this process)
    gets the same setting, patched for the module. No usage statistics; no dashboard.
    """
    import ray
    from ray._private import ray_constants

    tmp = Path(tempfile.mkdtemp(prefix="hwray-", dir="/tmp"))  # short: Ray puts unix sockets in it
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    cli = Path(sys.executable).with_name("ray")
    command = [str(cli)] if cli.exists() else [sys.executable, "-m", "ray.scripts.scripts"]
    command += [
        "start",
        "--head",
        "--block",
        "--port=0",
        "--num-cpus=2",
        "--node-ip-address=127.0.0.1",
        "--include-dashboard=false",
        "--disable-usage-stats",
        f"--temp-dir={tmp}",
        f"--ray-client-server-port={_free_port()}",
        f"--dashboard-agent-listen-port={_free_port()}",
        f"--object-store-memory={256 * 1024 * 1024}",
    ]
    log = tmp / "head.log"
    with log.open("w") as out:
        head = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + START_SECONDS
        while "Ray runtime started" not in log.read_text(errors="replace"):
            if head.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Ray head did not start:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.5)
        address = (tmp / "ray_current_cluster").read_text().strip()
        assert address.startswith("127.0.0.1:"), address
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(ray_constants, "ENABLE_RAY_CLUSTER", False)
            executor = hw.executors.ray(address)
            executor.connect()
            yield executor
            executor.close()
    finally:
        if ray.is_initialized():
            ray.shutdown()
        head.send_signal(signal.SIGTERM)  # `ray start --block` stops the processes it started
        try:
            head.wait(90)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        for pid in _ours(str(tmp)):  # none, unless the head failed to stop them
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    log = tmp_path / "extractions.log"
    monkeypatch.setenv("HW_TEST_LOG", str(log))
    monkeypatch.setenv("HW_TEST_FILES", str(tmp_path / "files"))
    monkeypatch.setenv("HW_TEST_DB", str(tmp_path / "accounts.sqlite"))
    for name in ("HW_TEST_FAIL", "HW_TEST_KILL"):
        monkeypatch.delenv(name, raising=False)
    return log


def columns(like: str) -> str:
    return (
        "select table_name, column_name, data_type from information_schema.columns "
        f"where table_schema = 'd' and table_name like '{like}' order by 1, 2"
    )


def same_tables(tmp_path: Path, parted: str, whole: str, queries: list[str]) -> None:
    for sql in queries:
        got = table(tmp_path, parted, sql)
        assert got, sql
        assert got == table(tmp_path, whole, sql), sql
    # one load: every row carries the run's one load id
    first = queries[0].split(" from ", 1)[1].split()[0]
    assert table(tmp_path, parted, f"select count(distinct _hw_load_id) from {first}") == [(1,)]


# -- mistakes (no cluster needed) ------------------------------------------------------------------------
def test_without_ray_the_executor_says_which_extra_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made = hw.executors.ray("127.0.0.1:1")  # before Ray goes: connecting imports it
    monkeypatch.setitem(sys.modules, "ray", None)
    hint = r"pip install 'headwater\[ray\]'"
    with pytest.raises(ConfigError, match=r"(?s)hw.executors.ray\(\) needs the ray package.*" + hint):
        hw.executors.ray()
    with pytest.raises(ConfigError, match=hint):
        hw.pipeline("x", pipelines_dir=tmp_path, executor="ray")
    with pytest.raises(ConfigError, match=hint):
        made.connect()


def test_a_bad_address_or_argument_is_a_clear_error(tmp_path: Path, env: Path) -> None:
    started = time.monotonic()
    with pytest.raises(ConfigError, match=r"(?s)no Ray cluster answers at '127\.0\.0\.1:1'.*ray start --head"):
        make(tmp_path, "nowhere", hw.executors.ray("127.0.0.1:1")).run(partitioned.orders)
    with pytest.raises(ConfigError, match=r"no Ray cluster answers at 'ray://127\.0\.0\.1:1'"):
        hw.executors.ray("ray://127.0.0.1:1").connect()
    assert time.monotonic() - started < 30  # not Ray's minutes of reconnecting
    assert extractions(env) == []
    with pytest.raises(ConfigError, match="'nowhere' is not host:port"):
        hw.executors.ray("nowhere").connect()
    with pytest.raises(ConfigError, match="num_cpus sizes the local cluster"):
        hw.executors.ray("127.0.0.1:6379", num_cpus=2)
    with pytest.raises(ConfigError, match="retries must be a whole number"):
        hw.executors.ray(retries=-1)
    with pytest.raises(ConfigError, match="cannot open its storage 'nope://x'"):
        hw.executors.ray(storage="nope://x")
    with pytest.raises(ConfigError, match=r"(?s)unknown executor 'rey'.*did you mean 'ray'"):
        hw.pipeline("x", pipelines_dir=tmp_path, executor="rey")


def test_a_worker_takes_the_drivers_environment_but_keeps_its_machine_variables() -> None:
    worker = {"PATH": "/w/bin", "HOME": "/w", "RAY_JOB_ID": "01", "OMP_NUM_THREADS": "1", "STALE": "old"}
    driver = {"PATH": "/d/bin", "HOME": "/d", "HW_TOKEN": "t", "RAY_ADDRESS": "x", "LANG": "C.UTF-8"}
    assert worker_environment(worker, driver) == {
        "PATH": "/w/bin",
        "HOME": "/w",
        "RAY_JOB_ID": "01",
        "OMP_NUM_THREADS": "1",
        "HW_TOKEN": "t",
        "LANG": "C.UTF-8",
    }


# -- on the cluster ----------------------------------------------------------------------------------------
def test_a_partitioned_file_set_gives_the_tables_of_one_whole_read(tmp_path: Path, env: Path, cluster: Any) -> None:
    rr.write_files(tmp_path / "files")
    make(tmp_path, "whole", hw.executors.threads(1)).run(rr.files("events_*.csv"))
    info = make(tmp_path, "parted", cluster).run(rr.event_files)
    assert info.table_rows() == {"events": 2400}
    assert sorted(extractions(env)) == sorted(rr.FILE_SETS)  # each file set once, in a Ray worker
    rows = "select * exclude (_hw_load_id, _hw_id) from d.events order by _file_name, _file_row_number"
    same_tables(tmp_path, "parted", "whole", [rows, columns("events%")])
    assert table(tmp_path, "parted", "select count(distinct _file_name) from d.events") == [(6,)]
    assert info.metrics.resources["events"].rows == 2400  # the workers' figures reach the run's


def test_a_partitioned_sql_read_gives_the_tables_of_one_whole_read(tmp_path: Path, env: Path, cluster: Any) -> None:
    rr.create_db(tmp_path / "accounts.sqlite")
    make(tmp_path, "whole", hw.executors.threads(1)).run(rr.accounts_whole)
    info = make(tmp_path, "parted", cluster).run(rr.accounts)
    assert info.table_rows() == {"accounts": 4000, "accounts__tags": 6000}
    assert sorted(extractions(env)) == sorted(f"{lo}-{hi}" for lo, hi in rr.KEY_RANGES)
    same_tables(
        tmp_path,
        "parted",
        "whole",
        [
            "select id, name, balance, opened, closed from d.accounts order by id",
            "select a.id, t.value, t._hw_list_idx from d.accounts__tags t join d.accounts a "
            "on t._hw_parent_id = a._hw_id and t._hw_root_id = a._hw_id order by 1, 3",
            columns("accounts%"),
        ],
    )


def test_a_worker_killed_mid_partition_is_retried_without_lost_or_doubled_rows(
    tmp_path: Path, env: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, cluster: Any
) -> None:
    monkeypatch.setenv("HW_TEST_KILL", "p2")
    caplog.set_level(logging.WARNING, logger="headwater")
    info = make(tmp_path, "killed", hw.executors.ray(cluster.address, retries=2)).run(partitioned.killable)
    assert info.table_rows() == {"orders": 6000, "orders__tags": 12000}
    log = extractions(env)
    assert log.count("p2") == 2 and all(log.count(k) == 1 for k in PARTS if k != "p2")  # killed once (SIGKILL)
    assert table(tmp_path, "killed", "select count(*), count(distinct id) from d.orders") == [(6000, 6000)]
    assert table(tmp_path, "killed", "select count(*), count(distinct _hw_id) from d.orders__tags") == [(12000, 12000)]
    retried = [r.getMessage() for r in caplog.records if "failed on ray" in r.getMessage()]
    assert len(retried) == 1 and "(attempt 1 of 3)" in retried[0] and "WorkerCrashedError" in retried[0]


def test_parts_travel_through_a_storage_url(
    tmp_path: Path, env: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, cluster: Any
) -> None:
    monkeypatch.setenv("HW_TEST_FAIL", "p3:1")  # one partition fails once: its retry uploads anew
    storage = tmp_path / "storage"
    storage.mkdir()
    caplog.set_level(logging.INFO, logger="headwater")
    executor = hw.executors.ray(cluster.address, storage=storage.as_uri())
    make(tmp_path, "whole", "threads").run(partitioned.orders_whole, primary_key="id", write_disposition="merge")
    p = make(tmp_path, "stored", executor)
    info = p.run(partitioned.orders)
    assert info.table_rows() == {"orders": 6000, "orders__tags": 12000}
    log = extractions(env)
    assert log.count("p3") == 2 and len(log) == 7
    fetched = [r.getMessage() for r in caplog.records if "part fetched from" in r.getMessage()]
    assert len(fetched) == 6
    load = re.escape(f"{storage.as_uri()}/stored/{info.load_id}/")
    assert all(re.search(rf"part fetched from {load}orders-\w+/p\d-\w+/\w+$", m) for m in fetched), fetched
    assert not [f for f in storage.rglob("*") if f.is_file()]  # the driver deletes what it fetched
    same_tables(
        tmp_path,
        "stored",
        "whole",
        [
            "select id, part, amount from d.orders order by id",
            "select o.id, t.t, t._hw_list_idx from d.orders__tags t join d.orders o "
            "on t._hw_parent_id = o._hw_id order by 1, 3",
            columns("orders%"),
        ],
    )


def test_ray_tasks_share_a_rate_limit_through_the_run_actor(cluster: Any) -> None:
    import ray

    from headwater.executors import ratelimit
    from headwater.executors.ratelimit import share_on_ray
    from tests.conftest import env_with_path
    from tests.integration import ratelimit_workers
    from tests.integration.test_shared_rate_limit import most_in_a_window

    n, k, per_second = 3, 10, 10
    with share_on_ray() as sharing:
        assert os.environ[ratelimit.ENV_RAY] == sharing.ray_namespace
        env = {**sharing.environ(), "PYTHONPATH": env_with_path()["PYTHONPATH"]}
        task = ray.remote(num_cpus=0.5)(ratelimit_workers.take_slots_here)
        results = ray.get([task.options(runtime_env={"env_vars": env}).remote(per_second, k) for _ in range(n)])
    with pytest.raises(ValueError):  # killed at the end of the block: no actor of that name
        ray.get_actor(ratelimit.KEEPER, namespace=sharing.ray_namespace)
    assert ratelimit.ENV_RAY not in os.environ
    assert [kind for kind, _ in results] == ["RaySlots"] * n
    stamps = [t for _, taken in results for t in taken]
    assert most_in_a_window(stamps) <= per_second + 2, sorted(stamps)
    assert max(stamps) - min(stamps) >= (n * k - 1) / per_second - 0.1
