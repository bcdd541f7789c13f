"""The floor of the files case: DuckDB alone reading the bench's files into a table of a DuckDB file.

    .venv/bin/python -m bench.files_floor [--rows 1000000] [--design]

No tool can load these files into DuckDB faster than DuckDB reads them itself: this times
``CREATE TABLE t AS SELECT *, uuid(), '<load id>' FROM read_csv(...)`` (and ``read_parquet``), then
``CHECKPOINT``, into a fresh file, with Headwater's loader settings and with DuckDB's defaults. Divide
dlt's time in ``bench.run --cases files`` by these to get the largest ratio any tool could reach.

``--design`` also times the floor of Headwater's design, which reads a file, writes the rows into a
crash-safe package, then loads the package: the three steps alone, each as Headwater does it and with
nothing else (no ids, no normalizing, no checksums, no state): pyarrow reading the file in the source's
blocks, the batches written to one LZ4 Arrow IPC file (the package's format), and DuckDB inserting
that file into a new table (Headwater's settings, then ``CHECKPOINT``). No tool of that design can
load these files faster than the sum.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb

from bench.data import write_files


def read_batches(path: Path, label: str) -> list[Any]:
    """The file's record batches as the filesystem source reads them (its block and batch sizes)."""
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    from headwater.sources.filesystem.formats import CSV_BLOCK_SIZE

    if label == "csv":
        reader = pcsv.open_csv(str(path), read_options=pcsv.ReadOptions(block_size=CSV_BLOCK_SIZE))
        return list(reader)
    return list(pq.ParquetFile(str(path)).iter_batches(batch_size=100_000))


def design_floor(folder: Path, path: Path, label: str) -> None:
    """Read, write the package file, load it: each step's best of two, and their sum."""
    import pyarrow as pa
    import pyarrow.ipc as ipc

    best = {"read": float("inf"), "package": float("inf"), "load": float("inf")}
    for attempt in range(2):
        started = time.perf_counter()
        batches = read_batches(path, label)
        best["read"] = min(best["read"], time.perf_counter() - started)
        package = folder / f"package_{label}_{attempt}.arrow"
        started = time.perf_counter()
        with ipc.new_file(str(package), batches[0].schema, options=ipc.IpcWriteOptions(compression="lz4")) as out:
            for batch in batches:
                out.write_batch(batch)
        best["package"] = min(best["package"], time.perf_counter() - started)
        del batches
        con = duckdb.connect(str(folder / f"design_{label}_{attempt}.duckdb"), config=HEADWATERS)
        started = time.perf_counter()
        source = ipc.open_file(str(package))
        reader = pa.RecordBatchReader.from_batches(
            source.schema, (source.get_batch(i) for i in range(source.num_record_batches))
        )
        con.register("package", reader)
        con.execute("CREATE TABLE t AS SELECT * FROM package")
        con.execute("CHECKPOINT")
        best["load"] = min(best["load"], time.perf_counter() - started)
        con.close()
    parts = ", ".join(f"{k} {v:.2f} s" for k, v in best.items())
    print(f"{label:8} design floor {sum(best.values()):.2f} s ({parts})")


HEADWATERS: dict[str, Any] = {"memory_limit": "128MB", "preserve_insertion_order": "false"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--design", action="store_true", help="also time the read-package-load floor")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        csv_path, parquet_path = write_files(folder, args.rows)
        if args.design:
            for label, path in (("csv", csv_path), ("parquet", parquet_path)):
                design_floor(folder, path, label)
        for label, reader in (("csv", f"read_csv('{csv_path}')"), ("parquet", f"read_parquet('{parquet_path}')")):
            configs: list[tuple[str, dict[str, Any]]] = [
                ("headwater's", HEADWATERS),
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
