"""Reading the run records of a working folder (``<workdir>/runs/<run_id>.json``), for the dashboard.

A minimal reader of the run-record contract (issue 15): one JSON file per run of a pipeline, written
atomically when the run ends. It stands in for ``headwater.observe.history`` (which writes and reads
the records) until that lands; the dashboard only reads. Records are read tolerantly: a missing key
takes its empty value, a file that is not a JSON object is skipped with a warning naming it (a record
is informative, never a reason to fail a page).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger("headwater")

#: the folder of the run records inside a working folder
RUNS_FOLDER = "runs"

#: every key of a record with the value it takes when the record lacks it
_DEFAULTS: dict[str, Any] = {
    "run_id": None,
    "pipeline": None,
    "destination": None,
    "dataset": None,
    "kind": "run",
    "status": None,
    "started_at": None,
    "ended_at": None,
    "seconds": None,
    "load_ids": [],
    "rows": 0,
    "tables": {},
    "schema": None,
    "error": None,
    "metrics": {},
}


class HasRoot(Protocol):
    """A working folder (:class:`headwater.pipelines.workdir.WorkDir`): anything with its ``root``."""

    @property
    def root(self) -> Path:
        """The working folder itself."""
        ...


def runs_folder(workdir: HasRoot) -> Path:
    """The folder of a working folder's run records."""
    return workdir.root / RUNS_FOLDER


def list_runs(workdir: HasRoot, limit: int | None = None) -> list[dict[str, Any]]:
    """The run records of a working folder, newest first (by run id, the UTC start time), at most
    ``limit``; each with every key of the contract (missing ones filled with their empty value)."""
    folder = runs_folder(workdir)
    if not folder.is_dir():
        return []
    paths = sorted((p for p in folder.glob("*.json") if not p.name.startswith(".")), reverse=True)
    out: list[dict[str, Any]] = []
    for path in paths:
        if limit is not None and len(out) >= limit:
            break
        record = _read(path)
        if record is not None:
            out.append(record)
    return out


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        log.warning("the run record %s cannot be read (%s); skipped", path, exc)
        return None
    if not isinstance(data, dict):
        log.warning("the run record %s is not a JSON object; skipped", path)
        return None
    record = {key: data.get(key, default) for key, default in _DEFAULTS.items()}
    for key, default in _DEFAULTS.items():  # a null where a list or mapping belongs reads as empty
        if isinstance(default, (list, dict)) and not isinstance(record[key], type(default)):
            record[key] = type(default)()
    if record["run_id"] is None:
        record["run_id"] = path.stem
    return record
