"""Files in, lakehouse tables out: CSV drops merged into Iceberg (or Delta), read back by DuckDB.

    .venv/bin/python examples/lakehouse.py            # Iceberg: ./lakehouse/warehouse (SQLite catalog)
    .venv/bin/python examples/lakehouse.py --delta    # Delta Lake: ./lakehouse/delta

An upstream system drops a CSV file of orders each day into ./lakehouse/incoming. Each run reads only
the files that are new since the last run (the filesystem source remembers modification times and
sizes, committed with the data), and merges the orders by id: an order seen again is updated in
place, a new one is added. The orders table is partitioned by day. Needs the `iceberg` or `delta`
extra (`pip install 'headwater[iceberg]'`).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

import headwater as hw

ROOT = Path("lakehouse")
INCOMING = ROOT / "incoming"

DROPS = {
    "orders_2026-11-01.csv": [
        (1, "2026-11-01T09:00:00Z", "alice", "12.50", "placed"),
        (2, "2026-11-01T10:30:00Z", "bob", "7.25", "placed"),
        (3, "2026-11-01T17:45:00Z", "carol", "30.00", "placed"),
    ],
    # the next day: orders 1 and 2 changed status, order 4 is new
    "orders_2026-11-02.csv": [
        (1, "2026-11-01T09:00:00Z", "alice", "12.50", "shipped"),
        (2, "2026-11-01T10:30:00Z", "bob", "7.25", "cancelled"),
        (4, "2026-11-02T08:15:00Z", "dave", "99.90", "placed"),
    ],
}


def drop(name: str) -> None:
    """The upstream system writes one day's file."""
    lines = ["id,ordered_at,customer,amount,status"] + [",".join(map(str, row)) for row in DROPS[name]]
    (INCOMING / name).write_text("\n".join(lines) + "\n")


def destination(use_delta: bool) -> object:
    if use_delta:
        return hw.destinations.delta(ROOT / "delta")
    return hw.destinations.iceberg(ROOT / "warehouse")


def main() -> None:
    use_delta = "--delta" in sys.argv
    shutil.rmtree(ROOT, ignore_errors=True)
    INCOMING.mkdir(parents=True)
    pipeline = hw.pipeline(
        "lakehouse",
        destination=destination(use_delta),
        dataset="shop",
        pipelines_dir=ROOT / "pipelines",
        progress=False,
    )
    for name in DROPS:
        drop(name)
        source = hw.sources.filesystem(
            INCOMING,
            glob="orders_*.csv",
            name="orders",
            write_disposition="merge",
            primary_key="id",
            columns={"amount": "decimal(10,2)"},
            # Iceberg partitions by a transform of the timestamp; Delta by a column: a day derived below
            partition_by="ordered_day" if use_delta else "day(ordered_at)",
        )
        if use_delta:  # the files arrive as Arrow tables: add the day column to each
            source.resources["orders"].add_map(
                lambda t: t.append_column("ordered_day", pc.cast(t["ordered_at"], pa.date32()))
            )
        info = pipeline.run(source)
        print(f"{name}: {info.table_rows().get('orders', 0)} rows read")
    print("Orders now:")
    table = pipeline.query("select id, customer, amount, status from orders order by id")
    for row in table.to_pylist():
        print(f"  {row['id']}  {row['customer']:<6} {row['amount']:>6}  {row['status']}")
    where = ROOT / ("delta" if use_delta else "warehouse")
    print(f"The tables are in {where}; any engine that reads {'Delta' if use_delta else 'Iceberg'} reads them.")


if __name__ == "__main__":
    main()
