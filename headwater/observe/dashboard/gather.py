"""What the dashboard shows, gathered as plain JSON-ready dicts (no web server needed to call these).

:func:`pipeline_summaries` lists the pipelines of a pipelines folder; :func:`pipeline_detail` gathers
one pipeline: its run records (``<workdir>/runs/*.json``), the tables with their row counts now and the
rows each run loaded, the schema versions the destination stores with the diff between consecutive
ones, the state and its cursors (the working folder's ``state.json``), the data-quality check results
(``_hw_checks``) and the quarantined rows (``_hw_quarantine``), and every run's error in full.

What cannot be read (a destination that is gone, a damaged file) is reported in ``problems`` rather
than failing the whole page: a dashboard is most needed when something is broken.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import uuid
from pathlib import Path
from typing import Any

from headwater.errors import HeadwaterError, StateError, closest
from headwater.observe.dashboard import sources
from headwater.observe.history import list_runs
from headwater.pipelines.workdir import WorkDir, find_workdirs
from headwater.schema.state import decode_value

#: the newest run records shown per pipeline
MAX_RUNS = 200


def workdirs(pipelines_dir: Path, selected: list[str] | None = None, *, strict: bool = True) -> list[WorkDir]:
    """The working folders to show: those of the ``selected`` pipeline names (or folder names such as
    ``tracker@1a2b3c4d5e``), else every working folder under ``pipelines_dir``, sorted by folder name.

    Raises:
        StateError: with ``strict``, a selected name has no working folder (with the closest name);
            without, such a name is passed over (a pipeline dropped while the dashboard runs).
    """
    known = _all_workdirs(pipelines_dir)
    if not selected:
        return known
    out: dict[Path, WorkDir] = {}
    for name in selected:
        found = find_workdirs(pipelines_dir, name)
        if not found and strict:
            names = sorted({w.read_meta().get("pipeline") or w.root.name for w in known})
            close = closest(name, names)
            raise StateError(
                f"no pipeline {name!r} in {pipelines_dir}" + (f"; did you mean {close!r}?" if close else ""),
                hint="run it once first, or pass --pipelines-dir where its working folder lives"
                + (f" (pipelines there: {', '.join(names)})" if names and not close else ""),
            )
        out.update((w.root, w) for w in found)
    return sorted(out.values(), key=lambda w: w.root.name)


def _all_workdirs(pipelines_dir: Path) -> list[WorkDir]:
    if not pipelines_dir.is_dir():
        return []
    return [WorkDir(p) for p in sorted(pipelines_dir.iterdir()) if WorkDir(p).exists()]


def pipeline_summaries(folders: list[WorkDir]) -> list[dict[str, Any]]:
    """One line per working folder: names, destination, and the newest run (from the run records only;
    the destination is not contacted)."""
    out = []
    for workdir in folders:
        meta, problems = _meta(workdir)
        runs = list_runs(workdir)
        newest = runs[0] if runs else None
        out.append(
            {
                "id": workdir.root.name,
                "pipeline": meta.get("pipeline") or workdir.root.name.partition("@")[0],
                "destination": meta.get("destination"),
                "dataset": meta.get("dataset"),
                "runs": len(runs),
                "failed_runs": sum(1 for r in runs if r["status"] == "failed"),
                "last_run": _plain(_run_summary(newest)) if newest else None,
                "problems": problems,
            }
        )
    return out


def pipeline_detail(workdir: WorkDir) -> dict[str, Any]:
    """Everything the dashboard shows of one pipeline (see the module docstring), JSON-ready."""
    meta, problems = _meta(workdir)
    records = list(reversed(list_runs(workdir, limit=MAX_RUNS)))  # oldest first, as charts read
    runs = [_run_summary(r) for r in records]
    local_schemas = _local_schemas(workdir, problems)
    own_tables = {t for s in local_schemas for t in s.get("tables", {})}
    stored = sources.read_destination(workdir, own_tables, problems)
    return _plain(
        {
            "id": workdir.root.name,
            "pipeline": meta.get("pipeline") or workdir.root.name.partition("@")[0],
            "destination": meta.get("destination"),
            "destination_uri": meta.get("destination_uri"),
            "dataset": meta.get("dataset"),
            "working_folder": str(workdir.root),
            "runs": runs,
            "tables": _tables(records, stored.get("row_counts"), own_tables),
            "schemas": _schemas(stored.get("schema_versions", []), local_schemas),
            "state": _state(workdir, records, problems),
            "checks": stored.get("checks", []),
            "quarantine": stored.get("quarantine", {"counts": [], "samples": []}),
            "errors": [
                {"run_id": r["run_id"], "kind": r["kind"], "started_at": r["started_at"], **r["error"]}
                for r in reversed(records)
                if isinstance(r.get("error"), dict)
            ],
            "problems": problems,
        }
    )


def _meta(workdir: WorkDir) -> tuple[dict[str, Any], list[str]]:
    try:
        return workdir.read_meta(), []
    except HeadwaterError as exc:
        return {}, [str(exc)]


def _run_summary(record: dict[str, Any]) -> dict[str, Any]:
    tables = record.get("tables") or {}
    return {
        "run_id": record["run_id"],
        "kind": record["kind"],
        "status": record["status"],
        "started_at": record["started_at"],
        "ended_at": record["ended_at"],
        "seconds": record["seconds"],
        "rows": record["rows"] or 0,
        "load_ids": record["load_ids"],
        "tables": {name: _rows(t) for name, t in tables.items()},
        "schema": record["schema"],
        "error": record["error"],
        "metrics": record["metrics"],
    }


def _rows(table: Any) -> int:
    rows = table.get("rows") if isinstance(table, dict) else table
    return rows if isinstance(rows, int) else 0


def _tables(records: list[dict[str, Any]], counts: dict[str, int] | None, own: set[str]) -> list[dict[str, Any]]:
    """Each table with its rows now (None when the destination could not be read) and the rows each
    run loaded into it (its growth), oldest run first."""
    names = set(counts or {}) | {t for r in records for t in r.get("tables") or {}} | own
    out = []
    for name in sorted(n for n in names if not n.startswith("_hw_")):
        growth = [
            {"run_id": r["run_id"], "rows": _rows((r.get("tables") or {}).get(name, 0))}
            for r in records
            if r["status"] == "completed" and r["kind"] != "extract"  # an extraction loads nothing
        ]
        out.append({"name": name, "rows": (counts or {}).get(name), "growth": growth})
    return out


def _local_schemas(workdir: WorkDir, problems: list[str]) -> list[dict[str, Any]]:
    out = []
    for name in workdir.schema_names():
        try:
            schema = workdir.read_schema(name)
        except HeadwaterError as exc:
            problems.append(str(exc))
            continue
        if schema is not None:
            out.append(schema.to_dict() | {"tables": {t["name"]: t for t in schema.to_dict()["tables"]}})
    return out


def _schemas(stored: list[dict[str, Any]], local: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per schema, its versions oldest first, each with the diff from the one before. The versions are
    those the destination stores; the working folder's copy is added when it is newer (not loaded yet)."""
    from headwater.schema.model import Schema

    by_name: dict[str, dict[int, dict[str, Any]]] = {}
    for row in stored:
        by_name.setdefault(row["schema_name"], {})[int(row["version"])] = row
    for schema in local:
        versions = by_name.setdefault(schema["name"], {})
        if schema["version"] not in versions:
            doc = {k: v for k, v in schema.items() if k != "tables"} | {"tables": list(schema["tables"].values())}
            versions[schema["version"]] = {"version": schema["version"], "schema": doc, "load_id": None, "local": True}
    out = []
    for name in sorted(by_name):
        previous: Schema | None = None
        shown = []
        for number in sorted(by_name[name]):
            row = by_name[name][number]
            current = Schema.from_json(row["schema"]) if isinstance(row["schema"], str) else _from_doc(row["schema"])
            shown.append(
                {
                    "version": number,
                    "load_id": row.get("load_id"),
                    "inserted_at": row.get("inserted_at"),
                    "local_only": bool(row.get("local")),
                    "tables": {
                        t.name: {c.name: str(c.type) for c in t.columns.values()} for t in current.tables.values()
                    },
                    "diff": _diff(current, previous),
                }
            )
            previous = current
        out.append({"name": name, "versions": shown})
    return out


