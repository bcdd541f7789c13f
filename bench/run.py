"""Headwater against dlt on the same in-memory data, in one process, one command.

    ./scripts/bench            # sets up the bench extra, runs every case
    .venv/bin/python -m bench.run --cases flat,nested --scale 0.1

Cases (full scale):
  flat     1,000,000 flat dicts with 20 mixed-type columns -> DuckDB
  nested   200,000 GitHub-event-like documents (commits and labels become child tables) -> DuckDB
  arrow    1,000,000 rows as Arrow tables -> DuckDB; dlt runs twice: as configured by default (no
           row ids on Arrow data) and told to add _dlt_id and _dlt_load_id (the work Headwater does)
  merge    200,000 nested documents loaded with merge (primary key id), then the same ids again,
           changed: the update run is timed
  rest     100,000 records in 1,000 pages of 100 from a local HTTP server that answers each request
           after 20 ms (offset paginator, total in the body; labels become a child table) -> DuckDB;
           Headwater fetches up to 16 pages at once after the first gives the total, dlt one at a time;
           the floor (bench/rest_floor.py: the same pages fetched at 16 at once, parsed, dropped) runs
           in the same rounds and the report gives Headwater / floor
  pg_to_duckdb  1,000,000 rows of a PostgreSQL table (20 columns: bigint primary key, ints, doubles,
           numeric(12,2), text of 0-49 characters, bools, timestamptz, date, 10% nulls in one) -> DuckDB;
           Headwater's sql_database (ConnectorX when installed, else ADBC; tool headwater_adbc: ADBC),
           dlt's sql_table with backend="connectorx"
  duckdb_to_pg  the same 1,000,000 rows made by DuckDB, as one Arrow table -> PostgreSQL; dlt with
           loader_file_format="csv" (COPY)
  files    1,000,000 rows of the pg_to_duckdb columns in one file, written by DuckDB (COPY) before any
           timing as CSV with a header and as Parquet -> DuckDB, one measurement per format (files_csv,
           files_parquet); Headwater's filesystem source, dlt's filesystem resource piped into
           read_csv_duckdb / read_parquet, both yielding Arrow (use_pyarrow=True)
  import   `import headwater` vs `import dlt` (fresh interpreters, median of 7)
  memory   Headwater on a generator of 1M and of 10M flat rows, each in a fresh process: peak memory
           above the warmed-up process must stay flat

dlt runs with loader_file_format="parquet", its fastest path to DuckDB (its default, INSERT
statements, is about 8x slower on this data); telemetry is off. Each tool runs --repeat times per
case (default 3), alternating with the other, and the fastest run counts: this machine's timings
vary by 20-30% from run to run. Both tools load into fresh DuckDB files under a temporary folder
(fresh PostgreSQL schemas in duckdb_to_pg); row counts are checked after every run. Peak memory is
the highest resident set size seen during the run (sampled every 5 ms) minus the size before it; for
the memory case it is the kernel's high-water mark (VmHWM) of a fresh process minus its size after a
warm-up.

The two PostgreSQL cases share one throwaway server (tests/pgserver.py: initdb into a temporary
folder, fsync off), started for them and stopped after; the source table is created and filled by
SQL (generate_series) before any timing. dlt's fastest ways there, each tried on this data at
--scale 0.1: to read PostgreSQL, backend="connectorx" (the whole table in one Arrow read) is 1.9x
faster than "pyarrow" (rows through SQLAlchemy and psycopg2, then into Arrow); to write it,
loader_file_format="csv" (COPY) is 3.8x faster than its default, "insert_values".

The files case: dlt's readers, each tried on this data (dlt 1.31, DuckDB 2.0). CSV: read_csv (pandas,
rows as dicts) 17,700 rows/s at --scale 0.1, read_csv_duckdb(use_pyarrow=True) 110,000 there (fixed
costs dominate at that size) and 330,000-340,000 at full scale whatever chunk_size (5,000, 100,000 or
1,000,000); read_csv_duckdb's default, rows as dicts, fails on DuckDB 2.0 ("Relations no longer have
fetchmany()"). Parquet: read_parquet's default (rows as dicts, 1,000 at a time) 16,500 rows/s at
--scale 0.1, use_pyarrow=True 290,000 (chunksize 1,000) to 330,000 (100,000) at full scale. The bench
uses use_pyarrow=True with batches of 100,000 for both. dlt adds no _dlt_id/_dlt_load_id to Arrow
rows (Headwater adds its two); told to (as in the arrow case), it took 5.4 s instead of 3.1 s for
the CSV file and 4.7 s instead of 2.8 s for the Parquet file.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any, Final

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import data as bench_data

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")


@dataclass
class Measurement:
    case: str
    tool: str
    rows: int
    seconds: float
    peak_mb: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def rss_mb() -> float:
    import psutil

    return float(psutil.Process().memory_info().rss) / 2**20


LAST_CPU = [float("nan")]


def measure(fn: Callable[[], int]) -> tuple[float, float, int]:
    """Run ``fn``; return (seconds, peak RSS above the start in MB, rows it reports). The process's CPU
    time during the run (every thread's, the sampler's too) is left in ``LAST_CPU[0]``: on a shared
    machine it varies far less than the wall time."""
    gc.collect()
    base = rss_mb()
    peak = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_mb())
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started, cpu = time.perf_counter(), time.process_time()
    try:
        rows = fn()
    finally:
        seconds = time.perf_counter() - started
        LAST_CPU[0] = time.process_time() - cpu
        done.set()
        sampler.join()
    peak[0] = max(peak[0], rss_mb())
    return seconds, peak[0] - base, rows


def count_duckdb(path: Path, sql: str) -> int:
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        con.execute(sql)
        return int(con.fetchall()[0][0])
    finally:
        con.close()


# -- the tools -----------------------------------------------------------------------------------


def run_headwater(workdir: Path, name: str, data: Any, table: str) -> int:
    import headwater as hw

    p = hw.pipeline(
        name,
        destination=hw.destinations.duckdb(str(workdir / f"hw_{name}.duckdb")),
        dataset="bench",
        pipelines_dir=workdir / "hw_pipelines",
        progress=False,
    )
    info = p.run(data, table_name=table)
    return info.table_rows()[table]


def merge_headwater(workdir: Path, name: str, initial: Any, update: Any, table: str) -> tuple[float, int]:
    """Load ``initial`` with merge, then time the merge of ``update`` (the same ids)."""
    import headwater as hw

    p = hw.pipeline(
        name,
        destination=hw.destinations.duckdb(str(workdir / f"hw_{name}.duckdb")),
        dataset="bench",
        pipelines_dir=workdir / "hw_pipelines",
        progress=False,
    )
    hints: dict[str, Any] = {"table_name": table, "write_disposition": "merge", "primary_key": "id"}
    p.run(initial, **hints)
    started = time.perf_counter()
    p.run(update, **hints)
    seconds = time.perf_counter() - started
    count = p.query(f"select count(*) as n from {table}").to_pylist()[0]["n"]
    return seconds, count


def merge_dlt(workdir: Path, name: str, initial: Any, update: Any, table: str) -> tuple[float, int]:
    import dlt

    p = dlt.pipeline(
        pipeline_name=f"dlt_{name}",
        destination=dlt.destinations.duckdb(str(workdir / f"dlt_{name}.duckdb")),
        dataset_name="bench",
        pipelines_dir=str(workdir / "dlt_pipelines"),
    )
    p.run(initial, table_name=table, write_disposition="merge", primary_key="id", loader_file_format="parquet")
    started = time.perf_counter()
    p.run(update, table_name=table, write_disposition="merge", primary_key="id", loader_file_format="parquet")
    seconds = time.perf_counter() - started
    return seconds, count_duckdb(workdir / f"dlt_{name}.duckdb", f"select count(*) from bench.{table}")


def merge_case(docs: list[Any], updates: list[Any], tools: list[str], workdir: Path, repeat: int) -> list[Measurement]:
    """The update run of a merge: documents already loaded, the same ids arrive again, changed."""
    runners = {"headwater": merge_headwater, "dlt": merge_dlt}
    best: dict[str, Measurement] = {}
    for attempt in range(repeat):
        for tool in tools:
            seconds, count = runners[tool](workdir, f"merge{attempt}", docs, updates, "events")
            assert count == len(docs), f"{tool} merged into {count} rows, expected {len(docs)}"
            print(
                f"  merge    {tool:<10} {len(updates):>10,} rows {seconds:8.2f} s  {len(updates) / seconds:>12,.0f} "
                "rows/s (update run)",
                flush=True,
            )
            if tool not in best or seconds < best[tool].seconds:
                best[tool] = Measurement("merge (update run)", tool, len(updates), seconds, float("nan"))
    return [best[t] for t in tools]


def rest_config(url: str, resource: str) -> dict[str, Any]:
    """The REST source both tools read: ``GET /<resource>?offset=N&limit=100``, records under ``items``."""
    return {
        "client": {"base_url": url, "paginator": {"type": "offset", "limit": REST_LIMIT, "total_path": "total"}},
        "resources": [{"name": resource, "endpoint": {"path": resource, "data_selector": "items"}}],
    }


def run_headwater_rest(workdir: Path, name: str, url: str, table: str) -> int:
    import headwater as hw

    config = rest_config(url, table)
    config["client"]["concurrency"] = REST_CONCURRENCY
    p = hw.pipeline(
        name,
        destination=hw.destinations.duckdb(str(workdir / f"hw_{name}.duckdb")),
        dataset="bench",
        pipelines_dir=workdir / "hw_pipelines",
        progress=False,
    )
    info = p.run(hw.sources.rest_api(config))
    return info.table_rows()[table]


def run_dlt_rest(workdir: Path, name: str, url: str, table: str) -> int:
    import dlt
    from dlt.sources.rest_api import rest_api_source

    p = dlt.pipeline(
        pipeline_name=f"dlt_{name}",
        destination=dlt.destinations.duckdb(str(workdir / f"dlt_{name}.duckdb")),
        dataset_name="bench",
        pipelines_dir=str(workdir / "dlt_pipelines"),
    )
    p.run(rest_api_source(rest_config(url, table)), loader_file_format="parquet")
    return count_duckdb(workdir / f"dlt_{name}.duckdb", f"select count(*) from bench.{table}")


PG_SCHEMA = "bench_source"  # the schema of the table pg_to_duckdb reads
PG_TABLE = "bench_rows"
DLT_SQL_BACKEND: Final = "connectorx"  # dlt's fastest sql_table backend on this data (see the module docstring)
DLT_PG_FORMAT: Final = "csv"  # dlt's fastest loader_file_format into PostgreSQL (see the module docstring)


def count_pg(url: str, sql: str) -> int:
    from tests.pgserver import pg_query

    return int(pg_query(url, sql)[0][0])


def run_headwater_from_pg(workdir: Path, name: str, url: str, table: str, backend: str = "auto") -> int:
    """The table through Headwater's sql_database: ``auto`` is ConnectorX when installed, else ADBC."""
    import headwater as hw

    p = hw.pipeline(
        name,
        destination=hw.destinations.duckdb(str(workdir / f"hw_{name}.duckdb")),
        dataset="bench",
        pipelines_dir=workdir / "hw_pipelines",
        progress=False,
    )
    info = p.run(hw.sources.sql_database(url, tables=[table], schema=PG_SCHEMA, backend=backend))
    return info.table_rows()[table]


