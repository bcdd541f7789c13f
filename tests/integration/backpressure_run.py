"""One run of many flat rows into a deliberately slow destination, in a process of its own, printing
the peak memory it took (``python -m tests.integration.backpressure_run ROWS SLEEP FOLDER``).

The peak is the process's high-water mark (``ru_maxrss``), read once everything is imported and a
small run has warmed up the code paths, then again after the big run: its growth is what the run
itself needed. The destination is a loader (``load(records)``) that reads the package a batch at a
time and sleeps after each batch, so that it takes rows much more slowly than the source makes them.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import headwater as hw
from headwater.destinations.loader import LoaderDestination

#: rows per batch the destination reads, and sleeps after
BATCH = 65_536


def rows(n: int) -> Iterator[dict[str, Any]]:
    """``n`` flat rows, made one by one (nothing of them exists before the run asks)."""
    for i in range(n):
        yield {"id": i, "name": f"customer {i}", "amount": i * 0.25, "active": i % 3 == 0, "region": "north"}


class SlowLoader:
    """A destination that sleeps ``pause`` seconds after each batch of :data:`BATCH` rows it reads."""

    def __init__(self, pause: float) -> None:
        self.pause = pause
        self.rows = 0
        self.batches = 0
        self.seconds = 0.0

    def load(self, records: Any) -> None:
        started = time.perf_counter()
        read = getattr(records, "to_arrow_reader", None) or records.fetch_record_batch  # older DuckDB
        for batch in read(BATCH):
            self.rows += batch.num_rows
            self.batches += 1
            time.sleep(self.pause)
        self.seconds += time.perf_counter() - started


def peak_mb() -> float:
    """The process's peak resident memory so far, in MB (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(n: int, pause: float, folder: Path) -> dict[str, Any]:
    warm = SlowLoader(0.0)
    hw.pipeline("warm", destination=LoaderDestination(warm), pipelines_dir=folder, progress=False).run(
        rows(10_000), table_name="rows"
    )
    before = peak_mb()
    slow = SlowLoader(pause)
    pipeline = hw.pipeline("slow", destination=LoaderDestination(slow), pipelines_dir=folder, progress=False)
    started = time.perf_counter()
    info = pipeline.run(rows(n), table_name="rows")
    total = time.perf_counter() - started
    return {
        "rows_loaded": slow.rows,
        "table_rows": dict(info.table_rows()),
        "batches": slow.batches,
        "load_seconds": round(slow.seconds, 2),
        "extract_seconds": round(total - slow.seconds, 2),
        "before_mb": round(before, 1),
        "growth_mb": round(peak_mb() - before, 1),
    }


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]), float(sys.argv[2]), Path(sys.argv[3]))))
