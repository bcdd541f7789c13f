"""A rate limit shared by the worker processes of a run (headwater/executors/ratelimit.py): real
processes, started with spawn and forkserver as the process executor starts them, a real HTTP server."""

from __future__ import annotations

import math
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import headwater as hw
from headwater.executors import ratelimit
from headwater.executors.ratelimit import LocalSlots, RateLimit, Sharing, share_in_folder, slot_name
from tests.apiserver import APIServer, Reply, Request
from tests.integration import ratelimit_workers

N, K, PER_SECOND = 3, 10, 20


def most_in_a_window(stamps: list[float], window: float = 1.0) -> int:
    """The most stamps in any half-open window ``[t, t + window)``."""
    stamps = sorted(stamps)
    most, first = 0, 0
    for last, t in enumerate(stamps):
        while t - stamps[first] >= window:
            first += 1
        most = max(most, last - first + 1)
    return most


def take_in_processes(sharing: Sharing | None) -> list[float]:
    """N spawned processes take K slots each, starting together; every slot's wall time."""
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    out = ctx.Queue()
    workers = [
        ctx.Process(target=ratelimit_workers.take_slots, args=(sharing, PER_SECOND, K, start, out)) for _ in range(N)
    ]
    for w in workers:
        w.start()
    start.set()
    stamps = [t for _ in workers for t in out.get(timeout=60)]
    for w in workers:
        w.join(timeout=10)
        assert w.exitcode == 0
    return stamps


def test_processes_that_share_a_folder_take_slots_in_turn(tmp_path: Path) -> None:
    folder = tmp_path / "limits"
    with share_in_folder(folder):  # the workers inherit HEADWATER_RATE_LIMIT_DIR
        stamps = take_in_processes(None)
    assert len(stamps) == N * K
    # never more than the rate allows in any second, and as long as N*K slots take
    assert most_in_a_window(stamps) <= math.ceil(PER_SECOND * 1.0) + 1, sorted(stamps)
    assert max(stamps) - min(stamps) >= (N * K - 1) / PER_SECOND - 0.02
    # one file of 16 bytes, named after a hash of the identity and the rate, not after the URL
    (slot_file,) = folder.iterdir()
    assert slot_file.name == f"{slot_name('http://api.test/', PER_SECOND)}.slot"
    assert "api" not in slot_file.name
    assert slot_file.stat().st_size == 16
    assert ratelimit.ENV_FOLDER not in os.environ  # the block put the environment back

    # the same processes with a limit each: together they go three times as fast
    alone = take_in_processes(Sharing())
    assert most_in_a_window(alone) > math.ceil(PER_SECOND * 1.0) + 1


def test_a_temporary_folder_is_made_and_removed() -> None:
    with share_in_folder() as sharing:
        assert sharing.folder is not None
        folder = Path(sharing.folder)
        assert os.environ[ratelimit.ENV_FOLDER] == sharing.folder
        limit = RateLimit(1000, "http://api.test/")
        limit.wait()
        assert [p.suffix for p in folder.iterdir()] == [".slot"]
    assert not folder.exists()
    assert isinstance(limit.slots(), LocalSlots)  # the run is over: back to the process's own slots


def test_worker_processes_of_rest_sources_keep_the_rate_limit_together(tmp_path: Path) -> None:
    """Three forkserver workers each build the REST source and extract one partition (a path of its
    own); the server sees at most the limit per second overall."""
    per_second, pages = 5, 5

    def page(req: Request) -> Reply:
        number = int(req.query.get("page", 1))
        return Reply(json={"data": [{"id": f"{req.path}-{number}-{i}"} for i in range(5)], "total_pages": pages})

    paths = [f"/p{i}" for i in range(N)]
    # the coordinator's environment stays as it is: the workers get the folder from their initializer
    sharing = Sharing(folder=str(tmp_path / "limits"))
    ctx = multiprocessing.get_context("forkserver")
    with APIServer() as api, ctx.Manager() as manager:
        for path in paths:
            api.route(path)(page)
        ready = manager.Barrier(N)  # the workers start requesting together, their imports done
        with ProcessPoolExecutor(max_workers=N, mp_context=ctx, initializer=sharing.install) as pool:
            futures = [
                pool.submit(ratelimit_workers.extract_partition, api.url, path, per_second, str(tmp_path), ready)
                for path in paths
            ]
            results = [f.result(timeout=120) for f in futures]
        stamps = list(api.request_times)
        calls = {path: len(api.calls(path)) for path in paths}
    assert [made for made, _ in results] == [True] * N
    assert len({pid for _, pid in results}) == N  # three processes, each with a source of its own
    assert calls == dict.fromkeys(paths, pages)
    # the arrivals: at most the limit in any second, give or take three: a request reaches the server a
    # little after its slot (on a busy machine, a worker held up for a while sends its late requests next
    # to the following ones); a limit each process kept alone would let three times the limit through
    assert most_in_a_window(stamps) <= per_second + 3, sorted(stamps)
    assert max(stamps) - min(stamps) >= (N * pages - 1) / per_second - 0.2
    assert len(list((tmp_path / "limits").iterdir())) == 1


_opened: list[str] | None = None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _opened is not None and event == "open" and isinstance(args[0], str | bytes | os.PathLike):
        _opened.append(os.fsdecode(args[0]))


def test_one_process_keeps_its_rate_limit_without_any_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_pipeline: Any
) -> None:
    """Nothing shared (no executor set the variables): the limit lives in the process, no file opened."""
    global _opened
    monkeypatch.delenv(ratelimit.ENV_FOLDER, raising=False)
    monkeypatch.delenv(ratelimit.ENV_RAY, raising=False)
    sys.addaudithook(_audit)  # sees every file the process opens (os.open included); cannot be removed
    with APIServer() as api:
        api.route("/items")(lambda req: Reply(json={"data": [{"id": int(req.query.get("page", 1))}], "total_pages": 4}))
        source = hw.sources.rest_api(
            {
                "client": {
                    "base_url": api.url,
                    "paginator": {"type": "page_number", "total_path": "total_pages"},
                    "rate_limit": PER_SECOND,
                },
                "resources": ["items"],
            }
        )
        opened: list[str] = []
        _opened = opened
        try:
            make_pipeline("rest").run(source)
        finally:
            _opened = None
        stamps = sorted(api.request_times)
    assert len(stamps) == 4
    assert stamps[-1] - stamps[0] >= 3 / PER_SECOND - 0.02  # limited all the same
    assert opened  # the hook saw the run's own files (the package, the DuckDB file)
    assert not [p for p in opened if p.endswith(".slot") or "headwater-ratelimit-" in p], opened
    assert isinstance(source.client.transport.limiter.limit.slots(), LocalSlots)
