"""The ``_hw_loads`` table of a lake destination: its rows, and reading the newest state and schema.

A table format has no transaction across tables, so a load is recorded last, as one row of
``_hw_loads`` carrying the load id, the pipeline state and (when it changed) the schema; the commits
of the data tables carry the load id in their metadata under :data:`LOAD_ID_PROPERTY`.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import orjson

from headwater.schema.model import Schema
from headwater.schema.state import PipelineState

if TYPE_CHECKING:
    import pyarrow as pa

#: keys of the commit metadata (Iceberg snapshot summaries, Delta commit info) a load writes
LOAD_ID_PROPERTY = "headwater.load_id"
PIPELINE_PROPERTY = "headwater.pipeline"
STATE_PROPERTY = "headwater.state"

#: statuses of rows in ``_hw_loads``: a load, or a state committed on its own (a reset)
COMPLETED = "completed"
STATE_ONLY = "state"


def loads_schema() -> pa.Schema:
    """The Arrow schema of ``_hw_loads``."""
    import pyarrow as pa

    ts = pa.timestamp("us", tz="UTC")
    return pa.schema(
        [
            ("load_id", pa.string()),
            ("pipeline_name", pa.string()),
            ("schema_name", pa.string()),
            ("schema_version", pa.int64()),
            ("schema_version_hash", pa.string()),
            ("status", pa.string()),
            ("rows", pa.int64()),
            ("table_rows", pa.string()),
            ("state_version", pa.int64()),
            ("state", pa.string()),
            ("schema", pa.string()),
            ("extracted_at", ts),
            ("loaded_at", ts),
        ]
    )


def load_row(
    load_id: str | None,
    pipeline_name: str,
    schema: Schema | None,
    rows: dict[str, int],
    state: PipelineState | None,
    status: str,
    extracted_at: float,
    loaded_at: float,
    *,
    keep_schema: bool,
) -> dict[str, Any]:
    """A ``_hw_loads`` row; the schema document only when ``keep_schema`` (it changed)."""
    return {
        "load_id": load_id,
        "pipeline_name": pipeline_name,
        "schema_name": schema.name if schema else None,
        "schema_version": schema.version if schema else None,
        "schema_version_hash": schema.version_hash if schema else None,
        "status": status,
        "rows": sum(rows.values()),
        "table_rows": orjson.dumps(rows).decode(),
        "state_version": state.version if state is not None else None,
        "state": state.to_json(indent=False).decode() if state is not None else None,
        "schema": schema.to_json(indent=False).decode() if schema and keep_schema else None,
        "extracted_at": dt.datetime.fromtimestamp(extracted_at, dt.UTC),
        "loaded_at": dt.datetime.fromtimestamp(loaded_at, dt.UTC),
    }


def newest(loads: pa.Table | None, key: str, value: str, document: str, version: str) -> str | None:
    """The ``document`` column of the ``_hw_loads`` row with the highest ``version`` among those whose
    ``key`` is ``value`` and that hold a document (the newest state or schema), or None."""
    import pyarrow.compute as pc

    if loads is None or loads.num_rows == 0:
        return None
    rows = loads.filter(pc.and_(pc.equal(loads[key], value), pc.is_valid(loads[document])))
    if rows.num_rows == 0:
        return None
    newest = pc.index(rows[version], pc.max(rows[version])).as_py()
    text: str = rows[document][newest].as_py()
    return text


def already_loaded(loads: pa.Table | None, load_id: str) -> bool:
    """Whether ``loads`` (the ``_hw_loads`` rows) records ``load_id`` as completed."""
    import pyarrow.compute as pc

    if loads is None:
        return False
    mask = pc.and_(pc.equal(loads["load_id"], load_id), pc.equal(loads["status"], COMPLETED))
    return bool(pc.any(mask).as_py())
