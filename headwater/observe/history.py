"""The run history: one JSON record per run in the pipeline's working folder, ``runs/<run_id>.json``.

Every ``Pipeline.run``, ``load`` and ``extract`` (failed ones too) leaves a record when it ends,
written atomically (a temporary file, then a rename)::

    {
      "run_id": "20261203T092700.123456Z", "pipeline": "github", "destination": "...", "dataset": "github",
      "kind": "run" | "load" | "extract", "status": "completed" | "failed",
      "started_at": "2026-12-03T09:27:00.123456+00:00", "ended_at": "...", "seconds": 1.234,
      "load_ids": ["..."], "rows": 123, "tables": {"issues": {"rows": 100}},
      "schema": {"name": "github", "version": 3} | null,
      "error": null | {"type": "ExtractError", "message": "...", "hint": "..." | null},
      "metrics": {"stages": ..., "resources": ..., "tables": ..., "cursors": ...}
    }

The run id has the load id's form: the UTC time the run started, so ids sort by time. The newest
:data:`KEEP_RUNS` records are kept. Readers tolerate missing keys (an absent figure is zero or unknown).
``headwater runs NAME`` lists them; the destination keeps the same runs in ``_hw_runs``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from headwater.errors import StateError, did_you_mean
from headwater.observe.runids import FORMAT, started_at
from headwater.observe.runids import new_run_id as fresh_run_id

if TYPE_CHECKING:
    from headwater.pipelines.workdir import WorkDir

log = logging.getLogger("headwater")

#: the folder of run records inside a working folder
RUNS_FOLDER = "runs"
#: how many run records a working folder keeps (the oldest are deleted as new ones are written)
KEEP_RUNS = 1000
#: what a run id looks like: the load id's form
RUN_ID = re.compile(r"^\d{8}T\d{6}\.\d{6}Z$")


#: the UTC start time a run id holds
run_started_at = started_at


def new_run_id(when: dt.datetime | None = None) -> str:
    """A run id: the UTC time ``when`` as ``20261203T092700.123456Z``; without ``when``, a fresh one
    (:func:`headwater.observe.runids.new_run_id`: now, never repeated in this process)."""
    return fresh_run_id() if when is None else when.astimezone(dt.UTC).strftime(FORMAT)


def runs_folder(workdir: WorkDir) -> Path:
    """The folder of the run records of a working folder."""
    return workdir.root / RUNS_FOLDER


def record_path(workdir: WorkDir, run_id: str) -> Path:
    """Where the record of run ``run_id`` is (or would be).

    Raises:
        StateError: ``run_id`` is not a run id (it names a file, so it is checked).
    """
    if not isinstance(run_id, str) or not RUN_ID.match(run_id):
        raise StateError(
            f"{run_id!r} is not a run id",
            hint="a run id looks like 20261203T092700.123456Z: `headwater runs NAME` lists them",
        )
    return runs_folder(workdir) / f"{run_id}.json"


def unused_run_id(workdir: WorkDir, when: dt.datetime | None = None) -> str:
    """A new run id with no record yet in ``workdir`` (two runs in one microsecond get two ids)."""
    run_id = new_run_id(when)
    while record_path(workdir, run_id).exists():
        time.sleep(0.000001)
        run_id = new_run_id()
    return run_id


def write_run(workdir: WorkDir, record: dict[str, Any]) -> Path:
    """Write a run record atomically, then delete the records beyond the newest :data:`KEEP_RUNS`.

    Raises:
        OSError: the record could not be written.
    """
    path = record_path(workdir, record["run_id"])
    path.parent.mkdir(parents=True, exist_ok=True)
    data = orjson.dumps(record, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS, default=str)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _prune(path.parent)
    return path


def _prune(folder: Path) -> None:
    for old in _record_files(folder)[KEEP_RUNS:]:
        try:
            old.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:  # the record just written stands; the next run tries again
            log.warning("could not delete the old run record %s: %s", old, exc)


def _record_files(folder: Path) -> list[Path]:
    """The record files of ``folder``, newest first."""
    try:
        names = [p for p in folder.iterdir() if p.suffix == ".json" and RUN_ID.match(p.stem)]
    except FileNotFoundError:
        return []
    return sorted(names, key=lambda p: p.stem, reverse=True)


def run_ids(workdir: WorkDir) -> list[str]:
    """The ids of the runs recorded in ``workdir``, newest first."""
    return [p.stem for p in _record_files(runs_folder(workdir))]


def list_runs(workdir: WorkDir, limit: int | None = None) -> list[dict[str, Any]]:
    """The run records of ``workdir``, newest first (at most ``limit``). A record that cannot be read is
    skipped with a warning: the list is where a user looks when something is wrong."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise StateError(f"limit must be a number of runs (0 or more), got {limit!r}")
    out: list[dict[str, Any]] = []
    for path in _record_files(runs_folder(workdir)):
        if limit is not None and len(out) >= limit:
            break
        try:
            out.append(_read(path))
        except StateError as exc:
            log.warning("%s", exc.message)
    return out


def read_run(workdir: WorkDir, run_id: str) -> dict[str, Any]:
    """The record of run ``run_id``.

    Raises:
        StateError: no such run (with the closest run id), or its record is unreadable.
    """
    path = record_path(workdir, run_id)
    if not path.exists():
        known = run_ids(workdir)
        raise StateError(
            f"pipeline {workdir.root.name!r} has no run {run_id!r}",
            hint=did_you_mean(run_id, known[:50], listing="newest runs") if known else "it has no runs recorded yet",
            path=str(path),
        )
    return _read(path)


#: every key of a record with the value it takes when the record lacks it (an older or damaged record)
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


def _read(path: Path) -> dict[str, Any]:
    """A record with every key of the contract: a missing key takes its empty value, and a null (or a
    wrong kind) where a list or mapping belongs reads as empty; keys beyond the contract are kept."""
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise StateError(f"the run record {path} cannot be read: {exc}", path=str(path)) from exc
    if not isinstance(data, dict):
        raise StateError(f"the run record {path} is not a JSON object", path=str(path))
    for key, default in _DEFAULTS.items():
        value = data.get(key, default)
        if isinstance(default, (list, dict)) and not isinstance(value, type(default)):
            value = type(default)()
        data[key] = value
    if data["run_id"] is None:
        data["run_id"] = path.stem
    return data


def error_summary(record: dict[str, Any], width: int = 80) -> str:
    """The first line of a record's error as ``Type: message`` cut to ``width`` characters ('' if none)."""
    error = record.get("error")
    if not isinstance(error, dict):
        return ""
    message = str(error.get("message") or "").strip().splitlines()
    text = f"{error.get('type') or 'Error'}: {message[0] if message else ''}".rstrip(": ")
    return text if len(text) <= width else text[: width - 3] + "..."