def run_dlt_from_pg(workdir: Path, name: str, url: str, table: str) -> int:
    import dlt
    from dlt.sources.sql_database import sql_table

    p = dlt.pipeline(
        pipeline_name=f"dlt_{name}",
        destination=dlt.destinations.duckdb(str(workdir / f"dlt_{name}.duckdb")),
        dataset_name="bench",
        pipelines_dir=str(workdir / "dlt_pipelines"),
    )
    source = sql_table(credentials=url, table=table, schema=PG_SCHEMA, backend=DLT_SQL_BACKEND)
    p.run(source, loader_file_format="parquet")
    return count_duckdb(workdir / f"dlt_{name}.duckdb", f"select count(*) from bench.{table}")


def run_headwater_to_pg(url: str, workdir: Path, name: str, data: Any, table: str) -> int:
    """``data`` into PostgreSQL at ``url``, in a schema of this run's own (``hw_<name>``)."""
    import headwater as hw

    p = hw.pipeline(
        name,
        destination=hw.destinations.postgres(url),
        dataset=f"hw_{name}",
        pipelines_dir=workdir / "hw_pipelines",
        progress=False,
    )
    p.run(data, table_name=table)
    return count_pg(url, f"select count(*) from hw_{name}.{table}")


def run_dlt_to_pg(url: str, workdir: Path, name: str, data: Any, table: str) -> int:
    import dlt

    p = dlt.pipeline(
        pipeline_name=f"dlt_{name}",
        # dlt insists on a password; the throwaway server trusts local connections and ignores it
        destination=dlt.destinations.postgres(url.replace("postgres@", "postgres:unused@", 1)),
        dataset_name=f"dlt_{name}",
        pipelines_dir=str(workdir / "dlt_pipelines"),
    )
    p.run(data, table_name=table, loader_file_format=DLT_PG_FORMAT)
    return count_pg(url, f"select count(*) from dlt_{name}.{table}")


