"""Each numpy expression Headwater used against its replacement (Arrow kernels, buffers, the standard library).

    .venv/bin/python -m bench.numpy_free                 # 5,000, 100,000 and 1,000,000 rows
    .venv/bin/python -m bench.numpy_free --sizes 100000 --repeat 21
    .venv/bin/python -m bench.numpy_free --interpreters /tmp/with/bin/python,/tmp/without/bin/python

``--interpreters``: instead, fresh processes of each interpreter (venvs with Headwater installed, one with
numpy and one without) import pyarrow and DuckDB, and run one row into a new DuckDB file; wall time
and peak memory (``ru_maxrss``), medians over the rounds, the interpreters alternating.

The "numpy" side is the code as it was before issue 17's footprint change (copied here: ``NUMPY``); the
"now" side is Headwater's own function. Both run in this process on the same inputs, alternating, and
the best of ``--repeat`` runs counts (this 2-core machine is shared: the best is the least disturbed).
Every pair is checked to give the same values before it is timed. Needs numpy (the bench extra).
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from headwater.destinations.lake.arrow import uuid_text
from headwater.normalize import arrays
from headwater.normalize.flatten import list_positions
from headwater.normalize.ids import constant, row_ids


# -- the numpy code, as it was ---------------------------------------------------------------------
def np_row_ids(n: int) -> pa.Array:
    raw = np.empty((n, 16), dtype=np.uint8)
    prefix = np.frombuffer(os.urandom(8), dtype=np.uint8).copy()
    prefix[6] = (prefix[6] & 0x0F) | 0x80
    raw[:, :8] = prefix
    raw[:, 8:] = np.arange(n, dtype=">u8").view(np.uint8).reshape(n, 8)
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    storage = pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), n, [None, pa.py_buffer(raw)])
    return pa.ExtensionArray.from_storage(pa.uuid(), storage)


def np_constant(value: str, n: int) -> pa.Array:
    indices = pa.Array.from_buffers(pa.int32(), n, [None, pa.py_buffer(np.zeros(n, dtype=np.int32))])
    return pa.DictionaryArray.from_arrays(indices, pa.array([value], pa.string()))


def np_int64_array(values: Any) -> pa.Array:
    data = np.ascontiguousarray(values, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), len(data), [None, pa.py_buffer(data)])


def np_int64_numpy(arr: pa.Array) -> np.ndarray:
    return np.frombuffer(arr.buffers()[1], dtype=np.int64, count=len(arr) + arr.offset)[arr.offset :]


def np_arange(start: int, stop: int) -> pa.Array:
    return np_int64_array(np.arange(start, stop, dtype=np.int64))


def np_list_positions(arr: pa.Array) -> tuple[pa.Array, pa.Array]:
    lengths = pc.fill_null(pc.list_value_length(arr), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    total = int(lengths.sum())
    parent_index = np.repeat(np.arange(len(arr), dtype=np.int64), lengths)
    starts = np.cumsum(lengths) - lengths
    list_idx = np.arange(total, dtype=np.int64) - np.repeat(starts, lengths)
    return pa.array(parent_index), pa.array(list_idx)


def np_gather(root_index: np.ndarray, parent_index: pa.Array) -> pa.Array:
    """A grandchild's root rows, then as Arrow for the ``_hw_root_id`` take."""
    return np_int64_array(root_index[np_int64_numpy(parent_index)])


def np_positions(mask: pa.Array) -> np.ndarray:
    return np.flatnonzero(mask.to_numpy(zero_copy_only=False))


def np_failing_rows(failed: pa.Array, skip: np.ndarray) -> np.ndarray:
    failing = np.asarray(pc.fill_null(failed, False).to_numpy(zero_copy_only=False), dtype=bool)
    failing &= ~skip
    return np.flatnonzero(failing)


def np_skip(roots: np.ndarray, n: int) -> np.ndarray:
    skip = np.zeros(n, dtype=bool)
    skip[roots] = True
    return skip


def np_keep(first: dict[int, Any], n: int, root_index: np.ndarray) -> pa.Array:
    keep = np.ones(n, dtype=bool)
    keep[np.array(list(first), dtype=np.int64)] = False
    return pa.array(keep[root_index])


