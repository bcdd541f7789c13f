"""STAND-IN for obs-core's run-record writer (``headwater.observe.history``), for the dashboard's tests.

Until that writer lands, these tests run real pipelines and write the record of each run themselves, in
the exact format of the run-record contract (issue 15): ``<workdir>/runs/<run_id>.json``, written
atomically once the run ends. At merge, :func:`recorded_run` gives way to the real writer (the
pipelines write their own records) and this module goes.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path
from typing import Any

from headwater.errors import HeadwaterError


def run_id_of(started: dt.datetime) -> str:
    """The load-id format of a UTC start time: ``20261203T092700.123456Z``."""
    return started.strftime("%Y%m%dT%H%M%S.%fZ")


def write_record(root: Path, record: dict[str, Any]) -> Path:
    """Write one record as ``<root>/runs/<run_id>.json``, atomically (temp file, then rename)."""
    folder = root / "runs"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{record['run_id']}.json"
    temp = folder / f".{record['run_id']}.json.tmp"
    temp.write_text(json.dumps(record, indent=2), encoding="utf-8")
    os.replace(temp, path)
    return path


def recorded_run(pipeline: Any, data: Any, *, kind: str = "run", **hints: Any) -> dict[str, Any]:
    """Run ``pipeline.run(data, **hints)`` (``kind="extract"``: ``extract``) and write its record as the
    contract says, failed runs too; returns the record. A failed run's error is recorded, not raised."""
    started = dt.datetime.now(dt.UTC)
    clock = time.perf_counter()
    info: Any = None
    error: dict[str, Any] | None = None
    try:
        info = pipeline.extract(data, **hints) if kind == "extract" else pipeline.run(data, **hints)
    except HeadwaterError as exc:
        error = {"type": type(exc).__name__, "message": exc.message, "hint": exc.hint}
    except Exception as exc:
        error = {"type": type(exc).__name__, "message": str(exc), "hint": None}
    seconds = time.perf_counter() - clock
    ended = started + dt.timedelta(seconds=seconds)
    rows = info.table_rows() if kind == "run" and info is not None else {}
    schema = pipeline.schema() if pipeline.schema_names else None
    record = {
        "run_id": run_id_of(started),
        "pipeline": pipeline.name,
        "destination": pipeline.destination.describe(),
        "dataset": pipeline.dataset_name,
        "kind": kind,
        "status": "failed" if error else "completed",
        "started_at": started.isoformat(),
        "ended_at": ended.isoformat(),
        "seconds": round(seconds, 6),
        "load_ids": info.load_ids if kind == "run" and info is not None else [],
        "rows": sum(rows.values()),
        "tables": {name: {"rows": n} for name, n in rows.items()},
        "schema": {"name": schema.name, "version": schema.version} if schema is not None else None,
        "error": error,
        "metrics": {"tables": {name: {"rows": n} for name, n in rows.items()}},  # the stand-in measures no more
    }
    write_record(pipeline.workdir.root, record)
    return record