FILE_FORMATS: Final = ("csv", "parquet")  # the files case: one measurement per format
FILE_CHUNK: Final = 100_000  # rows per Arrow batch for dlt's readers (Headwater's own default for Parquet)


def run_headwater_files(workdir: Path, name: str, data: tuple[Path, str], table: str) -> int:
    """The ``*.<fmt>`` files of ``folder`` (``data`` is ``(folder, fmt)``) through Headwater's filesystem source."""
    import headwater as hw

    folder, fmt = data
    p = hw.pipeline(
        name,
        destination=hw.destinations.duckdb(str(workdir / f"hw_{name}.duckdb")),
        dataset="bench",
        pipelines_dir=workdir / "hw_pipelines",
        progress=False,
    )
    p.run(hw.sources.filesystem(str(folder), glob=f"*.{fmt}", name=table))
    return count_duckdb(workdir / f"hw_{name}.duckdb", f"select count(*) from bench.{table}")


def run_dlt_files(workdir: Path, name: str, data: tuple[Path, str], table: str) -> int:
    """The same files through dlt's filesystem resource and its fastest reader for the format, as Arrow
    (see the module docstring): ``read_csv_duckdb`` for CSV, ``read_parquet`` for Parquet."""
    import dlt
    from dlt.sources.filesystem import filesystem, read_csv_duckdb, read_parquet

    folder, fmt = data
    p = dlt.pipeline(
        pipeline_name=f"dlt_{name}",
        destination=dlt.destinations.duckdb(str(workdir / f"dlt_{name}.duckdb")),
        dataset_name="bench",
        pipelines_dir=str(workdir / "dlt_pipelines"),
    )
    if fmt == "csv":
        reader = read_csv_duckdb(use_pyarrow=True, chunk_size=FILE_CHUNK)
    else:
        reader = read_parquet(use_pyarrow=True, chunksize=FILE_CHUNK)
    files = filesystem(bucket_url=str(folder), file_glob=f"*.{fmt}")
    p.run((files | reader).with_name(table), loader_file_format="parquet")
    return count_duckdb(workdir / f"dlt_{name}.duckdb", f"select count(*) from bench.{table}")


