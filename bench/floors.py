"""The floors of the arrow and pg_to_duckdb cases: what DuckDB, ConnectorX and ADBC take alone.

    .venv/bin/python -m bench.floors [--cases arrow,pg] [--rows 1000000] [--repeat 3]

No tool can load data into DuckDB faster than DuckDB inserts it, nor read PostgreSQL faster than its
fastest driver fetches it. Like ``bench.files_floor`` for the files case, this times those parts alone,
each the best of ``--repeat`` runs:

arrow    DuckDB inserting the arrow case's Arrow tables (``bench.data.arrow_tables``: ten tables of
         100,000 rows) into a table of a fresh DuckDB file (``CREATE TABLE``, then one ``INSERT ... SELECT``
         over all ten, in one transaction, ``CHECKPOINT``, close): as they are, and with the two columns
         Headwater adds to every row (``_hw_load_id``, and ``_hw_id`` as UUIDs, made before timing), under
         Headwater's loader settings (``memory_limit=128MB``, ``preserve_insertion_order=false``) and
         DuckDB's defaults; and the floor of Headwater's design: the data with the two columns written
         to one LZ4 Arrow IPC file (the package), read back and inserted.
pg       a throwaway PostgreSQL server (tests/pgserver.py) holding the pg_to_duckdb table (20 columns):
         ConnectorX fetching it whole into one Arrow table (as dlt's ``backend="connectorx"`` does) and as
         a stream of record batches; the same stream with Headwater's SELECT (``numeric`` and ``time`` as
         text, see ``headwater/sources/sql_database/cxreader.py``); ADBC fetching it whole and as a stream;
         then DuckDB inserting ConnectorX's Arrow table, as it is and with Headwater's two columns.

Divide a tool's time by these to see how much of it is the drivers' and DuckDB's own work.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import data as bench_data

SETTINGS: dict[str, dict[str, Any]] = {
    "headwater's": {"memory_limit": "128MB", "preserve_insertion_order": "false"},
    "defaults": {},
}
PG_SCHEMA, PG_TABLE = "bench_source", "bench_rows"


def best(fn: Callable[[int], Any], repeat: int) -> tuple[float, float]:
    """The fastest of ``repeat`` runs of ``fn(attempt)``: its wall time and the process's CPU time (every
    thread's, the drivers' and DuckDB's included), in seconds."""
    times = []
    for attempt in range(repeat):
        started, cpu = time.perf_counter(), time.process_time()
        fn(attempt)
        times.append((time.perf_counter() - started, time.process_time() - cpu))
    return min(times)


def with_ids(tables: list[Any]) -> list[Any]:
    """The tables with Headwater's ``_hw_load_id`` (dictionary-encoded) and ``_hw_id`` (UUIDs) columns."""
    from headwater.normalize.ids import constant, row_ids

    return [
        t.append_column("_hw_load_id", constant("1764770000.123456", t.num_rows)).append_column(
            "_hw_id", row_ids(t.num_rows)
        )
        for t in tables
    ]


def duckdb_insert(path: Path, tables: list[Any], config: dict[str, Any]) -> None:
    """``tables`` into table ``t`` of a fresh DuckDB file at ``path``, in one ``INSERT`` over all of them
    (one Arrow table of their chunks, no copy: DuckDB scans it on every core, which it does not do for a
    table of 100,000 rows, fewer than one row group), one transaction, then closed."""
    import duckdb
    import pyarrow as pa

    con = duckdb.connect(str(path), config=config)
    try:
        con.register("piece", pa.concat_tables(tables))
        con.execute("CREATE TABLE t AS SELECT * FROM piece LIMIT 0")
        con.execute("BEGIN TRANSACTION")
        con.execute("INSERT INTO t SELECT * FROM piece")
        con.execute("COMMIT")
        con.unregister("piece")
        con.execute("CHECKPOINT")
    finally:
        con.close()


def insert_floors(label: str, tables: list[Any], folder: Path, repeat: int) -> list[tuple[str, int, float, float]]:
    rows = sum(t.num_rows for t in tables)
    out: list[tuple[str, int, float, float]] = []
    for what, data in (("as they are", tables), ("+ Headwater's two columns", with_ids(tables))):
        for settings, config in SETTINGS.items():

            def run(attempt: int, data: list[Any] = data, config: dict[str, Any] = config) -> None:
                duckdb_insert(folder / f"{label}_{len(out)}_{attempt}.duckdb", data, config)

            seconds, cpu = best(run, repeat)
            out.append((f"DuckDB inserts the {label} Arrow data {what}, {settings} settings", rows, seconds, cpu))
            print(f"  {out[-1][0]}: {seconds:.2f} s (CPU {cpu:.2f} s)", flush=True)
    return out


def arrow_case(rows: int, folder: Path, repeat: int) -> list[tuple[str, int, float, float]]:
    tables = bench_data.arrow_tables(rows)
    out = insert_floors("arrow case's", tables, folder, repeat)
    return [*out, design_floor(with_ids(tables), folder, repeat)]


