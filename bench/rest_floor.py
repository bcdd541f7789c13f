"""The floor of the rest case: the same pages fetched the way Headwater fetches them, and nothing else.

    .venv/bin/python -m bench.run --cases rest           # the floor runs in the same rounds as the tools
    .venv/bin/python -m bench.rest_floor [--pages 1000] [--repeat 3]

``fetch_floor`` reads the first page alone (it gives the total), then the others with ``concurrency``
requests in flight on as many ``httpx.AsyncClient`` of one keep-alive connection each (Headwater's REST
client does the same: see docs/architecture.md), parses every body with orjson and counts its records,
which are then dropped: no normalizing, no package, no load. Latency and concurrency set this floor:
``(1 + ceil(999 / 16)) x 20 ms = 1.28 s`` of waiting for 1,000 pages, plus the client's own work in this
interpreter.

Run alone, this module starts the bench's server (``bench.rest_server``, a process of its own) and prints,
for each way of reading the pages, the wall time and the CPU time of this process (every thread):

- ``floor``: ``fetch_floor`` as above;
- ``headwater fetch``: Headwater's ``RESTClient.paginate`` over the same pages, records dropped (what
  Headwater's fetching costs before any normalizing);
- ``headwater run``: the bench's whole Headwater run into a fresh DuckDB file.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

LIMIT = 100  # records per page (bench.rest_server serves pages of this size)
CONCURRENCY = 16  # requests in flight, as the bench's Headwater runs are configured
DELAY = 0.02  # seconds the server waits before each answer


def fetch_floor(url: str, resource: str, *, limit: int = LIMIT, concurrency: int = CONCURRENCY) -> int:
    """Every page of ``url/resource`` fetched with ``concurrency`` in flight, parsed and dropped: the
    number of records read."""
    return asyncio.run(_floor(url.rstrip("/") + "/" + resource, limit, concurrency))


async def _floor(endpoint: str, limit: int, concurrency: int) -> int:
    import httpx
    import orjson

    one = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    tls = httpx.create_ssl_context()  # made once and shared, as Headwater does (about 30 ms each)
    clients = [httpx.AsyncClient(limits=one, timeout=30.0, verify=tls) for _ in range(concurrency)]
    try:
        first = await clients[0].get(endpoint, params={"offset": 0, "limit": limit})
        first.raise_for_status()
        body = orjson.loads(first.content)
        offsets = iter(range(limit, int(body["total"]), limit))  # shared: each offset is taken once

        async def worker(client: Any) -> int:
            n = 0
            for offset in offsets:
                response = await client.get(endpoint, params={"offset": offset, "limit": limit})
                response.raise_for_status()
                n += len(orjson.loads(response.content)["items"])
            return n

        counts = await asyncio.gather(*(worker(c) for c in clients))
        return len(body["items"]) + sum(counts)
    finally:
        for client in clients:
            await client.aclose()


def fetch_headwater(url: str, resource: str, *, limit: int = LIMIT, concurrency: int = CONCURRENCY) -> int:
    """The same pages through Headwater's ``RESTClient.paginate`` (records dropped): the records read."""
    from headwater.sources.rest_api.client import RESTClient

    client = RESTClient(
        url, paginator={"type": "offset", "limit": limit, "total_path": "total"}, concurrency=concurrency
    )

    async def pages() -> int:
        n = 0
        async for records in client.paginate(resource, data_selector="items"):
            n += len(records)
        return n

    return asyncio.run(pages())


def start_server(pages: int, delay: float = DELAY) -> tuple[subprocess.Popen[str], str]:
    """``bench.rest_server`` in a process of its own serving ``pages`` pages; the process and its URL."""
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.rest_server", str(pages), str(delay)],
        cwd=Path(__file__).resolve().parent.parent,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    return server, server.stdout.readline().strip()


def timed(fn: Callable[[], int]) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of this process, what ``fn`` returned)."""
    wall, cpu = time.perf_counter(), time.process_time()
    rows = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the fastest of each way counts")
    parser.add_argument("--ways", default="floor,headwater fetch,headwater run")
    args = parser.parse_args()
    from bench.run import run_headwater_rest

    server, url = start_server(args.pages)
    workdir = Path(tempfile.mkdtemp(prefix="headwater-restfloor-"))
    ways: dict[str, Callable[[str, str], int]] = {
        "floor": fetch_floor,
        "headwater fetch": fetch_headwater,
        "headwater run": lambda url, resource: run_headwater_rest(workdir, f"r{time.monotonic_ns()}", url, resource),
    }
    chosen = [w for w in args.ways.split(",") if w]
    try:
        for way in chosen:  # imports, first connections
            assert ways[way](url, "warmup") == 2 * LIMIT
        best: dict[str, tuple[float, float]] = {}
        for _ in range(args.repeat):
            for way in chosen:
                wall, cpu, rows = timed(lambda way=way: ways[way](url, "records"))
                assert rows == args.pages * LIMIT, (way, rows)
                print(f"  {way:<16} {rows:>8,} records {wall:6.2f} s  CPU {cpu:5.2f} s", flush=True)
                if way not in best or wall < best[way][0]:
                    best[way] = (wall, cpu)
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(workdir, ignore_errors=True)
    floor = best.get("floor")
    for way, (wall, cpu) in best.items():
        ratio = f"  {wall / floor[0]:.2f}x the floor" if floor and way != "floor" else ""
        print(f"{way:<16} {wall:6.2f} s  CPU {cpu:5.2f} s{ratio}")


if __name__ == "__main__":
    main()
