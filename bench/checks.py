"""What five data-quality checks cost on 1,000,000 rows: Headwater with and without them, and dlt.

    .venv/bin/python -m bench.checks                 # flat dicts and Arrow, best of 3
    .venv/bin/python -m bench.checks --cases arrow --repeat 5 --scale 0.1

The five checks (docs/quality.md): ``not_null("id")``, ``between("score", min=0)``,
``accepted_values("category", [0..6])``, ``matches("name", r"^user_\\d+$")`` (four row checks, on every
batch, vectorized) and ``unique("id")`` (a table check in DuckDB, inside the load transaction, over the
whole table after the load). Data: the flat shape of bench.data (20 columns), as dicts and as Arrow
tables, into a fresh DuckDB file per run. dlt (no checks: it has none built in) runs the same data as
the reference of bench.run. The three runs alternate; the fastest of ``--repeat`` counts. Every run's
row count is checked, and the checks' results too (all pass on this data).
"""

from __future__ import annotations

import argparse
import gc
import shutil
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from bench.data import arrow_tables, flat_rows
from bench.run import run_dlt

TABLE = "rows"


def five_checks() -> list[Any]:
    import headwater as hw

    return [
        hw.checks.not_null("id"),
        hw.checks.between("score", min=0),
        hw.checks.accepted_values("category", list(range(7))),
        hw.checks.matches("name", r"^user_\d+$"),
        hw.checks.unique("id"),
    ]


def run_headwater(workdir: Path, name: str, data: Any, checks: list[Any] | None) -> int:
    import headwater as hw

    p = hw.pipeline(
        name,
        destination=hw.destinations.duckdb(str(workdir / f"hw_{name}.duckdb")),
        dataset="bench",
        pipelines_dir=workdir / "hw_pipelines",
        progress=False,
    )
    info = p.run(hw.resource(data, name=TABLE, checks=checks or None))
    if checks:
        assert len(info.checks) == len(checks), info.checks
        assert all(c.passed for c in info.checks), [str(c) for c in info.checks if not c.passed]
    return info.table_rows()[TABLE]


def timed(fn: Callable[[], int], rows: int) -> float:
    gc.collect()
    start = time.perf_counter()
    got = fn()
    seconds = time.perf_counter() - start
    assert got == rows, f"loaded {got} rows, expected {rows}"
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="flat,arrow")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()
    rows = int(1_000_000 * args.scale)
    warm = Path(tempfile.mkdtemp(prefix="headwater-checks-warm-"))  # imports and first connections: untimed
    run_headwater(warm, "warm_p", flat_rows(1000), None)
    run_headwater(warm, "warm_c", flat_rows(1000), five_checks())
    run_dlt(warm, "warm_d", flat_rows(1000), TABLE)
    shutil.rmtree(warm, ignore_errors=True)
    heads = ("rows", "headwater", "+5 checks", "overhead", "dlt", "dlt/hw+checks")
    print(f"{'case':<6} " + " ".join(f"{h:>{w}}" for h, w in zip(heads, (10, 10, 10, 9, 8, 14), strict=True)))
    for case in args.cases.split(","):
        data = flat_rows(rows) if case == "flat" else arrow_tables(rows)
        best = {"plain": float("inf"), "checks": float("inf"), "dlt": float("inf")}
        for i in range(args.repeat):
            folder = Path(tempfile.mkdtemp(prefix="headwater-checks-"))
            runs: dict[str, Callable[[], int]] = {
                "plain": partial(run_headwater, folder, f"p{i}", data, None),
                "checks": partial(run_headwater, folder, f"c{i}", data, five_checks()),
                "dlt": partial(run_dlt, folder, f"d{i}", data, TABLE),
            }
            try:
                for key, run in runs.items():
                    best[key] = min(best[key], timed(run, rows))
            finally:
                shutil.rmtree(folder, ignore_errors=True)
        overhead = best["checks"] / best["plain"] - 1
        print(
            f"{case:<6} {rows:>10,} {best['plain']:>9.2f}s {best['checks']:>9.2f}s {overhead:>8.1%} "
            f"{best['dlt']:>7.2f}s {best['dlt'] / best['checks']:>13.1f}x"
        )


if __name__ == "__main__":
    main()