def run_dlt(workdir: Path, name: str, data: Any, table: str) -> int:
    import dlt

    p = dlt.pipeline(
        pipeline_name=f"dlt_{name}",
        destination=dlt.destinations.duckdb(str(workdir / f"dlt_{name}.duckdb")),
        dataset_name="bench",
        pipelines_dir=str(workdir / "dlt_pipelines"),
    )
    p.run(data, table_name=table, loader_file_format="parquet")
    return count_duckdb(workdir / f"dlt_{name}.duckdb", f"select count(*) from bench.{table}")


DLT_ARROW_IDS = ("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_ID", "NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID")


def run_dlt_with_ids(workdir: Path, name: str, data: Any, table: str) -> int:
    """dlt told to add a row id and the load id to Arrow rows, as Headwater always does (same work)."""
    for key in DLT_ARROW_IDS:
        os.environ[key] = "true"
    try:
        rows = run_dlt(workdir, f"{name}_ids", data, table)
        con = __import__("duckdb").connect(str(workdir / f"dlt_{name}_ids.duckdb"), read_only=True)
        con.execute(f"select count(_dlt_id), count(_dlt_load_id) from bench.{table}")
        assert con.fetchall()[0] == (rows, rows), "dlt did not add the ids"
        con.close()
        return rows
    finally:
        for key in DLT_ARROW_IDS:
            os.environ.pop(key, None)


# -- cases ---------------------------------------------------------------------------------------


