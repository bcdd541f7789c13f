"""The load of destinations made of table formats and files (Iceberg, Delta, plain files): :class:`LakeClient`.

These destinations have no transaction spanning tables. Each table commit is atomic on its own and
carries the load id in its commit metadata (``headwater.load_id``: Iceberg snapshot properties,
Delta commit info, or the file names of a plain-files load). A load is::

    for each table of the package (child tables before their root in a merge):
        skip it if one of its commits already carries this load id   (a rerun after a crash)
        create it or add its new columns
        one commit: append, overwrite (replace), or delete-and-insert (merge)
    record the load last: a row in ``_hw_loads`` carrying the load id, the schema and the state

so a run killed at any instant and loaded again writes every table exactly once, and the state that
the next extraction starts from is only committed after all the data it describes. A format
subclasses :class:`LakeClient` and implements the table hooks of
:class:`~headwater.destinations.lake.hooks.TableFormat` (create/evolve, write, scan, drop); plain
files also replace the bookkeeping (their commit is a marker file written last). Merges are planned
by :class:`~headwater.destinations.lake.merge_plan.LakeMergePlanner`.
"""

from __future__ import annotations

import time
from abc import ABC
from typing import TYPE_CHECKING, Any

from headwater import names
from headwater._failpoints import failpoint
from headwater.destinations.checks import CHECKS_COLUMNS, PackageChecks
from headwater.destinations.common import arrow_table, tables_by_root, type_conflict
from headwater.destinations.lake.arrow import chunks, counted, lake_arrow_type, same_storage
from headwater.destinations.lake.hooks import TableFormat
from headwater.destinations.lake.loads import (
    COMPLETED,
    LOAD_ID_PROPERTY,
    PIPELINE_PROPERTY,
    STATE_ONLY,
    STATE_PROPERTY,
    already_loaded,
    load_row,
    loads_schema,
    newest,
)
from headwater.destinations.lake.merge_plan import LakeMergePlanner
from headwater.destinations.lake.staged import StagedTables
from headwater.destinations.protocol import Capabilities, ClosingClient, LoadResult
from headwater.destinations.runs import RUNS_COLUMNS
from headwater.errors import ConfigError, DestinationError, HeadwaterError, LoadError
from headwater.packages.package import LoadPackage
from headwater.schema.model import Column, Schema, Table
from headwater.schema.state import PipelineState
from headwater.schema.stored import StoredColumn, StoredTables
from headwater.schema.system import CHECKS_TABLE, LOADS_TABLE, RUNS_TABLE, SYSTEM_PREFIX
from headwater.schema.types import DECIMAL_PRECISION_ONLY, DataType

if TYPE_CHECKING:
    import pyarrow as pa


