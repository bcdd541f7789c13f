"""Headwater alone on the flat and nested bench data, best of three, to compare two checkouts.

    .venv/bin/python -m bench.hot_path /path/to/checkout flat     # 1,000,000 flat rows -> DuckDB
    .venv/bin/python -m bench.hot_path /path/to/checkout nested   # 200,000 nested documents -> DuckDB
    .venv/bin/python -m bench.hot_path /path/to/checkout flat --no-numpy   # numpy refused, as in a core install

The data is built once, before timing; the checkout's ``headwater`` is imported (``git worktree add
/tmp/old <commit>`` gives an older one), so two runs compare two versions on one machine.
"""

from __future__ import annotations

import gc
import sys
import tempfile
import time
from pathlib import Path


class _RefuseNumpy:
    """A meta-path finder refusing numpy: the process behaves as if it were not installed."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name == "numpy" or name.startswith("numpy."):
            raise ModuleNotFoundError("numpy refused (--no-numpy)", name=name)


def main() -> None:
    checkout, case = sys.argv[1], sys.argv[2]
    if "--no-numpy" in sys.argv[3:]:
        sys.meta_path.insert(0, _RefuseNumpy())
    sys.path.insert(0, checkout)
    from bench.data import event_docs, flat_rows
    from bench.run import run_headwater

    data = flat_rows(1_000_000) if case == "flat" else event_docs(200_000)
    best = float("inf")
    for i in range(3):
        folder = Path(tempfile.mkdtemp(prefix="headwater-hot-"))
        gc.collect()
        start = time.perf_counter()
        run_headwater(folder, f"hot{i}", data, "t")
        best = min(best, time.perf_counter() - start)
    refused = " (numpy refused)" if "--no-numpy" in sys.argv[3:] else ""
    print(f"{case} {checkout}{refused}: {best:.2f} s (best of 3)")


if __name__ == "__main__":
    main()
