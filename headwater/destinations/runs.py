"""The ``_hw_runs`` table: one row per run, load and extract, beside ``_hw_loads``.

A destination client that can keep it has ``record_run(row)`` (the SQL databases: a table written in a
transaction of its own; the table formats: a commit to a table of their own; plain files: one JSON
file per run under ``_hw_runs/``). It is written when a run ends, after its working-folder record
(:mod:`headwater.observe.history`), best effort: a destination that is down, or fails to write it,
leaves a warning in the log and the run's outcome as it was.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

import orjson

#: the columns of ``_hw_runs`` and their Headwater types
RUNS_COLUMNS: Final = (
    ("run_id", "text"),
    ("pipeline", "text"),
    ("kind", "text"),
    ("status", "text"),
    ("started_at", "timestamp"),
    ("ended_at", "timestamp"),
    ("seconds", "double"),
    ("rows", "bigint"),
    ("load_ids", "json"),
    ("error", "text"),
    ("metrics", "json"),
)


def runs_row(record: dict[str, Any]) -> dict[str, Any]:
    """The ``_hw_runs`` row of a run record: its times as UTC datetimes, its error as text (type, message
    and hint), its load ids and metrics as JSON text."""
    error = record.get("error")
    text = None
    if isinstance(error, dict):
        text = f"{error.get('type') or 'Error'}: {error.get('message') or ''}"
        if error.get("hint"):
            text += f"\n  hint: {error['hint']}"
    return {
        "run_id": record["run_id"],
        "pipeline": record.get("pipeline"),
        "kind": record.get("kind"),
        "status": record.get("status"),
        "started_at": _time(record.get("started_at")),
        "ended_at": _time(record.get("ended_at")),
        "seconds": float(record.get("seconds") or 0.0),
        "rows": int(record.get("rows") or 0),
        "load_ids": orjson.dumps(record.get("load_ids") or []).decode(),
        "error": text,
        "metrics": orjson.dumps(record.get("metrics") or {}, default=str).decode(),
    }


def _time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    when = dt.datetime.fromisoformat(value)
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)