def case_rows(
    case: str,
    data: Any,
    table: str,
    tools: list[str],
    workdir: Path,
    repeat: int,
    runners: dict[str, Callable[[Path, str, Any, str], int]] | None = None,
) -> list[Measurement]:
    """Each tool ``repeat`` times on the same data, alternating; the fastest run of each is kept."""
    runners = runners or {"headwater": run_headwater, "dlt": run_dlt, "dlt+ids": run_dlt_with_ids}
    best: dict[str, Measurement] = {}
    for attempt in range(repeat):
        for tool in tools:
            name = f"{case}{attempt}"
            seconds, peak, rows = measure(lambda tool=tool, name=name: runners[tool](workdir, name, data, table))
            print(
                f"  {case:<8} {tool:<10} {rows:>10,} rows {seconds:8.2f} s  {rows / seconds:>12,.0f} rows/s"
                f"  peak +{peak:,.0f} MB  CPU {LAST_CPU[0]:.2f} s",
                flush=True,
            )
            if tool not in best or seconds < best[tool].seconds:
                best[tool] = Measurement(case, tool, rows, seconds, peak)
    return [best[t] for t in tools]


def warm_up(tools: list[str], workdir: Path) -> None:
    """Import each tool and load a few rows once, so that no case pays first-use costs."""
    runners = {"headwater": run_headwater, "dlt": run_dlt}
    for tool in tools:
        runners[tool.split("_")[0]](workdir, "warmup", bench_data.flat_rows(100), "warmup")


REST_LIMIT = 100  # records per page
REST_DELAY = 0.02  # seconds the server waits before answering each request
REST_CONCURRENCY = 16  # Headwater's requests in flight at once


def rest_case(pages: int, tools: list[str], workdir: Path, repeat: int) -> list[Measurement]:
    """Both tools page through ``pages`` pages served by a real HTTP server on 127.0.0.1, in a process of
    its own (bench/rest_server.py: bodies built once, answered after ``REST_DELAY``); each tool first
    reads a two-page endpoint once (imports, client), Headwater then the whole endpoint once (a first large
    run imports pandas). The floor (bench/rest_floor.py: the same pages fetched with httpx at Headwater's
    concurrency, parsed and dropped) runs in the same rounds."""
    from bench import rest_floor

    server, url = rest_floor.start_server(pages, REST_DELAY)
    try:
        runners = {
            "headwater": run_headwater_rest,
            "dlt": run_dlt_rest,
            "floor": lambda _w, _n, url, table: rest_floor.fetch_floor(url, table, concurrency=REST_CONCURRENCY),
        }
        for tool in [*tools, "floor"]:
            assert runners[tool](workdir, "rest_warmup", url, "warmup") == 2 * REST_LIMIT
        if "headwater" in tools:  # a first large run imports pandas: that peak is not the steady one
            assert run_headwater_rest(workdir, "rest_warmup_full", url, "records") == pages * REST_LIMIT
        return case_rows("rest", url, "records", [*tools, "floor"], workdir, repeat, runners)
    finally:
        server.terminate()
        server.wait()


def pg_cases(cases: list[str], scale: float, tools: list[str], workdir: Path, repeat: int) -> list[Measurement]:
    """pg_to_duckdb and duckdb_to_pg against one throwaway PostgreSQL server (tests/pgserver.py), stopped
    at the end. The source table and the Arrow table are made before any timing; each tool first moves
    1,000 rows once in each case (imports, drivers, first connections)."""
    from tests.pgserver import PgServer, pg_query

    n = int(1_000_000 * scale)
    out: list[Measurement] = []
    server = PgServer.start()
    try:
        url = server.url
        if "pg_to_duckdb" in cases:
            for statement in [
                *bench_data.pg_table_sql(PG_SCHEMA, "warmup", 1000),
                *bench_data.pg_table_sql(PG_SCHEMA, PG_TABLE, n),
            ]:
                pg_query(url, statement)
            runners: dict[str, Callable[[Path, str, Any, str], int]] = {
                "headwater": run_headwater_from_pg,
                "headwater_adbc": partial(run_headwater_from_pg, backend="adbc"),  # --tools headwater_adbc,...
                "dlt": run_dlt_from_pg,
            }
            for tool in tools:
                assert runners[tool](workdir, "from_pg_warmup", url, "warmup") == 1000
            out += case_rows("pg_to_duckdb", url, PG_TABLE, tools, workdir, repeat, runners)
        if "duckdb_to_pg" in cases:
            table = bench_data.duckdb_arrow_table(n)
            runners = {"headwater": partial(run_headwater_to_pg, url), "dlt": partial(run_dlt_to_pg, url)}
            for tool in tools:
                assert runners[tool](workdir, "to_pg_warmup", table.slice(0, 1000), "warmup") == 1000
            out += case_rows("duckdb_to_pg", table, PG_TABLE, tools, workdir, repeat, runners)
            del table
    finally:
        server.stop()
    for m in out:
        assert m.rows == n, f"{m.tool} loaded {m.rows} rows in {m.case}, expected {n}"
    return out