def np_uuid_text(array: pa.Array) -> pa.Array:
    storage = array.storage if isinstance(array, pa.ExtensionArray) else array
    n = len(storage)
    raw = np.frombuffer(storage.buffers()[1], dtype=np.uint8, count=(storage.offset + n) * 16)[storage.offset * 16 :]
    raw = raw.reshape(n, 16)
    digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    out = np.full((n, 36), ord("-"), dtype=np.uint8)
    positions = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34]
    for i, pos in enumerate(positions):
        out[:, pos] = digits[raw[:, i] >> 4]
        out[:, pos + 1] = digits[raw[:, i] & 15]
    text = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(36), n, [storage.buffers()[0] if storage.null_count else None, pa.py_buffer(out.tobytes())]
    )
    return text.cast(pa.binary()).cast(pa.string())


# -- the cases -------------------------------------------------------------------------------------
def cases(n: int) -> list[tuple[str, str, Callable[[], Any], Callable[[], Any], Callable[[Any, Any], bool]]]:
    """(operation, where, numpy, now, same) for ``n`` rows."""
    rnd = random.Random(n)
    lists = pa.array(
        [None if rnd.random() < 0.05 else list(range(rnd.randint(0, 5))) for _ in range(n)], pa.list_(pa.int64())
    )
    sparse = pa.array([rnd.random() < 0.01 for _ in range(n)], pa.bool_())  # 1% true: nulls, failing rows
    dense = pa.array([rnd.random() < 0.5 for _ in range(n)], pa.bool_())
    failed = pa.array([None if rnd.random() < 0.02 else rnd.random() < 0.03 for _ in range(n)], pa.bool_())
    skip_rows = sorted(rnd.sample(range(n), max(1, n // 100)))
    skip_np = np_skip(np.array(skip_rows, dtype=np.int64), n)
    skip_pa = arrays.mask(arrays.int64s(skip_rows), n)
    first = dict.fromkeys(skip_rows)
    # a grandchild: 3 child rows per root row, 2 grandchild rows per child row
    child_root = np.repeat(np.arange(n, dtype=np.int64), 3)
    grand_parent = np_int64_array(np.repeat(np.arange(3 * n, dtype=np.int64), 2))
    child_root_pa = np_int64_array(child_root)
    ids = row_ids(n)
    ids_with_nulls = pc.if_else(sparse, pa.nulls(n, ids.storage.type), ids.storage)

    def ids_layout(a: pa.Array, b: pa.Array) -> bool:  # fresh random prefixes: compare the counters
        def layout(u: Any) -> tuple[Any, ...]:
            return (u.version, u.variant, u.bytes[8:])

        return [layout(u) for u in a.to_pylist()] == [layout(u) for u in b.to_pylist()]

    def same(a: Any, b: Any) -> bool:
        if isinstance(a, tuple):
            return all(same(x, y) for x, y in zip(a, b, strict=True))
        if isinstance(a, np.ndarray):
            a = pa.array(a.astype(np.int64) if a.dtype != bool else a)
        if isinstance(b, np.ndarray):
            b = pa.array(b.astype(np.int64) if b.dtype != bool else b)
        return a.to_pylist() == b.to_pylist()

    return [
        ("row ids (_hw_id)", "ids.row_ids", lambda: np_row_ids(n), lambda: row_ids(n), ids_layout),
        ("constant column (_hw_load_id)", "ids.constant", lambda: np_constant("l", n), lambda: constant("l", n), same),
        (
            "0..n (root rows, _hw_seq, file row numbers)",
            "arrays.arange",
            lambda: np_arange(0, n),
            lambda: arrays.arange(0, n),
            same,
        ),
        (
            "list positions (Arrow lists -> child rows)",
            "flatten.list_positions",
            lambda: np_list_positions(lists),
            lambda: list_positions(lists),
            same,
        ),
        (
            "grandchild root rows (x6 rows)",
            "arrays.gather",
            lambda: np_gather(child_root, grand_parent),
            lambda: arrays.gather(child_root_pa, grand_parent),
            same,
        ),
        (
            "positions of nulls, 1%",
            "arrays.positions",
            lambda: np_positions(sparse),
            lambda: arrays.positions(sparse),
            same,
        ),
        (
            "positions of nulls, 50%",
            "arrays.positions",
            lambda: np_positions(dense),
            lambda: arrays.positions(dense),
            same,
        ),
        (
            "a check's failing rows, minus skipped",
            "checks._tally",
            lambda: np_failing_rows(failed, skip_np),
            lambda: arrays.positions(pc.and_not(pc.fill_null(failed, False), skip_pa)),
            same,
        ),
        (
            "rows set aside -> skip mask (1%)",
            "normalizer._run_checks",
            lambda: np_skip(np.array(skip_rows, dtype=np.int64), n),
            lambda: arrays.mask(arrays.int64s(skip_rows), n),
            same,
        ),
        (
            "rows to keep, for a child of x3 rows (1% dropped)",
            "normalizer._apply_offenses/_finish",
            lambda: np_keep(first, n, child_root),
            lambda: pc.invert(arrays.mask(arrays.int64s(first), n)).take(child_root_pa),
            same,
        ),
        ("uuids as text (Iceberg, Delta)", "lake.uuid_text", lambda: np_uuid_text(ids), lambda: uuid_text(ids), same),
        (
            "uuids with 1% nulls as text",
            "lake.uuid_text",
            lambda: np_uuid_text(ids_with_nulls),
            lambda: uuid_text(ids_with_nulls),
            same,
        ),
    ]


def best(fn: Callable[[], Any], rounds: list[float], *, numpy: bool = True) -> None:
    """One timed run of ``fn``; ``numpy=False``: as in a process without numpy (arrays' numpy-when-loaded
    steps take their Arrow way)."""
    gc.collect()
    saved = arrays._numpy
    if not numpy:
        arrays._numpy = lambda: None  # type: ignore[assignment]
    try:
        start = time.perf_counter()
        fn()
        rounds.append(time.perf_counter() - start)
    finally:
        arrays._numpy = saved  # type: ignore[assignment]


ONE_ROW = """
import sys, tempfile
import headwater as hw
work = tempfile.mkdtemp()
p = hw.pipeline("one", destination=hw.destinations.duckdb(work + "/one.duckdb"), dataset="d1",
                pipelines_dir=work + "/w", progress=False)
p.run([{"id": 1, "name": "a"}], table_name="t")
print("numpy" in sys.modules)
"""


def processes(interpreters: list[str], rounds: int) -> None:
    import statistics
    import subprocess

    cases = {"import pyarrow, duckdb": "import pyarrow, duckdb", "one-row run, new pipeline": ONE_ROW}
    got: dict[tuple[str, str], list[tuple[float, int]]] = {}
    for _ in range(rounds):
        for case, code in cases.items():
            for python in interpreters:
                start = time.perf_counter()
                child = subprocess.Popen([python, "-c", code], stdout=subprocess.DEVNULL)
                _, status, usage = os.wait4(child.pid, 0)
                if status:
                    raise SystemExit(f"{python} failed on {case!r}")
                got.setdefault((case, python), []).append((time.perf_counter() - start, usage.ru_maxrss))
    print(f"medians of {rounds} rounds (wall time, best in brackets, peak resident memory)")
    print("| case | " + " | ".join(interpreters) + " |")
    print("|---|" + "---:|" * len(interpreters))
    for case in cases:
        cells = []
        for python in interpreters:
            runs = got[(case, python)]
            wall = statistics.median(w for w, _ in runs)
            rss = statistics.median(r for _, r in runs) / 1024
            cells.append(f"{wall:.2f} s ({min(w for w, _ in runs):.2f}), {rss:.0f} MB")
        print(f"| {case} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="5000,100000,1000000", help="row counts, comma-separated")
    parser.add_argument("--repeat", type=int, default=11, help="runs of each side; the best counts")
    parser.add_argument("--interpreters", help="Python executables, comma-separated: time fresh processes instead")
    parser.add_argument("--rounds", type=int, default=9, help="rounds of fresh processes (--interpreters)")
    args = parser.parse_args()
    if args.interpreters:
        processes(args.interpreters.split(","), args.rounds)
        return
    print(f"pyarrow {pa.__version__}, numpy {np.__version__}; best of {args.repeat}, ms")
    print("| operation | where | rows | numpy before | now | now / before | now without numpy | without / before |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for n in (int(s) for s in args.sizes.split(",")):
        for name, where, old, new, same in cases(n):
            arrow: list[Any] = []
            best(lambda new=new: arrow.append(new()), [], numpy=False)  # noqa: B023
            if not (same(old(), new()) and same(old(), arrow[0])):
                raise SystemExit(f"{name}: different values at {n} rows")
            times: tuple[list[float], list[float], list[float]] = ([], [], [])
            for _ in range(args.repeat):
                best(old, times[0])
                best(new, times[1])
                best(new, times[2], numpy=False)
            o, w, a = (min(t) * 1e3 for t in times)
            print(
                f"| {name} | `{where}` | {n:,} | {o:.3f} | {w:.3f} | {w / o:.2f} | {a:.3f} | {a / o:.2f} |", flush=True
            )


if __name__ == "__main__":
    main()
