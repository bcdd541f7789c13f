"""What the dashboard reads from a pipeline's destination, through ``pipeline.dataset()`` (read-only).

Row counts of the tables, the schema versions the destination stores (``_hw_schemas`` on the SQL
destinations; the ``schema`` column of ``_hw_loads`` rows on the table formats and files, set when a
load changed the schema), the check results (``_hw_checks``) and the quarantined rows
(``_hw_quarantine``). The SQL is plain enough for DuckDB (which also reads the table formats and files)
and PostgreSQL alike. A destination that cannot be read adds a line to ``problems``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from headwater.errors import HeadwaterError
from headwater.names import quote_identifier, quote_literal
from headwater.pipelines.workdir import WorkDir
from headwater.schema.model import LOAD_ID
from headwater.schema.system import CHECKS_TABLE, LOADS_TABLE, QUARANTINE_TABLE, SCHEMAS_TABLE, SYSTEM_PREFIX

#: the newest check results and quarantined rows read per pipeline
MAX_CHECKS = 200
QUARANTINE_SAMPLES = 20

#: runs one query: (what it reads, for a problem line; the SQL) -> its rows, or None when it failed
Query = Callable[[str, str], "list[dict[str, Any]] | None"]


def read_destination(workdir: WorkDir, own_tables: set[str], problems: list[str]) -> dict[str, Any]:
    """Row counts, schema versions, checks and quarantine of the pipeline of ``workdir``; keys are
    missing for what could not be read (each reason appended to ``problems``). ``own_tables`` (the
    tables of the pipeline's schemas) keeps other pipelines' rows of a shared dataset out."""
    from headwater.pipelines.pipeline import attach

    out: dict[str, Any] = {}
    try:
        pipeline = attach(workdir.root.name, workdir.root.parent)
        dataset = pipeline.dataset()
        tables = dataset.tables(system=True)
        if not tables:
            problems.append(
                f"{pipeline.destination.describe()} holds no table of dataset {dataset.name!r}: "
                "the pipeline has loaded nothing yet, or its destination was moved or dropped"
            )
            return out
    except HeadwaterError as exc:
        problems.append(f"the destination could not be read: {exc}")
        return out
    except Exception as exc:  # a driver's own error: shown, never a failed page
        problems.append(f"the destination could not be read: {type(exc).__name__}: {exc}")
        return out

    def query(what: str, sql: str) -> list[dict[str, Any]] | None:
        try:
            result: list[dict[str, Any]] = dataset.query(sql).to_pylist()
            return result
        except Exception as exc:
            problems.append(f"{what} could not be read: {exc}")
            return None

    data = [t for t in tables if not t.startswith(SYSTEM_PREFIX) and (not own_tables or t in own_tables)]
    if data:
        counts = query("the row counts", _count_sql(data))
        if counts is not None:
            out["row_counts"] = {r["t"]: int(r["n"]) for r in counts}
    versions = _schema_versions(tables, query)
    if versions is not None:
        out["schema_versions"] = versions
    only = f" WHERE table_name IN ({', '.join(quote_literal(t) for t in sorted(own_tables))})" if own_tables else ""
    if CHECKS_TABLE in tables:
        rows = query(
            "the check results",
            "SELECT load_id, table_name, check_name, kind, severity, description, checked_rows, failing_rows, "
            f"passed, error, CAST(samples AS TEXT) AS samples, checked_at FROM {quote_identifier(CHECKS_TABLE)}"
            f"{only} ORDER BY load_id DESC, table_name, check_name LIMIT {MAX_CHECKS}",
        )
        if rows is not None:
            out["checks"] = [r | {"samples": _json(r["samples"])} for r in rows]
    if QUARANTINE_TABLE in tables:
        out["quarantine"] = _quarantine(query, only)
    return out


def _count_sql(tables: list[str]) -> str:
    return " UNION ALL ".join(
        f"SELECT {quote_literal(t)} AS t, count(*) AS n FROM {quote_identifier(t)}" for t in sorted(tables)
    )


def _schema_versions(tables: list[str], query: Query) -> list[dict[str, Any]] | None:
    if SCHEMAS_TABLE in tables:
        return query(
            "the schema versions",
            "SELECT schema_name, version, CAST(schema AS TEXT) AS schema, load_id, inserted_at "
            f"FROM {quote_identifier(SCHEMAS_TABLE)} ORDER BY schema_name, version",
        )
    if LOADS_TABLE in tables:  # the table formats and files keep a changed schema in its load's row
        return query(
            "the schema versions",
            "SELECT schema_name, schema_version AS version, CAST(schema AS TEXT) AS schema, load_id, "
            f"loaded_at AS inserted_at FROM {quote_identifier(LOADS_TABLE)} WHERE schema IS NOT NULL "
            "ORDER BY schema_name, schema_version",
        )
    return []


def _quarantine(query: Query, only: str) -> dict[str, Any]:
    table = quote_identifier(QUARANTINE_TABLE)
    counts = query(
        "the quarantine counts",
        f"SELECT table_name, reason, count(*) AS n FROM {table}{only} GROUP BY table_name, reason "
        "ORDER BY n DESC, table_name, reason",
    )
    samples = query(
        "the quarantined rows",
        f"SELECT * FROM {table}{only} ORDER BY {quote_identifier(LOAD_ID)} DESC LIMIT {QUARANTINE_SAMPLES}",
    )
    keep = ("table_name", "resource", "reason", "check_name", LOAD_ID)
    return {
        "counts": [{"table": r["table_name"], "reason": r["reason"], "rows": int(r["n"])} for r in counts or []],
        "samples": [
            {k: r.get(k) for k in keep} | {"row": _json(r.get("row")), "load_id": r.get(LOAD_ID)} for r in samples or []
        ],
    }


def _json(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text