def files_case(scale: float, tools: list[str], workdir: Path, repeat: int) -> list[Measurement]:
    """files_csv and files_parquet: one file of 1,000,000 rows of :data:`bench.data.SQL_COLUMNS`, written by
    DuckDB as CSV and as Parquet into the temporary folder before any timing; each tool first reads a
    1,000-row file of each format once (imports, readers)."""
    n = int(1_000_000 * scale)
    folder, warm = workdir / "files", workdir / "files_warmup"
    bench_data.write_files(folder, n)
    bench_data.write_files(warm, 1000)
    runners: dict[str, Callable[[Path, str, Any, str], int]] = {
        "headwater": run_headwater_files,
        "dlt": run_dlt_files,
    }
    out: list[Measurement] = []
    try:
        for fmt in FILE_FORMATS:
            for tool in tools:
                assert runners[tool](workdir, f"files_{fmt}_warmup", (warm, fmt), "warmup") == 1000
        for fmt in FILE_FORMATS:
            out += case_rows(f"files_{fmt}", (folder, fmt), "file_rows", tools, workdir, repeat, runners)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(warm, ignore_errors=True)
    for m in out:
        assert m.rows == n, f"{m.tool} loaded {m.rows} rows in {m.case}, expected {n}"
    return out


def import_time(module: str, repeats: int = 7) -> float:
    code = f"import time; t=time.perf_counter(); import {module}; print(time.perf_counter()-t)"
    times = []
    for _ in range(repeats):
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        times.append(float(res.stdout.strip()))
    return statistics.median(times)


MEMORY_SCRIPT = """
import sys, tempfile
sys.path.insert(0, sys.argv[2])
import headwater as hw
from bench.data import flat_stream

def status(key):  # VmHWM: this process image's peak resident size (reset at exec, unlike ru_maxrss)
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024

n = int(sys.argv[1])
work = tempfile.mkdtemp()
p = hw.pipeline("mem", destination=hw.destinations.duckdb(work + "/mem.duckdb"), dataset="bench",
                pipelines_dir=work + "/pipelines", progress=False)
p.run(flat_stream(1000), table_name="warmup")  # every import and first-use cost before measuring
before = status("VmRSS")
import time
t = time.perf_counter()
rows = p.run(flat_stream(n), table_name="flat").table_rows()["flat"]
print(rows, time.perf_counter() - t, status("VmHWM") - before)
"""


def memory_case(sizes: tuple[int, int]) -> list[Measurement]:
    """Headwater on generators of two sizes, each in a fresh process (so that memory freed by earlier
    cases cannot hide or inflate the growth); peak resident memory above the warmed-up baseline."""
    out = []
    root = str(Path(__file__).resolve().parent.parent)
    for n in sizes:
        res = subprocess.run(
            [sys.executable, "-c", MEMORY_SCRIPT, str(n), root], capture_output=True, text=True, check=True
        )
        rows_s, seconds_s, peak_s = res.stdout.strip().splitlines()[-1].split()
        rows, seconds, peak = int(rows_s), float(seconds_s), float(peak_s)
        out.append(Measurement(f"memory {n:,}", "headwater", rows, seconds, peak))
        print(f"  memory   headwater {rows:>10,} rows {seconds:8.2f} s  peak +{peak:,.0f} MB", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="flat,nested,arrow,merge,rest,pg_to_duckdb,duckdb_to_pg,files,import,memory")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every row count (0.1 = quick)")
    parser.add_argument("--tools", default="headwater,dlt")
    parser.add_argument("--repeat", type=int, default=3, help="runs per tool and case; the fastest counts")
    parser.add_argument("--json", type=Path, help="also write the measurements here")
    args = parser.parse_args(argv)
    cases = args.cases.split(",")
    tools = args.tools.split(",")
    scale = args.scale
    results: list[Measurement] = []
    imports: dict[str, float] = {}
    workdir = Path(tempfile.mkdtemp(prefix="headwater-bench-"))
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, work in {workdir}", flush=True)
    try:
        warm_up(tools, workdir)
        if "flat" in cases:
            rows = bench_data.flat_rows(int(1_000_000 * scale))
            results += case_rows("flat", rows, "flat", tools, workdir, args.repeat)
            del rows
        if "nested" in cases:
            docs = bench_data.event_docs(int(200_000 * scale))
            results += case_rows("nested", docs, "events", tools, workdir, args.repeat)
            del docs
        if "arrow" in cases:
            tables = bench_data.arrow_tables(int(1_000_000 * scale))
            plain = [t for t in tools if t in ("headwater", "dlt")]  # headwater_adbc is a pg_to_duckdb tool
            arrow_tools = [*plain, "dlt+ids"] if "dlt" in plain else plain
            results += case_rows("arrow", tables, "arrow", arrow_tools, workdir, args.repeat)
            del tables
        if "merge" in cases:
            n = int(200_000 * scale)
            docs, updates = bench_data.event_docs(n), bench_data.event_docs(n, seed=8, version=2)
            results += merge_case(docs, updates, tools, workdir, args.repeat)
            del docs, updates
        if "rest" in cases:
            results += rest_case(max(10, int(1000 * scale)), tools, workdir, args.repeat)
        if "pg_to_duckdb" in cases or "duckdb_to_pg" in cases:
            results += pg_cases(cases, scale, tools, workdir, args.repeat)
        if "files" in cases:
            results += files_case(scale, tools, workdir, args.repeat)
        if "import" in cases:
            for tool in tools:
                imports[tool] = import_time(tool)
                print(f"  import   {tool:<10} {imports[tool]:.3f} s", flush=True)
        if "memory" in cases:
            results += memory_case((int(1_000_000 * scale), int(10_000_000 * scale)))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(report(results, imports))
    if args.json:
        args.json.write_text(
            json.dumps(
                {"results": [asdict(r) | {"rows_per_s": r.rows_per_s} for r in results], "imports": imports},
                indent=2,
            )
        )
    return 0