class LakeClient(ClosingClient, TableFormat, ABC):
    """Base class of clients of table-format and file destinations (see the module docstring)."""

    capabilities: Capabilities
    #: Delta has no time type: such formats store times as text
    time_as_text: bool = False

    def __init__(self, dataset: str, partition_config: dict[str, list[str]] | None = None) -> None:
        # checked again here: the dataset names a folder or a namespace of every table location
        self.dataset = names.dataset_name(dataset, max_bytes=self.capabilities.max_identifier_length)
        #: ``{table: [partition spec, ...]}`` from the destination's configuration
        self.partition_config = dict(partition_config or {})
        #: ``_hw_loads`` as this client last read it, until it writes the table (see :meth:`read_loads`)
        self._loads: tuple[pa.Table | None] | None = None

    # -- bookkeeping (plain files override these: their commit is a marker file) ------------------
    def read_loads(self, *, again: bool = False) -> pa.Table | None:
        """The ``_hw_loads`` rows, or None before the first load.

        Read once per client (``again``: read now) until the client writes the table: the state and the
        schema before a run are read from the same rows, and on Iceberg and Delta each read is a scan of
        the table's files.
        """
        if self._loads is None or again:
            rows = self.scan(LOADS_TABLE, loads_schema().names) if LOADS_TABLE in self.table_names() else None
            self._loads = (rows,)
        return self._loads[0]

    def record_load(self, row: dict[str, Any], properties: dict[str, str]) -> None:
        """Append one row to ``_hw_loads`` (the last commit of a load)."""
        import pyarrow as pa

        self._loads = None
        schema = loads_schema()
        self.evolve(LOADS_TABLE, schema, [])
        data = pa.Table.from_pylist([row], schema=schema)
        self.write(LOADS_TABLE, [data], schema, mode="append", delete=None, properties=properties)

    def runs_schema(self) -> pa.Schema:
        """The Arrow schema of ``_hw_runs`` in this format."""
        import pyarrow as pa

        return pa.schema(
            [pa.field(n, lake_arrow_type(Column(n, t), time_as_text=self.time_as_text)) for n, t in RUNS_COLUMNS]
        )

    def record_run(self, row: dict[str, Any]) -> None:
        """Append a run's row to ``_hw_runs`` (one commit of its own)."""
        import pyarrow as pa

        schema = self.runs_schema()
        self.evolve(RUNS_TABLE, schema, [])
        data = pa.Table.from_pylist([row], schema=schema)
        self.write(
            RUNS_TABLE, [data], schema, mode="append", delete=None, properties={PIPELINE_PROPERTY: row["pipeline"]}
        )

    def forget_runs(self, pipeline_name: str) -> None:
        """Remove a pipeline's rows from ``_hw_runs`` (one commit)."""
        import pyarrow.compute as pc

        if RUNS_TABLE not in self.table_names():
            return
        runs = self.scan(RUNS_TABLE, self.runs_schema().names)
        kept = runs.filter(pc.fill_null(pc.not_equal(runs["pipeline"], pipeline_name), True))
        if kept.num_rows < runs.num_rows:
            self.write(RUNS_TABLE, [kept], self.runs_schema(), mode="overwrite", delete=None, properties={})

    def forget_pipeline(self, pipeline_name: str, schema_names: list[str]) -> None:
        """Remove a pipeline's rows from ``_hw_loads`` (one commit)."""
        import pyarrow.compute as pc

        loads = self.read_loads(again=True)
        if loads is None:
            return
        keep = pc.and_(
            pc.not_equal(loads["pipeline_name"], pipeline_name),
            pc.invert(pc.is_in(loads["schema_name"], value_set=_strings(schema_names))),
        )
        kept = loads.filter(pc.fill_null(keep, True))
        self._loads = None
        self.write(LOADS_TABLE, [kept], loads_schema(), mode="overwrite", delete=None, properties={})

    # -- the DestinationClient protocol ----------------------------------------------------------
    def stored_state(self, pipeline_name: str) -> PipelineState | None:
        """The newest committed state of a pipeline, from ``_hw_loads``, if any."""
        raw = newest(self.read_loads(), "pipeline_name", pipeline_name, "state", "state_version")
        return PipelineState.from_json(raw) if raw is not None else None

    def stored_schema(self, schema_name: str) -> Schema | None:
        """The newest version of a schema stored in ``_hw_loads``, if any."""
        raw = newest(self.read_loads(), "schema_name", schema_name, "schema", "schema_version")
        return Schema.from_json(raw) if raw is not None else None

    def store_state(self, pipeline_name: str, state: PipelineState) -> None:
        """Commit a state without data (after a reset): one row of ``_hw_loads``."""
        now = time.time()
        row = load_row(state.load_id, pipeline_name, None, {}, state, STATE_ONLY, now, now, keep_schema=False)
        self.record_load(row, {PIPELINE_PROPERTY: pipeline_name})

    def drop(self, pipeline_name: str, tables: list[str], schema_names: list[str]) -> None:
        """Drop a pipeline's tables, then its rows of ``_hw_loads``."""
        existing = set(self.table_names())
        for table in tables:
            if table in existing:
                self.drop_table(table)
        self.forget_runs(pipeline_name)
        self.forget_pipeline(pipeline_name, schema_names)

    def query_arrow(self, sql: str) -> Any:
        """Run DuckDB SQL over the dataset's tables (read through Arrow) and return an Arrow table."""
        import duckdb

        con = duckdb.connect()
        try:
            lowered = sql.lower()
            for name in self.table_names():
                if name.lower() in lowered:  # read only the tables the query names
                    con.register(name, self.reader(name))
            return arrow_table(con.sql(sql))
        except duckdb.Error as exc:
            raise DestinationError(f"DuckDB failed: {exc}", statement=sql[:200]) from exc
        finally:
            con.close()

    # -- the load --------------------------------------------------------------------------------
    def load(self, package: LoadPackage, schema: Schema) -> LoadResult:
        """Load a package: one commit per table, then the ``_hw_loads`` row that marks the load as done."""
        started = time.perf_counter()
        manifest = package.manifest
        result = LoadResult(manifest.load_id)
        loads = self.read_loads(again=True)  # once, now: on Iceberg and Delta each read is a table scan
        if already_loaded(loads, manifest.load_id):
            result.already_loaded = True
            return result
        checks = PackageChecks(package)
        if checks:  # before the first commit: a failure commits nothing
            self._run_checks(checks, package, schema)
            result.checks = checks.results
        stored_schema = newest(loads, "schema_name", schema.name, "schema", "schema_version")
        keep_schema = stored_schema is None or Schema.from_json(stored_schema).version_hash != schema.version_hash
        properties = {LOAD_ID_PROPERTY: manifest.load_id, PIPELINE_PROPERTY: manifest.pipeline}
        roots = tables_by_root(schema, manifest.tables)
        for root in manifest.replace_tables:
            if root in schema.tables:  # replaced with nothing: the root and its children become empty
                names = roots.setdefault(root, [])
                for table in [schema.tables[root], *schema.children_of(root)]:
                    if table.name not in names:
                        names.append(table.name)
        try:
            for root, names in roots.items():
                table = schema.tables[root]
                try:
                    if table.write_disposition == "merge":
                        result.rows.update(LakeMergePlanner(self, schema, table, package, properties).run())
                    else:
                        mode = "overwrite" if root in manifest.replace_tables else "append"
                        for name in names:
                            result.rows[name] = self._write_files(schema.tables[name], package, mode, properties)
                    failpoint("load.after_insert")
                except HeadwaterError:
                    raise
                except Exception as exc:
                    raise LoadError(
                        f"loading {root!r} into {self.capabilities.name} failed: {exc}",
                        hint="tables committed before the failure are skipped when the package is loaded "
                        "again; fix the cause and run again",
                        table=root,
                        load_id=manifest.load_id,
                    ) from exc
            failpoint("load.before_commit")
            state_raw = package.read_state()
            state = PipelineState.from_json(state_raw) if state_raw is not None else None
            row = load_row(
                manifest.load_id,
                manifest.pipeline,
                schema,
                result.rows,
                state,
                COMPLETED,
                manifest.created_at,
                time.time(),
                keep_schema=keep_schema,
            )
            if checks:
                self._record_checks(checks, properties)
            props = dict(properties)
            if state is not None:
                props[STATE_PROPERTY] = state.to_json(indent=False).decode()
            self.record_load(row, props)
        except HeadwaterError:
            raise
        except Exception as exc:
            raise DestinationError(f"{self.capabilities.name} failed: {exc}") from exc
        result.seconds = time.perf_counter() - started
        return result

    # -- checks ----------------------------------------------------------------------------------
    runs_checks = True

    def _run_checks(self, checks: PackageChecks, package: LoadPackage, schema: Schema) -> None:
        """Table checks on the tables as the load would leave them (:mod:`.staged`), then the verdict."""
        if checks.tables:
            staged = StagedTables(self, package, schema)
            try:
                checks.run(staged.source, staged.query, names.quote_identifier, "to_json")
            finally:
                staged.close()
        checks.verdict()

    def _record_checks(self, checks: PackageChecks, properties: dict[str, str]) -> None:
        """Append the load's ``_hw_checks`` rows (one commit; skipped when a rerun finds it made)."""
        import pyarrow as pa

        if properties[LOAD_ID_PROPERTY] in self.committed_load_ids(CHECKS_TABLE):
            return
        schema = pa.schema(
            [pa.field(n, lake_arrow_type(Column(n, t), time_as_text=self.time_as_text)) for n, t in CHECKS_COLUMNS]
        )
        self.evolve(CHECKS_TABLE, schema, [])
        data = pa.Table.from_pylist(checks.rows(), schema=schema)
        self.write(CHECKS_TABLE, [data], schema, mode="append", delete=None, properties=properties)

    # -- helpers for loads -----------------------------------------------------------------------
    def arrow_schema(self, table: Table) -> pa.Schema:
        """The Arrow schema ``table`` is written with (columns of other writers keep their stored type)."""
        import pyarrow as pa

        stored = self.table_schema(table.name) if any(c.foreign for c in table.columns.values()) else None
        fields = []
        for c in table.columns.values():
            if c.foreign and stored is not None and c.name in stored.names:
                fields.append(stored.field(c.name))  # another writer's type: Headwater writes only nulls there
            else:
                fields.append(pa.field(c.name, lake_arrow_type(c, time_as_text=self.time_as_text)))
        return pa.schema(fields)

    # -- the types stored ------------------------------------------------------------------------
    def stored_tables(self) -> StoredTables:
        """The dataset's tables and the Headwater types their columns hold."""
        out: dict[str, dict[str, StoredColumn]] = {}
        for name in self.table_names():
            if name.startswith(SYSTEM_PREFIX):
                continue
            schema = self.table_schema(name)
            if schema is not None:
                out[name] = {f.name: StoredColumn(str(f.type), self.stored_types(f.type)) for f in schema}
        return StoredTables(out)

    def stored_types(self, t: pa.DataType) -> tuple[DataType, ...]:
        """The Headwater types that this format stores as Arrow type ``t`` (empty: none)."""
        import pyarrow as pa

        from headwater.normalize.arrow_types import from_arrow, is_uuid

        if pa.types.is_string(t) or pa.types.is_large_string(t) or str(t) == "string_view":
            texts = [DataType("text"), DataType("uuid"), DataType("json")]
            return (*texts, DataType("time")) if self.time_as_text else tuple(texts)
        if is_uuid(t) or (pa.types.is_fixed_size_binary(t) and t.byte_width == 16):
            return (DataType("uuid"),)
        exact = (
            pa.types.is_boolean(t)
            or t == pa.int64()
            or t == pa.float64()
            or pa.types.is_decimal(t)
            or pa.types.is_date32(t)
            or (pa.types.is_time64(t) and t.unit == "us")
            or (pa.types.is_timestamp(t) and t.tz is not None and t.unit == "us")
            or pa.types.is_binary(t)
            or pa.types.is_large_binary(t)
        )
        found = from_arrow(t) if exact else None
        return (found,) if found is not None else ()

    def check_stored(self, table: Table, schema: pa.Schema) -> None:
        """Refuse to write a column whose stored type differs from the package's (another writer changed it
        after extraction): the format would cast or reject every value."""
        stored = self.table_schema(table.name)
        if stored is None:
            return
        for col in table.columns.values():
            if col.foreign or col.name not in stored.names:
                continue
            have = stored.field(col.name).type
            if col.type in self.stored_types(have) or same_storage(have, schema.field(col.name).type):
                continue
            widening = [(t.name, col.data_type) in self.capabilities.type_widening for t in self.stored_types(have)]
            decimal_growth = (
                DECIMAL_PRECISION_ONLY in self.capabilities.type_widening
                and col.data_type == "decimal"
                and any(t.name == "decimal" and t.scale == col.scale for t in self.stored_types(have))
            )
            if any(widening) or decimal_growth:
                continue
            raise type_conflict(table.name, col.name, str(have), str(col.type))

    #: Iceberg partitions by transforms (``day(ts)``); files and Delta only by plain columns
    partition_transforms: bool = False

    def partition_columns(self, table: Table) -> list[str]:
        """What a new table is partitioned by: the destination's ``partition_by`` for it, else the
        resource's ``partition_by`` hint. Columns (or, where ``partition_transforms``, transforms such
        as ``day(ts)``); validated against the table."""
        configured = self.partition_config.get(table.name)
        specs = [str(s) for s in configured] if configured is not None else list(table.partition_by)
        name = self.capabilities.name
        transforms = [s for s in specs if "(" in s]
        if transforms and not self.partition_transforms:
            raise ConfigError(
                f"table {table.name!r}: {name} partitions by columns, not transforms ({', '.join(transforms)})",
                hint="partition by a column (a date column, say); Iceberg takes transforms",
                table=table.name,
            )
        missing = [s for s in specs if "(" not in s and s not in table.columns]
        if missing:
            raise ConfigError(
                f"partition_by for table {table.name!r} names columns it does not have: {', '.join(missing)}",
                hint=f"its columns: {', '.join(c for c in table.columns if not c.startswith(SYSTEM_PREFIX))}",
                table=table.name,
            )
        return specs

    def prepare(self, table: Table) -> pa.Schema:
        """Create or evolve ``table`` and return the Arrow schema its data is written with."""
        schema = self.arrow_schema(table)
        self.check_stored(table, schema)
        self.evolve(table.name, schema, self.partition_columns(table))
        return schema

    def _write_files(self, table: Table, package: LoadPackage, mode: str, properties: dict[str, str]) -> int:
        files = package.manifest.tables.get(table.name)
        if properties[LOAD_ID_PROPERTY] in self.committed_load_ids(table.name):
            return files.rows if files else 0
        schema = self.prepare(table)
        counter = [0]
        paths = package.file_paths(table.name) if files and files.files else []
        self.write(
            table.name, counted(chunks(paths, schema), counter), schema, mode=mode, delete=None, properties=properties
        )
        return counter[0]


def _strings(values: list[str]) -> pa.Array:
    import pyarrow as pa

    return pa.array(values, pa.string())
