"""A partitioned PostgreSQL table into DuckDB on 1 and 2 worker processes (issue 16's scale bench).

    .venv/bin/python -m bench.scale_pg                  # 1,000,000 rows of 20 columns, best of 3
    .venv/bin/python -m bench.scale_pg --scale 0.2 --repeat 2

The table is bench.data's SQL shape (20 columns: integers, doubles, numerics, text, timestamps,
booleans) in a throwaway PostgreSQL server (tests/pgserver.py), read by the sql_database source as 8
key ranges of ``id`` (``partition=``), each range a partition of the resource, run with
``executor=hw.executors.processes(workers=N)`` for N = 1 and 2, and with the default threads executor
(2 threads) for reference. Every run loads a fresh DuckDB file and its row count is checked. The report
gives seconds (best of ``--repeat``, the runs alternating), rows/s, and the speed-up of 2 workers over 1.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import data as bench_data

SCHEMA, TABLE, RANGES = "bench", "rows", 8


def run(url: str, workdir: Path, name: str, executor: Any) -> tuple[float, int]:
    import headwater as hw

    source = hw.sources.sql_database(
        url, schema=SCHEMA, tables=[TABLE], partition={TABLE: {"column": "id", "partitions": RANGES}}
    )
    p = hw.pipeline(
        name,
        destination=hw.destinations.duckdb(str(workdir / f"{name}.duckdb")),
        dataset="bench",
        pipelines_dir=workdir / "pipelines",
        progress=False,
        executor=executor,
    )
    started = time.perf_counter()
    rows = p.run(source).table_rows()[TABLE]
    return time.perf_counter() - started, rows


def main(argv: list[str] | None = None) -> int:
    import headwater as hw
    from tests.pgserver import PgServer, pg_query

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--scale", type=float, default=1.0, help="1,000,000 x scale rows")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    n = int(1_000_000 * args.scale)
    setups: dict[str, Any] = {
        "threads (2)": hw.executors.threads(workers=2),
        "processes, 1 worker": hw.executors.processes(workers=1),
        "processes, 2 workers": hw.executors.processes(workers=2),
    }
    best: dict[str, float] = {}
    server = PgServer.start()
    try:
        for statement in bench_data.pg_table_sql(SCHEMA, TABLE, n):
            pg_query(server.url, statement)
        with tempfile.TemporaryDirectory(prefix="hw-scale-pg-") as tmp:
            workdir = Path(tmp)
            run(server.url, workdir, "warmup", hw.executors.processes(workers=2))  # imports, first connections
            for i in range(args.repeat):
                for label, executor in setups.items():
                    seconds, rows = run(server.url, workdir, f"r{i}_{len(best)}_{abs(hash(label))}", executor)
                    assert rows == n, f"{label}: {rows} rows, expected {n}"
                    best[label] = min(best.get(label, seconds), seconds)
                    print(f"round {i + 1}: {label}: {seconds:.2f} s", flush=True)
    finally:
        server.stop()
    print(f"\n{n:,} rows of 20 columns, {RANGES} key ranges, best of {args.repeat}")
    print(f"{'executor':<22} {'seconds':>8} {'rows/s':>10}")
    for label, seconds in best.items():
        print(f"{label:<22} {seconds:8.2f} {n / seconds:10,.0f}")
    one, two = best["processes, 1 worker"], best["processes, 2 workers"]
    print(f"\nspeed-up of 2 workers over 1: {one / two:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