def _cell(value: float | None, fmt: str) -> str:
    return "-" if value is None or value != value else format(value, fmt)


def report(results: list[Measurement], imports: dict[str, float]) -> str:
    """The results as a Markdown table (what goes into closing notes)."""
    lines = [
        "| case | rows | headwater rows/s | dlt rows/s | ratio | headwater peak MB | dlt peak MB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    by_case: dict[str, dict[str, Measurement]] = {}
    for r in results:
        if not r.case.startswith("memory"):
            by_case.setdefault(r.case, {})[r.tool] = r
    for case, tools in list(by_case.items()):
        if "dlt+ids" in tools:
            by_case[f"{case} (dlt adding ids too)"] = {"headwater": tools["headwater"], "dlt": tools.pop("dlt+ids")}
    for case, tools in by_case.items():
        hw, dl = tools.get("headwater"), tools.get("dlt")
        rows = (hw or dl).rows if (hw or dl) else 0
        ratio = f"{hw.rows_per_s / dl.rows_per_s:.1f}x" if hw and dl else "-"
        lines.append(
            f"| {case} | {rows:,} | {_cell(hw and hw.rows_per_s, ',.0f')} | {_cell(dl and dl.rows_per_s, ',.0f')}"
            f" | {ratio} | {_cell(hw and hw.peak_mb, ',.0f')} | {_cell(dl and dl.peak_mb, ',.0f')} |"
        )
    if imports:
        hw_t, dl_t = imports.get("headwater"), imports.get("dlt")
        ratio = f"{dl_t / hw_t:.0f}x less" if hw_t and dl_t else "-"
        lines.append(f"| import time (s) | - | {_cell(hw_t, '.3f')} | {_cell(dl_t, '.3f')} | {ratio} | - | - |")
    for floor in (r for r in results if r.tool == "floor"):  # the rest case's (bench/rest_floor.py)
        hw = by_case.get(floor.case, {}).get("headwater")
        versus = f"; Headwater {hw.seconds:.2f} s, {hw.seconds / floor.seconds:.2f}x the floor" if hw else ""
        lines += ["", f"{floor.case}: the floor (pages fetched, parsed and dropped) {floor.seconds:.2f} s{versus}"]
    mem = [r for r in results if r.case.startswith("memory")]
    if len(mem) == 2:
        small, big = mem
        lines.append("")
        lines.append(
            f"memory: {big.rows:,} rows peak +{big.peak_mb:,.0f} MB vs {small.rows:,} rows peak "
            f"+{small.peak_mb:,.0f} MB = {big.peak_mb / max(small.peak_mb, 1):.2f}x (target <= 1.5x); "
            f"{big.rows_per_s:,.0f} rows/s"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
