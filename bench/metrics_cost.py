"""What collecting metrics costs: Headwater's flat and nested cases run in one process with metrics
collected and without, alternating, many rounds.

    .venv/bin/python -m bench.metrics_cost                       # flat 200k rows, nested 40k docs, 9 rounds
    .venv/bin/python -m bench.metrics_cost --scale 0.5 --rounds 15

Three modes, each round running all three in a rotating order (so drift and a warm cache favour none):

* ``off``: nothing collected: the run's :class:`~headwater.observe.metrics.RunMetrics` is never made
  current, so the sources, the engine, the normalizer and the loader find no metrics (every counting
  call is skipped) and no run record is kept. This is Headwater without issue 15.
* ``collect``: the metrics are collected as in a real run, but no record is kept.
* ``full``: a real run: collected, the record written to ``runs/`` and the ``_hw_runs`` row loaded.

Bench-only switches (``headwater.pipelines.runs.collecting`` and ``keep`` replaced for the ``off`` and
``collect`` runs); Headwater itself has no way to turn collecting off. The report gives the median and
the best time of each mode and their ratio to ``off``; the median of the per-round differences is the
least noisy figure on a busy machine.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.data import event_docs, flat_rows
from bench.run import run_headwater

MODES = ("off", "collect", "full")


@contextlib.contextmanager
def mode(name: str) -> Iterator[None]:
    """Run the block with collecting ``off``, or without keeping the record (``collect``), or as is."""
    from headwater.pipelines import runs

    saved = runs.collecting, runs.keep
    if name == "off":
        runs.collecting = lambda figures: contextlib.nullcontext(figures)  # type: ignore[assignment]  # bench switch
    if name in ("off", "collect"):
        runs.keep = lambda *args, **kwargs: None  # type: ignore[assignment]  # bench switch: no record kept
    try:
        yield
    finally:
        runs.collecting, runs.keep = saved


def rounds(case: str, data: Any, table: str, n: int, workdir: Path) -> dict[str, dict[str, list[float]]]:
    """``n`` rounds of the three modes on ``data``; per clock (``wall``, ``cpu``: the process's CPU time,
    every thread's) the seconds of each run per mode."""
    times: dict[str, dict[str, list[float]]] = {c: {m: [] for m in MODES} for c in ("wall", "cpu")}
    expected = len(data)
    for i in range(n):
        order = MODES[i % 3 :] + MODES[: i % 3]
        for m in order:
            name = f"{case}_{m}_{i}"
            gc.collect()
            with mode(m):
                started, cpu = time.perf_counter(), time.process_time()
                rows = run_headwater(workdir, name, data, table)
                times["wall"][m].append(time.perf_counter() - started)
                times["cpu"][m].append(time.process_time() - cpu)
            assert rows == expected, f"{name}: {rows} rows, expected {expected}"
            (workdir / f"hw_{name}.duckdb").unlink(missing_ok=True)
            shutil.rmtree(workdir / "hw_pipelines", ignore_errors=True)
    return times


@contextlib.contextmanager
def timed_metrics() -> Iterator[dict[str, float]]:
    """Inside the block, every method of the metrics classes (and the resource scope the engine enters)
    adds its own time to ``spent["collect"]``, and keeping the record (``runs.keep``: the JSON file and
    the ``_hw_runs`` row) to ``spent["keep"]``: the direct cost, an upper bound (the timer's own cost
    is in it), free of the run-to-run noise of whole runs."""
    from headwater.observe import metrics, scope
    from headwater.pipelines import runs

    spent = {"collect": 0.0, "keep": 0.0, "calls": 0.0}
    saved: list[tuple[Any, str, Any]] = []

    def wrap(owner: Any, attr: str, key: str) -> None:
        fn = owner.__dict__[attr]

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[key] += time.perf_counter() - started
                spent["calls"] += 1

        saved.append((owner, attr, fn))
        setattr(owner, attr, timed)

    for cls in (metrics.RunMetrics, metrics.ResourceMetrics, metrics.TableMetrics):
        for attr, value in list(cls.__dict__.items()):
            if callable(value) and not attr.startswith("__") and attr != "to_dict":
                wrap(cls, attr, "collect")
    wrap(scope.resource_scope, "__enter__", "collect")
    wrap(scope.resource_scope, "__exit__", "collect")
    saved.append((runs, "keep", runs.keep))
    keep = runs.keep

    def timed_keep(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return keep(*args, **kwargs)
        finally:
            spent["keep"] += time.perf_counter() - started

    runs.keep = timed_keep  # type: ignore[assignment]  # bench instrumentation
    try:
        yield spent
    finally:
        for owner, attr, fn in reversed(saved):
            setattr(owner, attr, fn)


def direct(case: str, data: Any, table: str, workdir: Path, reference: float) -> str:
    """The time spent inside the metrics code and keeping the record, over one real run, against
    ``reference`` (the median run without metrics)."""
    with timed_metrics() as spent:
        run_headwater(workdir, f"{case}_direct", data, table)
    return (
        f"{case}, direct: {int(spent['calls'])} calls into the metrics, {spent['collect'] * 1000:.2f} ms "
        f"({spent['collect'] / reference:.3%} of a {reference:.2f} s run); keeping the record "
        f"{spent['keep'] * 1000:.1f} ms ({spent['keep'] / reference:.2%})"
    )


def report(case: str, clocks: dict[str, dict[str, list[float]]]) -> str:
    lines = []
    for clock, times in clocks.items():
        off = times["off"]
        header = f"{'mode':<8} {'median s':>9} {'best s':>8} {'median/off':>11} {'best/off':>9} {'paired':>8}"
        lines += [f"\n{case}, {clock} time ({len(off)} rounds)", header]
        for m in MODES:
            t = times[m]
            paired = statistics.median(a / b for a, b in zip(t, off, strict=True))
            lines.append(
                f"{m:<8} {statistics.median(t):9.3f} {min(t):8.3f} "
                f"{statistics.median(t) / statistics.median(off):11.3f} {min(t) / min(off):9.3f} {paired:8.3f}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--scale", type=float, default=0.2, help="flat: 1,000,000 x scale rows; nested: 200,000 x")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--cases", default="flat,nested")
    args = parser.parse_args(argv)
    cases: dict[str, Callable[[], Any]] = {
        "flat": lambda: flat_rows(int(1_000_000 * args.scale)),
        "nested": lambda: event_docs(int(200_000 * args.scale)),
    }
    out = []
    with tempfile.TemporaryDirectory(prefix="hw-metrics-cost-") as tmp:
        workdir = Path(tmp)
        run_headwater(workdir, "warm", [{"id": 1}], "warm")  # imports and first-run costs out of the way
        for case in args.cases.split(","):
            data = cases[case]()
            clocks = rounds(case, data, case, args.rounds, workdir)
            out.append(report(case, clocks))
            out.append(direct(case, data, case, workdir, statistics.median(clocks["wall"]["off"])))
            print(out[-2], out[-1], sep="\n", flush=True)
    print("\n".join(["", "== summary", *out]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