def _from_doc(doc: dict[str, Any]) -> Any:
    from headwater.schema.model import Schema

    return Schema.from_json(json.dumps(doc))


def _diff(current: Any, previous: Any) -> dict[str, Any] | None:
    """Tables added, columns added and column types changed since ``previous`` (None for the first)."""
    if previous is None:
        return None
    diff = current.diff(previous)
    return {
        "new_tables": list(diff.new_tables),
        "added": [
            {"table": c.table, "column": c.column, "type": c.data_type}
            for c in diff.changes
            if c.kind == "add" and c.table not in diff.new_tables
        ],
        "changed": [
            {"table": c.table, "column": c.column, "from": c.previous_type, "to": c.data_type}
            for c in diff.changes
            if c.kind != "add"
        ],
    }


def _state(workdir: WorkDir, records: list[dict[str, Any]], problems: list[str]) -> dict[str, Any] | None:
    """The working folder's state: version, load, cursors (with the newest lag a run measured) and the
    resources' own values; the whole document as ``raw``."""
    try:
        state = workdir.read_state()
    except HeadwaterError as exc:
        problems.append(str(exc))
        return None
    if state is None:
        return None
    lags: dict[str, Any] = {}
    for record in records:  # oldest first: the newest measurement wins
        for resource, cursor in ((record.get("metrics") or {}).get("cursors") or {}).items():
            if isinstance(cursor, dict) and cursor.get("lag_seconds") is not None:
                lags[resource] = cursor["lag_seconds"]
    cursors = []
    resources = []
    for source, src in state.data.get("sources", {}).items():
        for resource, paths in (src.get("incremental") or {}).items():
            for path, slot in (paths or {}).items():
                cursors.append(
                    {
                        "source": source,
                        "resource": resource,
                        "cursor": path,
                        "last_value": decode_value(slot.get("last_value")) if isinstance(slot, dict) else slot,
                        "lag_seconds": lags.get(resource),
                    }
                )
        for resource, values in (src.get("resources") or {}).items():
            if values:
                resources.append({"source": source, "resource": resource, "values": values})
    return {
        "version": state.version,
        "load_id": state.load_id,
        "cursors": cursors,
        "resources": resources,
        "raw": state.data,
    }


def _plain(value: Any) -> Any:
    """``value`` with every datetime, date, decimal, UUID and bytes made JSON text."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, float) and value != value:  # NaN is no JSON
        return None
    return value
