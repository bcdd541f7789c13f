"""Headwater, dlt and the floors in the same rounds, for a machine whose speed drifts (docs/benchmarks.md,
"PostgreSQL and Arrow against their floors").

    .venv/bin/python -m bench.floor_rounds --case arrow --rounds 9
    .venv/bin/python -m bench.floor_rounds --case pg --rounds 4

Each round runs every step once, one after the other, in one process; each step's wall and CPU time
(the process's, every thread's) is printed per round, then the medians and the per-round ratios.

arrow  the floor (DuckDB inserting the ten Arrow tables with Headwater's two columns in one ``INSERT``,
       ``bench.floors.duckdb_insert``, Headwater's loader settings), then ``pipeline.run(tables)``.
pg     ConnectorX fetching Headwater's SELECT, ADBC fetching ``SELECT *``, DuckDB inserting ConnectorX's
       Arrow table with the two columns, then Headwater (ConnectorX), Headwater (ADBC) and dlt
       (``sql_table(backend="connectorx")``), from a throwaway PostgreSQL server (tests/pgserver.py).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import data as bench_data
from bench.floors import SETTINGS, duckdb_insert, headwater_select, with_ids
from bench.run import PG_SCHEMA, PG_TABLE, run_dlt_from_pg, run_headwater_from_pg

ROWS = 1_000_000


def rounds(steps: dict[str, Callable[[int], Any]], count: int) -> dict[str, list[tuple[float, float]]]:
    out: dict[str, list[tuple[float, float]]] = {label: [] for label in steps}
    for k in range(count):
        for label, fn in steps.items():
            started, cpu = time.perf_counter(), time.process_time()
            fn(k)
            out[label].append((time.perf_counter() - started, time.process_time() - cpu))
        load = Path("/proc/loadavg").read_text().split()[0]
        shown = {label: f"{v[-1][0]:.2f}/{v[-1][1]:.2f}" for label, v in out.items()}
        print(k, shown, f"load {load}", flush=True)
    for label, v in out.items():
        wall, cpu = statistics.median(x[0] for x in v), statistics.median(x[1] for x in v)
        print(f"{label:42} median wall {wall:.2f} s  CPU {cpu:.2f} s  best wall {min(x[0] for x in v):.2f} s")
    return out


def ratio(out: dict[str, list[tuple[float, float]]], top: str, bottom: str) -> None:
    walls = [a[0] / b[0] for a, b in zip(out[top], out[bottom], strict=True)]
    cpus = [a[1] / b[1] for a, b in zip(out[top], out[bottom], strict=True)]
    print(f"{top} / {bottom}: wall {[round(x, 2) for x in walls]} median {statistics.median(walls):.2f}, CPU median "
          f"{statistics.median(cpus):.2f}")  # fmt: skip


def arrow(folder: Path, count: int) -> None:
    import headwater as hw

    tables = bench_data.arrow_tables(ROWS)
    ided = with_ids(tables)

    def pipeline(name: str) -> Any:
        destination = hw.destinations.duckdb(str(folder / f"{name}.duckdb"))
        return hw.pipeline(name, destination=destination, dataset="bench", pipelines_dir=folder / "p", progress=False)

    pipeline("warmup").run(tables[:1], table_name="t")
    out = rounds(
        {
            "floor: DuckDB inserts (+2 columns)": lambda k: duckdb_insert(
                folder / f"floor{k}.duckdb", ided, SETTINGS["headwater's"]
            ),
            "Headwater": lambda k: pipeline(f"arrow{k}").run(tables, table_name="arrow"),
        },
        count,
    )
    ratio(out, "Headwater", "floor: DuckDB inserts (+2 columns)")


def pg(folder: Path, count: int) -> None:
    import adbc_driver_postgresql.dbapi as adbc
    import pyarrow as pa

    from headwater.sources.sql_database.cxreader import record_batches
    from tests.pgserver import PgServer, pg_query

    server = PgServer.start()
    try:
        url = server.url
        for statement in [
            *bench_data.pg_table_sql(PG_SCHEMA, "warmup", 1000),
            *bench_data.pg_table_sql(PG_SCHEMA, PG_TABLE, ROWS),
        ]:
            pg_query(url, statement)
        ours = headwater_select(url)
        for tool in (run_headwater_from_pg, run_dlt_from_pg):
            tool(folder, "warmup", url, "warmup")
        fetched: dict[str, Any] = {}

        def cx_fetch(_: int) -> None:
            fetched["table"] = pa.Table.from_batches(list(record_batches(url, ours, 50_000)))

        def adbc_fetch(_: int) -> None:
            with adbc.connect(url) as conn, conn.cursor() as cur:
                cur.execute(f"select * from {PG_SCHEMA}.{PG_TABLE}")
                assert sum(b.num_rows for b in cur.fetch_record_batch()) == ROWS

        def insert(k: int) -> None:
            pieces = [fetched["table"].slice(i, 100_000) for i in range(0, ROWS, 100_000)]
            duckdb_insert(folder / f"insert{k}.duckdb", with_ids(pieces), SETTINGS["headwater's"])

        out = rounds(
            {
                "fetch: ConnectorX, Headwater's SELECT": cx_fetch,
                "fetch: ADBC": adbc_fetch,
                "DuckDB insert (+2 columns)": insert,
                "Headwater (ConnectorX)": lambda k: run_headwater_from_pg(folder, f"hc{k}", url, PG_TABLE),
                "Headwater (ADBC)": lambda k: run_headwater_from_pg(folder, f"ha{k}", url, PG_TABLE, backend="adbc"),
                "dlt (connectorx)": lambda k: run_dlt_from_pg(folder, f"dlt{k}", url, PG_TABLE),
            },
            count,
        )
        ratio(out, "dlt (connectorx)", "Headwater (ConnectorX)")
        ratio(out, "dlt (connectorx)", "Headwater (ADBC)")
        fetch, load = out["fetch: ConnectorX, Headwater's SELECT"], out["DuckDB insert (+2 columns)"]
        sums = [a[0] + b[0] for a, b in zip(fetch, load, strict=True)]
        halves = [round(x[0] / 2, 2) for x in out["dlt (connectorx)"]]
        print(f"floor sum (ConnectorX fetch, then insert) {[round(x, 2) for x in sums]} median "
              f"{statistics.median(sums):.2f}; dlt / 2: {halves}")  # fmt: skip
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", choices=["arrow", "pg"], required=True)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="headwater-rounds-") as tmp:
        (arrow if args.case == "arrow" else pg)(Path(tmp), args.rounds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
