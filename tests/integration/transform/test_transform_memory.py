"""A group-by over 5M rows runs staged on disk in bounded memory: the peak RSS of a run over 5M rows
stays close to that of a run over 100k rows, far below the size of the data, with DuckDB's
memory_limit for the staging database set to 128MB."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import env_with_path

SCRIPT = r"""
import json, os, resource, sys, time

import numpy as np
import pyarrow as pa

import headwater as hw

out, n = sys.argv[1], int(sys.argv[2])
size = 0

def flights():
    global size
    for start in range(0, n, 100_000):
        ids = np.arange(start, min(start + 100_000, n))
        batch = pa.table({
            "id": ids,
            "carrier": pa.array((ids % 97).astype(str)),
            "dep_delay": (ids % 61).astype("float64"),
            "note": pa.array(np.char.add("a flight with a long enough description, number ", ids.astype(str))),
        })
        size += batch.nbytes
        yield batch

query = "select carrier, count(*) as flights, sum(dep_delay) as total from records group by carrier"
started = time.perf_counter()
pipeline = hw.pipeline(
    "big", destination=hw.destinations.duckdb(os.path.join(out, "big.duckdb")),
    pipelines_dir=os.path.join(out, "p"), progress=False,
)
pipeline.run(hw.resource(flights, name="per_carrier", transform={"query": query, "memory_limit": "128MB"}))
seconds = time.perf_counter() - started
totals = pipeline.query(
    "select count(*) as carriers, sum(flights)::bigint as flights, sum(total)::double as total from per_carrier"
)
print(json.dumps({
    "seconds": seconds,
    "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "data_mb": size / 2**20,
    **totals.to_pylist()[0],
}))
"""


def _run(tmp_path: Path, rows: int) -> dict[str, float]:
    import json

    out = tmp_path / str(rows)
    out.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(out), str(rows)],
        env=env_with_path(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_a_group_by_over_5m_rows_is_staged_in_bounded_memory(tmp_path: Path) -> None:
    small = _run(tmp_path, 100_000)
    big = _run(tmp_path, 5_000_000)
    print(f"100k rows: {small}\n5M rows: {big}")
    assert big["flights"] == 5_000_000 and big["carriers"] == 97
    assert big["total"] == sum(i % 61 for i in range(5_000_000))
    assert big["data_mb"] > 350  # what holding the data in memory would take, before normalization
    growth = big["peak_mb"] - small["peak_mb"]
    assert growth < 250, f"peak RSS grew by {growth:.0f} MB from 100k to 5M rows"
    assert growth < big["data_mb"] / 2