def design_floor(tables: list[Any], folder: Path, repeat: int) -> tuple[str, int, float, float]:
    """The floor of Headwater's design on the arrow case: the data with the two columns written to one LZ4
    Arrow IPC file (the package's format), read back and inserted by DuckDB (Headwater's settings); no
    ids made, no checksums, no state."""
    import pyarrow.ipc as ipc

    def run(attempt: int) -> None:
        package = folder / f"package_{attempt}.arrow"
        options = ipc.IpcWriteOptions(compression="lz4")
        with ipc.new_file(str(package), tables[0].schema, options=options) as sink:
            for table in tables:
                sink.write_table(table)
        with ipc.open_file(str(package)) as source:
            duckdb_insert(folder / f"design_{attempt}.duckdb", [source.read_all()], SETTINGS["headwater's"])

    seconds, cpu = best(run, repeat)
    label = "the package design: the data with the two columns written to an LZ4 Arrow IPC file, then inserted"
    print(f"  {label}: {seconds:.2f} s (CPU {cpu:.2f} s)", flush=True)
    return (label, sum(t.num_rows for t in tables), seconds, cpu)


def headwater_select(url: str) -> str:
    """The SELECT Headwater's sql_database source runs for the bench table under ConnectorX."""
    import headwater as hw
    from headwater.sources.sql_database.cxreader import AS_TEXT
    from headwater.sources.sql_database.query import render, select_table

    source = hw.sources.sql_database(url, schema=PG_SCHEMA, tables=[PG_TABLE], backend="adbc")
    reader = source.resources[PG_TABLE].reader
    spec, db = reader.spec, reader.backend.db
    stmt = select_table(spec, db.dialect, literal=True, text_kinds=AS_TEXT)
    return str(render(stmt, db.engine.dialect, True)[0])


def pg_case(rows: int, folder: Path, repeat: int) -> list[tuple[str, int, float, float]]:
    import adbc_driver_postgresql.dbapi as adbc
    import connectorx as cx

    from headwater.sources.sql_database.cxreader import record_batches
    from tests.pgserver import PgServer, pg_query

    server = PgServer.start()
    out: list[tuple[str, int, float, float]] = []
    try:
        url = server.url
        for statement in bench_data.pg_table_sql(PG_SCHEMA, PG_TABLE, rows):
            pg_query(url, statement)
        plain = f"SELECT * FROM {PG_SCHEMA}.{PG_TABLE}"
        ours = headwater_select(url)
        print(f"  Headwater's SELECT: {ours[:200]}...", flush=True)
        got: dict[str, Any] = {}

        def cx_whole(_: int) -> None:
            got["cx"] = cx.read_sql(url, plain, return_type="arrow")

        def cx_stream(sql: str) -> Callable[[int], None]:
            def run(_: int) -> None:
                n = sum(batch.num_rows for batch in record_batches(url, sql, 50_000))
                assert n == rows, n

            return run

        def adbc_whole(_: int) -> None:
            with adbc.connect(url) as conn, conn.cursor() as cur:
                cur.execute(plain)
                got["adbc"] = cur.fetch_arrow_table()

        def adbc_stream(_: int) -> None:
            with adbc.connect(url) as conn, conn.cursor() as cur:
                cur.execute(plain)
                n = sum(b.num_rows for b in cur.fetch_record_batch())
                assert n == rows, n

        for label, fn in (
            ("ConnectorX fetches the table into one Arrow table (return_type='arrow')", cx_whole),
            ("ConnectorX streams the table as record batches of 50,000 rows", cx_stream(plain)),
            ("ConnectorX streams Headwater's SELECT (numeric and time as text)", cx_stream(ours)),
            ("ADBC fetches the table into one Arrow table (fetch_arrow_table)", adbc_whole),
            ("ADBC streams the table (fetch_record_batch)", adbc_stream),
        ):
            seconds, cpu = best(fn, repeat)
            out.append((label, rows, seconds, cpu))
            print(f"  {label}: {seconds:.2f} s (CPU {cpu:.2f} s)", flush=True)
        assert got["cx"].num_rows == got["adbc"].num_rows == rows
        pieces = [got["cx"].slice(start, 100_000) for start in range(0, rows, 100_000)]
        out += insert_floors("PostgreSQL table's", pieces, folder, repeat)
    finally:
        server.stop()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="arrow,pg")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    cases = args.cases.split(",")
    results: list[tuple[str, int, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="headwater-floors-") as tmp:
        folder = Path(tmp)
        if "arrow" in cases:
            results += arrow_case(args.rows, folder, args.repeat)
        if "pg" in cases:
            results += pg_case(args.rows, folder, args.repeat)
    print()
    print("| floor | rows | seconds | CPU seconds | rows/s |")
    print("|---|---:|---:|---:|---:|")
    for label, rows, seconds, cpu in results:
        print(f"| {label} | {rows:,} | {seconds:.2f} | {cpu:.2f} | {rows / seconds:,.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
