"""What a flow's run tells Dagster: materialization metadata and asset check results, from a ``LoadInfo``.

Pure functions from a run's :class:`~headwater.LoadInfo` and the pipeline's stored schema to Dagster
values; :mod:`headwater.integrations.dagster` builds the assets that emit them. Keys:

* ``rows_loaded``: rows this run wrote to the data tables (per table: to the table itself);
  ``rows_by_table`` (per flow), ``child_tables`` (per table: rows per child table), ``rows_quarantined``
  (per flow, when a check set rows aside);
* ``run_id`` (``headwater runs show FLOW RUN_ID``), ``load_ids``, ``destination``, ``dataset``,
  ``extract_seconds``, ``load_seconds``;
* ``schema``, ``schema_version``: the pipeline's schema and the version its newest load committed;
* ``dagster/column_schema``: the table's columns and types (per flow: when the flow writes one table),
  ``columns/<table>`` for each table (per table: for each child table), ``new_columns``;
* ``dagster/table_name`` (per table): ``dataset.table``;
* ``checks``: each data-quality check's result, with ``checks_passed`` and ``checks_failed``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import dagster as dg

from headwater.pipelines.info import LoadInfo
from headwater.pipelines.workdir import WorkDir
from headwater.schema.checks import SAMPLES, Check, CheckResult
from headwater.schema.model import Schema, Table
from headwater.schema.system import QUARANTINE_TABLE, SYSTEM_PREFIX

#: a table of the pipeline's schemas, with the schema it belongs to
StoredTable = tuple[Schema, Table]


def stored_tables(working_folder: str | Path | None) -> dict[str, StoredTable]:
    """The data tables (``_hw_`` system tables left out) of the schemas in a pipeline's working folder."""
    if working_folder is None:
        return {}
    workdir = WorkDir(Path(working_folder))
    out: dict[str, StoredTable] = {}
    for name in workdir.schema_names():
        schema = workdir.read_schema(name)
        if schema is None:
            continue
        for table in schema.tables.values():
            if not table.name.startswith(SYSTEM_PREFIX):
                out.setdefault(table.name, (schema, table))
    return out


def column_schema(table: Table) -> dg.TableSchema:
    """The table's data columns (Headwater's ``_hw_`` columns left out) as a Dagster ``TableSchema``."""
    columns = []
    for c in table.data_columns():
        column = dg.TableColumnConstraints(nullable=c.nullable, other=["primary key"] if c.primary_key else [])
        note = f"variant of {c.variant_of}" if c.variant_of else None
        columns.append(dg.TableColumn(c.name, str(c.type), description=note, constraints=column))
    keys = table.primary_key
    constraints = dg.TableConstraints(other=[f"primary key ({', '.join(keys)})"]) if keys else None
    return dg.TableSchema(columns=columns, constraints=constraints)


def merged_checks(info: LoadInfo) -> list[CheckResult]:
    """The run's check results, one per table and check: a run that loads several packages (one left
    waiting by an earlier run, then its own) adds their counts up."""
    merged: dict[tuple[str, str], CheckResult] = {}
    for result in info.checks:
        key = (result.table, result.check)
        seen = merged.get(key)
        if seen is None:
            merged[key] = replace(result, samples=list(result.samples))
            continue
        seen.checked += result.checked
        seen.failing += result.failing
        seen.samples = (seen.samples + result.samples)[:SAMPLES]
        seen.error = seen.error or result.error
    return list(merged.values())


def check_entry(result: CheckResult) -> dict[str, Any]:
    """One check's result for the ``checks`` metadata (sample rows stay in ``_hw_checks`` and the
    asset check's own metadata)."""
    return {
        "table": result.table,
        "check": result.check,
        "kind": result.kind,
        "severity": result.severity,
        "description": result.description,
        "passed": result.passed,
        "checked": result.checked,
        "failing": result.failing,
        "error": result.error,
    }


def _checks(results: list[CheckResult]) -> dict[str, Any]:
    if not results:
        return {}
    failed = sum(not r.passed for r in results)
    return {
        "checks": dg.MetadataValue.json([check_entry(r) for r in results]),
        "checks_passed": dg.MetadataValue.int(len(results) - failed),
        "checks_failed": dg.MetadataValue.int(failed),
    }


