"""Shared machinery for SQL destinations: DDL from the schema and the one-transaction load.

A SQL destination subclasses :class:`SqlClient` and provides a connection, a type map, identifier
quoting and the bulk insert of a table's package files. The load algorithm is the same everywhere::

    BEGIN
      create the dataset and the system tables if missing
      skip everything if the load id is already recorded (a rerun after a crash that happened
          after the commit but before the package was marked loaded)
      create new tables, add new columns, widen widened columns
      for each replaced table: delete its rows (and its child tables' rows)
      bulk-insert every table's files
      record the schema version (if new) and the load
    COMMIT
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

from headwater import names
from headwater._failpoints import failpoint
from headwater.destinations.checks import CHECKS_COLUMNS, PackageChecks
from headwater.destinations.common import tables_by_root
from headwater.destinations.protocol import Capabilities, ClosingClient, LoadResult
from headwater.destinations.runs import RUNS_COLUMNS
from headwater.destinations.sql.merge import SqlMerge
from headwater.destinations.sql.migrate import migrate
from headwater.destinations.sql.types import stored_data_type
from headwater.errors import DestinationError, LoadError
from headwater.packages.package import LoadPackage
from headwater.schema.model import Column, Schema, Table
from headwater.schema.state import PipelineState
from headwater.schema.stored import StoredColumn, StoredTables
from headwater.schema.system import CHECKS_TABLE, LOADS_TABLE, MODELS_TABLE, RUNS_TABLE, SCHEMAS_TABLE, STATE_TABLE
from headwater.schema.types import DataType

KEEP_STATE_VERSIONS = 10


class SqlClient(ClosingClient, ABC):
    """Base class of SQL destination clients (see the module docstring for the load algorithm)."""

    capabilities: Capabilities
    #: Headwater type name -> SQL type, for every type but decimal
    type_map: dict[str, str]

    #: set by destinations whose connections see several catalogs (DuckDB names one after its file)
    catalog: str | None = None
    #: the SQL function turning a row (a table alias) into JSON, for sample rows of failed checks
    row_json: str = "to_json"
    runs_checks = True

    def __init__(self, dataset: str) -> None:
        # checked again here: a client opened directly must not build SQL from an unchecked name
        self.dataset = names.dataset_name(dataset, max_bytes=self.capabilities.max_identifier_length)

    # -- hooks -----------------------------------------------------------------------------------
    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run one statement and return its rows (empty for statements without rows)."""

    @abstractmethod
    def begin(self) -> None:
        """Begin a transaction."""

    @abstractmethod
    def commit(self) -> None:
        """Commit the transaction."""

    @abstractmethod
    def rollback(self) -> None:
        """Roll the transaction back."""

    @abstractmethod
    def close(self) -> None:
        """Release the connection."""

    @abstractmethod
    def insert_files(
        self, table: Table, files: list[Path], *, target: str | None = None, with_seq: bool = False
    ) -> int:
        """Bulk-insert the package files of ``table`` (into ``target``, a temporary table, if given;
        ``with_seq`` adds a ``_hw_seq`` column numbering the rows in arrival order); returns the rows."""

    @abstractmethod
    def read_columns(self) -> dict[str, dict[str, str]]:
        """``{table: {column: sql type}}`` for the tables of the dataset, read from the catalog."""

    _columns: dict[str, dict[str, str]] | None = None

    def existing_columns(self) -> dict[str, dict[str, str]]:
        """The dataset's tables and columns (cached until this client changes them)."""
        if self._columns is None:
            self._columns = self.read_columns()
        return self._columns

    def changed_catalog(self) -> None:
        """Forget the cached columns (after DDL, or a rollback that undid DDL)."""
        self._columns = None

    def ident(self, name: str) -> str:
        """The physical identifier of a schema name (destinations with short identifiers shorten it)."""
        return name

    def ident_function(self) -> Callable[[str], str]:
        """:meth:`ident` as a plain function holding no connection (it travels to worker processes)."""
        return _same

    def quote(self, identifier: str) -> str:
        """The quoted physical identifier of a schema name."""
        return names.quote_identifier(self.ident(identifier))

    def sql_type(self, column: Column) -> str:
        """The SQL type of ``column`` (``DECIMAL(p,s)`` for decimals, else from :attr:`type_map`)."""
        if column.data_type == "decimal":
            return f"DECIMAL({column.precision},{column.scale})"
        return self.type_map[column.data_type]

    def hw_type(self, sql_type: str) -> str | None:
        """The Headwater type of an existing SQL column type (None if unknown)."""
        found = self.data_type(sql_type)
        return found.name if found is not None else None

    def data_type(self, sql_type: str) -> DataType | None:
        """The Headwater type an existing SQL column type stores exactly (None: one Headwater does not
        write, such as ``INTEGER`` or an unconstrained ``NUMERIC``)."""
        return stored_data_type(sql_type, self.type_map)

    def stored_tables(self) -> StoredTables:
        """The dataset's tables and column types, read from the catalog."""
        out: dict[str, dict[str, StoredColumn]] = {}
        for table, columns in self.existing_columns().items():
            stored = out.setdefault(table, {})
            for name, sql_type in columns.items():
                found = self.data_type(sql_type)
                stored[name] = StoredColumn(sql_type, (found,) if found is not None else ())
        return StoredTables(out, self.ident_function())

    # -- names -----------------------------------------------------------------------------------
    def dataset_ref(self) -> str:
        """The quoted dataset (schema), qualified by the catalog if the client has one."""
        if self.catalog:
            return f"{self.quote(self.catalog)}.{self.quote(self.dataset)}"
        return self.quote(self.dataset)

    def qualified(self, table: str) -> str:
        """The quoted, qualified name of ``table`` in the dataset."""
        return f"{self.dataset_ref()}.{self.quote(table)}"

    # -- SQL models (headwater.destinations.sql.models) ---------------------------------------------
    def use_dataset(self) -> None:
        """Let unqualified names in SQL resolve to the dataset's tables (then ``public``)."""
        self.execute(f"SET search_path TO {self.quote(self.dataset)}, public")

    def replace_table_as(self, table: str, sql: str) -> None:
        """Make ``table`` the result of the query ``sql`` within the open transaction (drop, then create)."""
        self.execute(f"DROP TABLE IF EXISTS {self.qualified(table)}")
        self.execute(f"CREATE TABLE {self.qualified(table)} AS {sql}\n")  # the query's lines keep their numbers

    # -- system tables ---------------------------------------------------------------------------
    def ensure_dataset(self) -> None:
        """Create the dataset's schema and the system tables if missing."""
        self.changed_catalog()
        self.execute(f"CREATE SCHEMA IF NOT EXISTS {self.dataset_ref()}")
        text, big, ts, js = (self.type_map[k] for k in ("text", "bigint", "timestamp", "json"))
        self.execute(
            f"CREATE TABLE IF NOT EXISTS {self.qualified(LOADS_TABLE)} ("
            f"load_id {text} NOT NULL, pipeline_name {text}, schema_name {text}, "
            f"schema_version {big}, schema_version_hash {text}, status {text}, rows {big}, "
            f"table_rows {js}, extracted_at {ts}, loaded_at {ts})"
        )
        self.execute(
            f"CREATE TABLE IF NOT EXISTS {self.qualified(SCHEMAS_TABLE)} ("
            f"schema_name {text} NOT NULL, version {big}, version_hash {text}, "
            f"schema {js}, load_id {text}, inserted_at {ts})"
        )
        self.execute(
            f"CREATE TABLE IF NOT EXISTS {self.qualified(STATE_TABLE)} ("
            f"pipeline_name {text} NOT NULL, version {big}, state {js}, load_id {text}, created_at {ts})"
        )

    def _has_table(self, table: str) -> bool:
        return self.ident(table) in self.existing_columns()

    def stored_state(self, pipeline_name: str) -> PipelineState | None:
        """The newest committed state of a pipeline, if any."""
        if not self._has_table(STATE_TABLE):
            return None
        rows = self.execute(
            f"SELECT CAST(state AS {self.type_map['text']}) FROM {self.qualified(STATE_TABLE)} "
            "WHERE pipeline_name = ? ORDER BY version DESC LIMIT 1",
            [pipeline_name],
        )
        return PipelineState.from_json(rows[0][0]) if rows else None

    def store_state(self, pipeline_name: str, state: PipelineState) -> None:
        """Commit a state on its own (a reset), in its own transaction."""
        self.begin()
        try:
            self.ensure_dataset()
            self._record_state(pipeline_name, state, state.load_id)
            self.commit()
        except BaseException:
            self._safe_rollback()
            raise

    def drop(self, pipeline_name: str, tables: list[str], schema_names: list[str]) -> None:
        """Drop a pipeline's tables and its rows in the system tables, in one transaction."""
        existing = self.existing_columns()
        self.begin()
        try:
            for table in tables:
                if self.ident(table) in existing:
                    self.execute(f"DROP TABLE {self.qualified(table)}")
            if STATE_TABLE in existing:
                self.execute(f"DELETE FROM {self.qualified(STATE_TABLE)} WHERE pipeline_name = ?", [pipeline_name])
            if LOADS_TABLE in existing:
                self.execute(f"DELETE FROM {self.qualified(LOADS_TABLE)} WHERE pipeline_name = ?", [pipeline_name])
            if CHECKS_TABLE in existing and tables:
                marks = ", ".join("?" for _ in tables)
                self.execute(f"DELETE FROM {self.qualified(CHECKS_TABLE)} WHERE table_name IN ({marks})", list(tables))
            if MODELS_TABLE in existing:
                self.execute(f"DELETE FROM {self.qualified(MODELS_TABLE)} WHERE pipeline_name = ?", [pipeline_name])
            if RUNS_TABLE in existing:
                self.execute(f"DELETE FROM {self.qualified(RUNS_TABLE)} WHERE pipeline = ?", [pipeline_name])
            if SCHEMAS_TABLE in existing:
                for name in schema_names:
                    self.execute(f"DELETE FROM {self.qualified(SCHEMAS_TABLE)} WHERE schema_name = ?", [name])
            self.commit()
            self.changed_catalog()
        except BaseException:
            self._safe_rollback()
            raise

    def _record_state(self, pipeline_name: str, state: PipelineState, load_id: str | None) -> None:
        self.execute(
            f"INSERT INTO {self.qualified(STATE_TABLE)} VALUES (?, ?, CAST(? AS {self.type_map['json']}), ?, now())",
            [pipeline_name, state.version, state.to_json(indent=False).decode(), load_id],
        )
        self.execute(
            f"DELETE FROM {self.qualified(STATE_TABLE)} WHERE pipeline_name = ? AND version <= ?",
            [pipeline_name, state.version - KEEP_STATE_VERSIONS],
        )

    def stored_schema(self, schema_name: str) -> Schema | None:
        """The newest version of a schema stored in the destination, if any."""
        if not self._has_table(SCHEMAS_TABLE):
            return None
        rows = self.execute(
            f"SELECT CAST(schema AS {self.type_map['text']}) FROM {self.qualified(SCHEMAS_TABLE)} "
            "WHERE schema_name = ? ORDER BY version DESC LIMIT 1",
            [schema_name],
        )
        return Schema.from_json(rows[0][0]) if rows else None

    # -- the load --------------------------------------------------------------------------------
    def load(self, package: LoadPackage, schema: Schema) -> LoadResult:
        """Load a package in one transaction: tables evolved, rows written, schema, state and load recorded.
        Rolled back on failure; a package loaded before is not loaded again."""
        started = time.perf_counter()
        manifest = package.manifest
        result = LoadResult(manifest.load_id)
        self.begin()
        try:
            self.ensure_dataset()
            done = self.execute(
                f"SELECT count(*) FROM {self.qualified(LOADS_TABLE)} WHERE load_id = ?", [manifest.load_id]
            )
            if done[0][0]:
                self.rollback()
                result.already_loaded = True
                return result
            self.migrate(schema)
            for root in manifest.replace_tables:
                for name in [root, *(t.name for t in schema.children_of(root))]:
                    if name in schema.tables:
                        self.execute(f"DELETE FROM {self.qualified(name)}")
            for root, names in tables_by_root(schema, manifest.tables).items():
                try:
                    if schema.tables[root].write_disposition == "merge":
                        merge = SqlMerge(self, schema, schema.tables[root], package, manifest.created_at)
                        result.rows.update(merge.run())
                    else:
                        for name in names:
                            result.rows[name] = self.insert_files(schema.tables[name], package.file_paths(name))
                    failpoint("load.after_insert")
                except DestinationError:
                    raise
                except Exception as exc:
                    raise LoadError(
                        f"loading {root!r} failed: {exc}",
                        hint="the load was rolled back and the package kept; fix the cause and run again",
                        table=root,
                        load_id=manifest.load_id,
                    ) from exc
            checks = PackageChecks(package)
            if checks:  # on the table as it is now, inside the transaction: a failure rolls the load back
                checks.run(self._check_source, self.execute, self.quote, self.row_json)
                checks.verdict()
                self._record_checks(checks)
                result.checks = checks.results
            self._record(package, schema, result)
            failpoint("load.before_commit")
            self.commit()
        except BaseException:
            self._safe_rollback()
            raise
        result.seconds = time.perf_counter() - started
        return result

    def _check_source(self, table: str) -> str | None:
        return f"SELECT * FROM {self.qualified(table)}" if self._has_table(table) else None

    def _record_checks(self, checks: PackageChecks) -> None:
        """The load's ``_hw_checks`` rows, in the load's transaction."""
        columns = ", ".join(f"{name} {self.type_map[kind]}" for name, kind in CHECKS_COLUMNS)
        self.execute(f"CREATE TABLE IF NOT EXISTS {self.qualified(CHECKS_TABLE)} ({columns})")
        values = ", ".join(f"CAST(? AS {self.type_map['json']})" if k == "json" else "?" for _, k in CHECKS_COLUMNS)
        for row in checks.rows():
            self.execute(f"INSERT INTO {self.qualified(CHECKS_TABLE)} VALUES ({values})", list(row.values()))

    def record_run(self, row: dict[str, Any]) -> None:
        """Append a run's row to ``_hw_runs`` (made, with the dataset, if missing) in a transaction of its own."""
        columns = ", ".join(f"{name} {self.type_map[kind]}" for name, kind in RUNS_COLUMNS)
        values = ", ".join(f"CAST(? AS {self.type_map['json']})" if k == "json" else "?" for _, k in RUNS_COLUMNS)
        self.begin()
        try:
            self.execute(f"CREATE SCHEMA IF NOT EXISTS {self.dataset_ref()}")
            self.execute(f"CREATE TABLE IF NOT EXISTS {self.qualified(RUNS_TABLE)} ({columns})")
            self.execute(
                f"INSERT INTO {self.qualified(RUNS_TABLE)} VALUES ({values})", [row[n] for n, _ in RUNS_COLUMNS]
            )
            self.commit()
        except BaseException:
            self._safe_rollback()
            raise
        self.changed_catalog()

    def _safe_rollback(self) -> None:
        self.changed_catalog()
        try:
            self.rollback()
        except Exception:
            pass

    def _record(self, package: LoadPackage, schema: Schema, result: LoadResult) -> None:
        manifest = package.manifest
        state = package.read_state()
        if state is not None:
            self._record_state(manifest.pipeline, PipelineState.from_json(state), manifest.load_id)
        known = self.execute(
            f"SELECT count(*) FROM {self.qualified(SCHEMAS_TABLE)} WHERE schema_name = ? AND version_hash = ?",
            [schema.name, schema.version_hash],
        )
        if not known[0][0]:
            self.execute(
                f"INSERT INTO {self.qualified(SCHEMAS_TABLE)} "
                f"VALUES (?, ?, ?, CAST(? AS {self.type_map['json']}), ?, now())",
                [
                    schema.name,
                    schema.version,
                    schema.version_hash,
                    schema.to_json(indent=False).decode(),
                    manifest.load_id,
                ],
            )
        self.execute(
            f"INSERT INTO {self.qualified(LOADS_TABLE)} "
            f"VALUES (?, ?, ?, ?, ?, 'completed', ?, CAST(? AS {self.type_map['json']}), to_timestamp(?), now())",
            [
                manifest.load_id,
                manifest.pipeline,
                schema.name,
                schema.version,
                schema.version_hash,
                sum(result.rows.values()),
                orjson.dumps(result.rows).decode(),
                manifest.created_at,
            ],
        )

    # -- DDL -------------------------------------------------------------------------------------
    def migrate(self, schema: Schema) -> None:
        """Create missing tables and columns and widen widened columns of ``schema``."""
        migrate(self, schema)

    def column_ddl(self, col: Column, *, create: bool = True) -> str:
        """A column's definition: quoted name, SQL type and, in a ``CREATE TABLE``, ``NOT NULL``."""
        ddl = f"{self.quote(col.name)} {self.sql_type(col)}"
        if create and not col.nullable and not col.system:
            ddl += " NOT NULL"
        return ddl


def _same(name: str) -> str:
    return name
