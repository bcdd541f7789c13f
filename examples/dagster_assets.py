"""Flows as Dagster assets: one asset per table, with rows, columns and check results in Dagster.

    pip install 'headwater[dagster]'
    dagster dev -f examples/dagster_assets.py     # then, in the UI (http://127.0.0.1:3000): Materialize all
    .venv/bin/python examples/dagster_assets.py   # or materialize once, in-process, and print what Dagster got

Two flows load into ``./dagster_assets.duckdb``:

* ``github_events``: the bundled sample of GitHub-like events (the ``filesystem`` source, which reads
  a file again only when it changed), merged on ``id``; checks: ``id`` is never null and unique.
* ``shop_orders``: orders from a Python resource (a stand-in for an API), merged on ``id``,
  incrementally on ``updated_at``; a ``warn`` check on ``amount`` fails on one order (it loads, and the
  asset check shows the failure).

``flow_definitions(..., per="table")`` makes one Dagster multi-asset per flow with one asset per table
(``github_events/events``, ``shop_orders/orders``); a table's child tables (``events__payload__commits``,
``orders__lines``, made from lists) load with it and are listed in its metadata. The two flows write
one DuckDB file, so Dagster runs them one at a time. ``per="flow"`` (the default) would make one asset
per flow. A second run loads nothing new: the file has not changed and no order is newer.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg

import headwater as hw
from headwater.dagster import flow_definitions

SAMPLE = Path(__file__).resolve().parent / "data" / "github_events.jsonl"


@hw.resource(name="orders", primary_key="id")
def orders() -> Iterator[list[dict[str, Any]]]:
    """Orders as an API would return them: nested lines (a child table), one refund with a negative amount."""
    yield [
        {
            "id": 1,
            "customer": "ada",
            "amount": 42.5,
            "updated_at": "2026-11-02T09:00:00Z",
            "lines": [{"sku": "tea", "qty": 2}, {"sku": "cup", "qty": 1}],
        },
        {"id": 2, "customer": "grace", "amount": 18.0, "updated_at": "2026-11-02T10:30:00Z", "lines": []},
        {
            "id": 3,
            "customer": "ada",
            "amount": -7.5,
            "updated_at": "2026-11-03T08:15:00Z",
            "lines": [{"sku": "cup", "qty": -1}],
        },
    ]


FLOWS = {
    "sources": {
        "github": {"type": "filesystem", "config": {"url": str(SAMPLE.parent), "glob": SAMPLE.name, "name": "events"}},
        "shop": {"type": orders},  # a Python dict may hold the resource itself
    },
    "destinations": {"warehouse": {"type": "duckdb", "config": {"path": "dagster_assets.duckdb"}}},
    "flows": [
        {
            "name": "github_events",
            "from": "github",
            "to": "warehouse",
            "dataset": "github",
            "write_disposition": "merge",
            "primary_key": "id",
            "checks": [{"check": "not_null", "column": "id"}, {"check": "unique", "column": "id"}],
        },
        {
            "name": "shop_orders",
            "from": "shop",
            "to": "warehouse",
            "dataset": "shop",
            "write_disposition": "merge",
            "incremental": {"cursor_path": "updated_at"},
            "checks": [{"check": "between", "column": "amount", "min": 0, "severity": "warn"}],
        },
    ],
}

defs = flow_definitions(hw.flows.load(FLOWS), per="table")


def main() -> None:
    """Materialize every asset once, in-process, and print what Dagster recorded."""
    result = dg.materialize(list(defs.assets or []), instance=dg.DagsterInstance.ephemeral())
    print("success:", result.success)
    for event in result.get_asset_materialization_events():
        m = event.materialization
        meta = {k: getattr(v, "value", v) for k, v in m.metadata.items()}
        columns = meta.get("dagster/column_schema")
        print(
            f"{m.asset_key.to_user_string()}: {meta['rows_loaded']} rows loaded, schema {meta['schema']} "
            f"v{meta['schema_version']}, columns {[c.name for c in columns.columns] if columns else '?'}"
        )
        for child, rows in (meta.get("child_tables") or {}).items():
            print(f"  child table {child}: {rows} rows loaded")
    for check in result.get_asset_check_evaluations():
        ran = check.metadata["ran"].value
        verdict = ("passed" if check.passed else f"FAILED ({check.severity.value})") if ran else "did not run"
        print(f"check {check.asset_check_key.asset_key.to_user_string()}:{check.asset_check_key.name}: {verdict}")


if __name__ == "__main__":
    main()
