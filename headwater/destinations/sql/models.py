"""SQL models in a SQL destination: one model's table made, and every run recorded in ``_hw_models``.

Each model runs in a transaction of its own: its table is replaced (``CREATE OR REPLACE TABLE ... AS``
on DuckDB; ``DROP TABLE IF EXISTS`` then ``CREATE TABLE ... AS`` on PostgreSQL, whose DDL is
transactional too) and its ``_hw_models`` row is written in the same commit, so a table and its
record never disagree. A model that fails is rolled back (its previous table stays), then its failure
is recorded in a transaction of its own. The load that came before is committed already and stays.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from headwater.destinations.sql.client import SqlClient
from headwater.schema.system import LOADS_TABLE, MODELS_TABLE


@dataclass(frozen=True)
class ModelRecord:
    """One row of ``_hw_models``."""

    name: str
    pipeline_name: str
    load_id: str | None
    status: str  # "ok", "failed" or "skipped"
    rows: int | None
    seconds: float
    error: str | None
    sql_hash: str


def ensure_models_table(client: SqlClient) -> None:
    """Create the dataset and ``_hw_models`` if missing, in a transaction of its own."""
    text, big, ts, dbl = (client.type_map[k] for k in ("text", "bigint", "timestamp", "double"))
    client.begin()
    try:
        client.execute(f"CREATE SCHEMA IF NOT EXISTS {client.dataset_ref()}")
        client.execute(
            f"CREATE TABLE IF NOT EXISTS {client.qualified(MODELS_TABLE)} ("
            f"name {text} NOT NULL, pipeline_name {text}, load_id {text}, status {text} NOT NULL, rows {big}, "
            f"seconds {dbl}, error {text}, sql_hash {text}, ran_at {ts})"
        )
        client.commit()
    except BaseException:
        client._safe_rollback()
        raise
    client.changed_catalog()


def materialize(
    client: SqlClient, name: str, sql: str, *, pipeline_name: str, load_id: str | None, sql_hash: str
) -> int:
    """Replace the table ``name`` by the result of ``sql`` and record it, in one transaction; the rows made.

    Raises:
        DestinationError: the database refused the model (rolled back: the table is as it was).
    """
    started = time.perf_counter()
    client.begin()
    try:
        client.use_dataset()
        client.replace_table_as(name, sql)
        rows = int(client.execute(f"SELECT count(*) FROM {client.qualified(name)}")[0][0])
        seconds = time.perf_counter() - started
        _insert(client, ModelRecord(name, pipeline_name, load_id, "ok", rows, seconds, None, sql_hash))
        client.commit()
    except BaseException:
        client._safe_rollback()
        raise
    client.changed_catalog()
    return rows


def record(client: SqlClient, entry: ModelRecord) -> None:
    """Record a failed or skipped model, in a transaction of its own."""
    client.begin()
    try:
        _insert(client, entry)
        client.commit()
    except BaseException:
        client._safe_rollback()
        raise


def _insert(client: SqlClient, e: ModelRecord) -> None:
    client.execute(
        f"INSERT INTO {client.qualified(MODELS_TABLE)} VALUES (?, ?, ?, ?, ?, ?, ?, ?, now())",
        [e.name, e.pipeline_name, e.load_id, e.status, e.rows, e.seconds, e.error, e.sql_hash],
    )


def last_load_id(client: SqlClient, pipeline_name: str) -> str | None:
    """The newest load of ``pipeline_name`` committed in the dataset (None before the first)."""
    if client.ident(LOADS_TABLE) not in client.read_columns():
        return None
    rows = client.execute(
        f"SELECT max(load_id) FROM {client.qualified(LOADS_TABLE)} WHERE pipeline_name = ?", [pipeline_name]
    )
    return rows[0][0] if rows and rows[0][0] is not None else None
