"""The floor of the files case: DuckDB alone reading the bench's files into a table of a DuckDB file.

    .venv/bin/python -m bench.files_floor [--rows 1000000]

No tool can load these files into DuckDB faster than DuckDB reads them itself: this times
``CREATE TABLE t AS SELECT *, uuid(), '<load id>' FROM read_csv(...)`` (and ``read_parquet``), then
``CHECKPOINT``, into a fresh file, with Headwater's loader settings and with DuckDB's defaults. Divide
dlt's time in ``bench.run --cases files`` by these to get the largest ratio any tool could reach.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb

from bench.data import write_files


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        csv_path, parquet_path = write_files(folder, args.rows)
        for label, reader in (("csv", f"read_csv('{csv_path}')"), ("parquet", f"read_parquet('{parquet_path}')")):
            configs: list[tuple[str, dict[str, Any]]] = [
                ("headwater's", {"memory_limit": "128MB", "preserve_insertion_order": "false"}),
                ("defaults", {}),
            ]
            for settings, config in configs:
                best = float("inf")
                for attempt in range(2):
                    target = folder / f"floor_{label}_{settings[:4]}_{attempt}.duckdb"
                    con = duckdb.connect(str(target), config=config)
                    started = time.perf_counter()
                    con.execute(f"CREATE TABLE t AS SELECT *, uuid() AS _id, 'load' AS _load FROM {reader}")
                    con.execute("CHECKPOINT")
                    best = min(best, time.perf_counter() - started)
                    con.close()
                print(f"{label:8} {settings:12} {best:.2f} s")


if __name__ == "__main__":
    main()
