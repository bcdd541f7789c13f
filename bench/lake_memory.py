"""Peak memory of loads into each destination as the load grows (Headwater only; no dlt case).

    .venv/bin/python -m bench.lake_memory                     # duckdb, files, iceberg, delta at 1M and 6M rows
    .venv/bin/python -m bench.lake_memory --kinds iceberg --rows 1000000,3000000,6000000

Each load runs in a fresh process (a generator of 100,000-row Arrow tables: bigint, double, text,
bool) into a fresh destination under a temporary folder; the figure is the kernel's high-water mark
(VmHWM) minus the resident size after imports. Flat is the goal: the peak should not grow with rows.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile

SCRIPT = r"""
import sys
import numpy as np
import pyarrow as pa
import headwater as hw
import headwater.destinations.delta, headwater.destinations.iceberg  # imports before the baseline

kind, n, folder = sys.argv[1], int(sys.argv[2]), sys.argv[3]

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) // 1024

@hw.resource(name="rows")
def rows():
    for start in range(0, n, 100_000):
        ids = np.arange(start, min(n, start + 100_000))
        yield pa.table({"id": ids, "a": ids * 2.5, "s": pa.array([f"text {i % 977}" for i in ids]), "b": ids % 3 == 0})

destination = {
    "duckdb": lambda: hw.destinations.duckdb(f"{folder}/x.duckdb"),
    "files": lambda: hw.destinations.filesystem(f"{folder}/files"),
    "iceberg": lambda: hw.destinations.iceberg(f"{folder}/warehouse"),
    "delta": lambda: hw.destinations.delta(f"{folder}/lake"),
}[kind]()
base = status("VmRSS")
hw.pipeline("m", destination=destination, dataset="raw", pipelines_dir=f"{folder}/p", progress=False).run(rows())
print(status("VmHWM") - base)
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kinds", default="duckdb,files,iceberg,delta")
    parser.add_argument("--rows", default="1000000,6000000")
    args = parser.parse_args()
    sizes = [int(n) for n in args.rows.split(",")]
    print("| destination | " + " | ".join(f"{n:,} rows" for n in sizes) + " |")
    print("|---|" + "---:|" * len(sizes))
    for kind in args.kinds.split(","):
        cells = []
        for n in sizes:
            with tempfile.TemporaryDirectory() as folder:
                out = subprocess.run(
                    [sys.executable, "-c", SCRIPT, kind, str(n), folder], capture_output=True, text=True, check=True
                )
                cells.append(f"+{out.stdout.strip().splitlines()[-1]} MB")
        print(f"| {kind} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
