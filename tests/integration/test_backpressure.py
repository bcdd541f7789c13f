"""Backpressure: memory stays flat when a later stage is slower than the source.

Where the stages meet, and what bounds each boundary:

- resources -> the consuming thread: :mod:`headwater.pipelines.channel`, 16 chunks of at most 256
  items (a single sync resource runs inline, in the consuming thread itself);
- items -> the normalizer: :mod:`headwater.pipelines.router` buffers ``batch_size`` rows per table;
- the normalizer -> the package writer thread: a queue of 4 tables
  (:mod:`headwater.packages.writer`), and -> the checks thread: 8 batches (:mod:`headwater.normalize.checks`);
- the package -> the destination: the package is on disk; a load starts once extraction is done and
  reads the files a batch at a time, however slowly the destination takes them.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import headwater as hw
from headwater.pipelines.channel import CHUNK, QUEUE_SIZE
from tests.conftest import env_with_path
from tests.integration import backpressure_run

ROWS = 2_000_000
#: seconds the destination sleeps after each batch it reads (up to 65,536 rows): it takes the rows
#: more slowly than the source makes them (about 10 s for the load against 7 s for the extraction)
PAUSE = 0.25
#: the most the run may add to the process's peak memory (it needs about 100 MB: a batch of 100k
#: rows as dicts, its Arrow form and the writer's queue)
BOUND_MB = 200


def test_a_slow_destination_takes_the_rows_with_flat_memory(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "tests.integration.backpressure_run", str(ROWS), str(PAUSE), str(tmp_path)],
        env=env_with_path(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["rows_loaded"] == ROWS
    assert result["table_rows"] == {"rows": ROWS}
    assert result["batches"] >= ROWS // backpressure_run.BATCH  # the destination read batch by batch
    # held anywhere at once, the rows would take many times the bound as dicts (and twice it as the
    # Arrow tables the destination reads): memory that grew with the data would break it
    row = next(backpressure_run.rows(1))
    as_dicts_mb = ROWS * (sys.getsizeof(row) + sum(sys.getsizeof(v) for v in row.values())) / 2**20
    assert as_dicts_mb > 2.5 * BOUND_MB
    assert result["growth_mb"] < BOUND_MB, result


def test_a_slow_consumer_holds_the_producer_back(tmp_path: Path, make_pipeline: Any) -> None:
    """Two resources run concurrently through the channel; the consuming thread is slow. The producer
    never gets further ahead of it than the channel holds (counted, not timed)."""
    total = 40_000
    counts = {"produced": 0, "consumed": 0, "ahead": 0}

    def table(row: dict[str, Any]) -> str:  # called for each row, in the consuming thread
        counts["consumed"] += 1
        if counts["consumed"] % 64 == 0:
            time.sleep(0.001)  # a slow stage: about 64k rows a second at most
        return "rows"

    @hw.resource(table_name=table)
    def fast() -> Any:
        for i in range(total):
            counts["ahead"] = max(counts["ahead"], counts["produced"] - counts["consumed"])
            counts["produced"] += 1
            yield {"id": i}

    @hw.resource(table_name="other")
    def other() -> Any:
        yield {"id": -1}

    make_pipeline("backpressure").extract([fast, other])
    assert counts["produced"] == counts["consumed"] == total
    # the chunk being filled, the chunks in the queue, and the chunk the consumer holds; and the queue
    # did fill up: the producer was held back, not merely as slow as the consumer
    assert QUEUE_SIZE * CHUNK <= counts["ahead"] <= (QUEUE_SIZE + 2) * CHUNK, counts


def test_an_async_root_held_back_leaves_its_event_loop_running(make_pipeline: Any) -> None:
    """An async root that finds the queue full waits without blocking the loop: another root on the same
    loop (as the other requests in flight of a REST source) goes on. Here the consumer is stuck until that
    other root runs while the first is held back; had the held root blocked the loop, it never would."""
    pages = QUEUE_SIZE + 8
    counts = {"produced": 0}
    release = threading.Event()
    released: list[bool] = []

    def table(row: dict[str, Any]) -> str:  # the consuming thread: stuck on the first row until released
        if not released:
            released.append(release.wait(timeout=60))
        return "pages"

    @hw.resource(table_name=table)
    async def held() -> Any:
        for i in range(pages):
            counts["produced"] += 1
            yield [{"id": i}]  # a page: one chunk each

    @hw.resource(table_name="other")
    async def other() -> Any:
        while counts["produced"] < QUEUE_SIZE + 2:  # the queue is full and ``held`` has a page it cannot send
            await asyncio.sleep(0)
        release.set()
        yield {"id": -1}

    make_pipeline("loop_free").extract([held, other])
    assert released == [True]
    assert counts["produced"] == pages
