"""Singer: 1,000,000 RECORD messages into DuckDB through Headwater and through target-duckdb.

    .venv/bin/python -m bench.singer                   # full scale, best of 3
    .venv/bin/python -m bench.singer --scale 0.1 --repeat 1

The messages (one stream, a key, a nested object, a list of two tags; a STATE every 10,000 records)
are written once to a file, then loaded into a fresh DuckDB file per run by:

- ``hw target``: ``python -m headwater singer-target`` reading the file on stdin (a process, as an
  orchestrator runs it);
- ``hw source``: ``hw.sources.singer`` running a ``cat``-like tap (the file on its stdout);
- ``target-duckdb``: ``target-duckdb==0.8.0`` (installed in an environment of its own, like any
  connector), reading the same file on stdin; the reference. It does not pin duckdb (2.0.1 gets
  installed), whose CSV sniffer takes the first row of each of its 100,000-row CSV batches for a
  header: it loses one record per batch, which the row check allows for.

Then Headwater's overhead over a tap: ``tap-jsonl==0.3.1`` on a JSON-lines file of the same records,
alone (``> /dev/null``) and through ``hw.sources.singer`` into DuckDB. Every run's row count is checked.
The fastest of ``--repeat`` counts.

Results, what made them and where the time goes: docs/benchmarks.md, "Singer".
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

TARGET_DUCKDB = "target-duckdb==0.8.0"
TAP_JSONL = "tap-jsonl==0.3.1"


def write_messages(path: Path, records: Path, n: int) -> None:
    """``n`` Singer RECORD messages in ``path`` (and the bare records in ``records``, for tap-jsonl)."""
    schema = {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "score": {"type": "number"},
            "address": {"type": "object", "properties": {"city": {"type": "string"}, "zip": {"type": "string"}}},
            "tags": {"type": "array", "items": {"type": "string"}},
            "updated_at": {"type": "string", "format": "date-time"},
        },
    }
    with open(path, "w") as out, open(records, "w") as bare:
        out.write(json.dumps({"type": "SCHEMA", "stream": "users", "schema": schema, "key_properties": ["id"]}) + "\n")
        for i in range(n):
            rec = {
                "id": i + 1,
                "name": f"user_{i}",
                "score": i * 0.5,
                "address": {"city": f"city{i % 100}", "zip": f"{i % 99999:05d}"},
                "tags": ["a", f"t{i % 7}"],
                "updated_at": f"2026-01-01T00:00:{i % 60:02d}Z",
            }
            line = json.dumps(rec)
            bare.write(line + "\n")
            out.write('{"type":"RECORD","stream":"users","record":' + line + "}\n")
            if (i + 1) % 10_000 == 0:
                out.write(json.dumps({"type": "STATE", "value": {"users": i}}) + "\n")


def count(db: Path, sql: str) -> int:
    with duckdb.connect(str(db), read_only=True) as con:
        return int(con.execute(sql).fetchall()[0][0])


def env() -> dict[str, str]:
    root = str(Path(__file__).resolve().parents[1])
    return {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}


def hw_target(messages: Path, work: Path) -> int:
    db = work / "target.duckdb"
    command = [sys.executable, "-m", "headwater", "singer-target", "--destination", f"duckdb:///{db}"]
    command += ["--dataset", "bench", "--pipelines-dir", str(work / "p")]
    with open(messages, "rb") as stdin:
        subprocess.run(command, stdin=stdin, stdout=subprocess.DEVNULL, env=env(), check=True)
    return count(db, "select count(*) from bench.users")


def hw_source(messages: Path, work: Path) -> int:
    import headwater as hw

    tap = work / "tap-cat"
    tap.write_text(f"#!/bin/sh\nexec cat {messages}\n")
    tap.chmod(0o755)
    p = hw.pipeline(
        "bench", destination=hw.destinations.duckdb(str(work / "source.duckdb")), dataset="bench",
        pipelines_dir=work / "p", progress=False,
    )  # fmt: skip
    return p.run(hw.sources.singer(str(tap), discover=False)).table_rows()["users"]


def target_duckdb(messages: Path, work: Path) -> int:
    from headwater.sources.connector.env import resolve

    db = work / "reference.duckdb"
    config = work / "target.json"
    config.write_text(json.dumps({"path": str(db), "default_target_schema": "bench"}))
    (exe,) = resolve(TARGET_DUCKDB, what="target-duckdb").argv
    with open(messages, "rb") as stdin:
        subprocess.run([exe, "--config", str(config)], stdin=stdin, stdout=subprocess.DEVNULL, check=True)
    return count(db, "select count(*) from bench.users")


def tap_alone(records: Path, work: Path, n: int) -> int:
    from headwater.sources.connector.env import resolve

    (exe,) = resolve(TAP_JSONL).argv
    config = work / "tap.json"
    config.write_text(json.dumps({"path": str(records), "stream_name": "users", "primary_keys": ["id"]}))
    subprocess.run([exe, "--config", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return n


def tap_through_hw(records: Path, work: Path) -> int:
    import headwater as hw

    config = {"path": str(records), "stream_name": "users", "primary_keys": ["id"]}
    p = hw.pipeline(
        "bench_tap", destination=hw.destinations.duckdb(str(work / "tap.duckdb")), dataset="bench",
        pipelines_dir=work / "p", progress=False,
    )  # fmt: skip
    return p.run(hw.sources.singer(TAP_JSONL, config=config, select=["users"])).table_rows()["users"]


def best(fn: Callable[[Path], int], rows: int, repeat: int, *, missing: int = 0) -> float:
    """The fastest of ``repeat`` runs of ``fn``, each in a folder of its own, checked to load ``rows``
    rows (up to ``missing`` fewer: see target-duckdb below)."""
    times = []
    for _ in range(repeat):
        work = Path(tempfile.mkdtemp(prefix="headwater-bench-singer-"))
        try:
            gc.collect()
            start = time.perf_counter()
            got = fn(work)
            times.append(time.perf_counter() - start)
            assert rows - missing <= got <= rows, f"loaded {got} rows, expected {rows}"
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cases", default="target,source,reference,tap")
    args = parser.parse_args()
    n = int(1_000_000 * args.scale)
    cases = set(args.cases.split(","))
    data = Path(tempfile.mkdtemp(prefix="headwater-bench-singer-data-"))
    messages, records = data / "messages.jsonl", data / "records.jsonl"
    write_messages(messages, records, n)
    results: dict[str, float] = {}
    try:
        if "target" in cases:
            results["hw target (singer-target)"] = best(lambda w: hw_target(messages, w), n, args.repeat)
        if "source" in cases:
            results["hw source (cat tap)"] = best(lambda w: hw_source(messages, w), n, args.repeat)
        if "reference" in cases:
            lost = n // 100_000 + 1
            results["target-duckdb 0.8.0"] = best(lambda w: target_duckdb(messages, w), n, args.repeat, missing=lost)
        if "tap" in cases:
            results["tap-jsonl > /dev/null"] = best(lambda w: tap_alone(records, w, n), n, args.repeat)
            results["tap-jsonl -> hw -> DuckDB"] = best(lambda w: tap_through_hw(records, w), n, args.repeat)
    finally:
        shutil.rmtree(data, ignore_errors=True)
    reference = results.get("target-duckdb 0.8.0")
    print(f"{n:,} Singer records into DuckDB, best of {args.repeat}")
    print(f"{'case':<28} {'seconds':>8} {'rows/s':>10} {'vs target-duckdb':>17}")
    for name, seconds in results.items():
        ratio = f"{reference / seconds:.2f}x" if reference and not name.startswith("tap-jsonl") else ""
        print(f"{name:<28} {seconds:>8.2f} {n / seconds:>10,.0f} {ratio:>17}")
    alone, through = results.get("tap-jsonl > /dev/null"), results.get("tap-jsonl -> hw -> DuckDB")
    if alone and through:
        print(f"Headwater's overhead over tap-jsonl alone: +{(through / alone - 1) * 100:.0f}% wall time")


if __name__ == "__main__":
    main()