def _run(info: LoadInfo, tables: dict[str, StoredTable], table: str | None = None) -> dict[str, Any]:
    """What every materialization of a run carries: run id, loads, schema and version, durations."""
    out: dict[str, Any] = {
        "run_id": dg.MetadataValue.text(info.run_id or ""),
        "load_ids": dg.MetadataValue.json(info.load_ids),
        "destination": dg.MetadataValue.text(info.destination),
        "dataset": dg.MetadataValue.text(info.dataset),
    }
    if info.loads:
        newest = info.loads[-1]
        schema_name, version = newest.schema_name, newest.schema_version
    else:  # nothing new to load: the schema as the last run left it
        stored = tables.get(table) if table is not None else next(iter(tables.values()), None)
        schema_name, version = (stored[0].name, stored[0].version) if stored is not None else ("", 0)
    if schema_name:
        out["schema"] = dg.MetadataValue.text(schema_name)
        out["schema_version"] = dg.MetadataValue.int(version)
    out["extract_seconds"] = dg.MetadataValue.float(round(sum(load.extract_seconds for load in info.loads), 3) + 0.0)
    out["load_seconds"] = dg.MetadataValue.float(round(sum(load.load_seconds for load in info.loads), 3) + 0.0)
    return out


def _new_columns(info: LoadInfo) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for load in info.loads:
        for name, t in load.tables.items():
            if t.new_columns:
                out.setdefault(name, []).extend(c for c in t.new_columns if c not in out.get(name, []))
    return out


def flow_metadata(info: LoadInfo, tables: dict[str, StoredTable]) -> dict[str, Any]:
    """The metadata of a flow's materialization (one asset for the whole flow)."""
    rows = info.table_rows()
    data_rows = {t: n for t, n in rows.items() if not t.startswith(SYSTEM_PREFIX)}
    out: dict[str, Any] = {
        "rows_loaded": dg.MetadataValue.int(sum(data_rows.values())),
        "rows_by_table": dg.MetadataValue.json(data_rows),
    }
    quarantined = rows.get(QUARANTINE_TABLE, 0)
    if quarantined:
        out["rows_quarantined"] = dg.MetadataValue.int(quarantined)
    out.update(_run(info, tables))
    out.update(_checks(merged_checks(info)))
    new_columns = _new_columns(info)
    if new_columns:
        out["new_columns"] = dg.MetadataValue.json(new_columns)
    if info.models:
        out["models"] = dg.MetadataValue.json(
            [{"name": m.name, "status": m.status, "rows": m.rows, "error": m.error} for m in info.models]
        )
    if len(tables) == 1:
        out["dagster/column_schema"] = column_schema(next(iter(tables.values()))[1])
    for name, (_, table) in tables.items():
        out[f"columns/{name}"] = column_schema(table)
    return out


def table_metadata(info: LoadInfo, table: str, tables: dict[str, StoredTable]) -> dict[str, Any]:
    """The metadata of one table's materialization (one asset per table): the table's own rows, checks
    and columns, and its child tables' rows and columns (they load with it, in one transaction)."""
    rows = info.table_rows()
    out: dict[str, Any] = {
        "rows_loaded": dg.MetadataValue.int(rows.get(table, 0)),
        "dagster/table_name": dg.MetadataValue.text(f"{info.dataset}.{table}"),
    }
    out.update(_run(info, tables, table))
    out.update(_checks([r for r in merged_checks(info) if r.table == table]))
    new_columns = _new_columns(info)
    if new_columns.get(table):
        out["new_columns"] = dg.MetadataValue.json(new_columns[table])
    stored = tables.get(table)
    if stored is None:  # nothing loaded into it yet
        return out
    out["dagster/column_schema"] = column_schema(stored[1])
    children = stored[0].children_of(table)
    if children:
        out["child_tables"] = dg.MetadataValue.json({c.name: rows.get(c.name, 0) for c in children})
    for child in children:
        out[f"columns/{child.name}"] = column_schema(child)
    return out


def check_result(key: dg.AssetKey, name: str, check: Check, result: CheckResult | None) -> dg.AssetCheckResult:
    """The Dagster asset check result of one declared check: what it found in this run, or, when it did
    not run (nothing was loaded into the table), a pass that says so (the table is as the last load,
    which the check gated, left it)."""
    if result is None:
        return dg.AssetCheckResult(
            asset_key=key,
            check_name=name,
            passed=True,
            description=f"{check.describe()}: did not run (nothing loaded into the table in this run)",
            metadata={"ran": False, "severity": check.severity},
        )
    metadata: dict[str, Any] = {
        "ran": True,
        "severity": result.severity,
        "checked": result.checked,
        "failing": result.failing,
    }
    if result.samples:
        metadata["samples"] = dg.MetadataValue.json(result.samples)
    if result.error is not None:
        metadata["error"] = dg.MetadataValue.text(result.error)
    # a failed "fail" check stops the load (the step fails); "warn" and "quarantine" ones loaded
    severity = dg.AssetCheckSeverity.ERROR if result.severity == "fail" else dg.AssetCheckSeverity.WARN
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=name,
        passed=result.passed,
        severity=severity,
        description=str(result),
        metadata=metadata,
    )
