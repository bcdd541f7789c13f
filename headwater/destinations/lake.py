"""Shared machinery for destinations made of table formats and files: Iceberg, Delta, plain files.

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
subclasses :class:`LakeClient` and implements the table hooks (create/evolve, write, scan, drop);
plain files also replace the bookkeeping (their commit is a marker file written last).

Merges (``delete-insert`` and ``upsert`` by primary key) are planned here in an in-memory DuckDB
over the package's Arrow data and the target's key columns: duplicates in the load are resolved
(the last row wins, or by ``dedup_sort``), rows flagged by a ``hard_delete`` column delete, and each
table is written with one delete-and-insert commit keyed by row ids, so every format only needs
"delete the rows whose ``<column>`` is in this set, then append" as one commit.
"""

from __future__ import annotations

import re
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from headwater import names
from headwater._failpoints import failpoint
from headwater.destinations.merge import SEQ, dedup_order
from headwater.destinations.protocol import Capabilities, ClosingClient, LoadResult, StoredColumn, StoredTables
from headwater.destinations.sql import tables_by_root, type_conflict
from headwater.errors import ConfigError, DestinationError, HeadwaterError, LoadError
from headwater.packages.package import LoadPackage, read_file
from headwater.schema.model import PARENT_ID, ROOT_ID, ROW_ID, Column, Schema, Table
from headwater.schema.state import PipelineState
from headwater.schema.system import LOADS_TABLE
from headwater.schema.types import DECIMAL_PRECISION_ONLY, DataType

if TYPE_CHECKING:
    import pyarrow as pa

LOAD_ID_PROPERTY = "headwater.load_id"
PIPELINE_PROPERTY = "headwater.pipeline"
STATE_PROPERTY = "headwater.state"

#: statuses of rows in ``_hw_loads``: a load, or a state committed on its own (a reset)
COMPLETED = "completed"
STATE_ONLY = "state"


@dataclass
class Delete:
    """Rows to delete in the same commit as an insert: those whose ``column`` is in ``values``."""

    column: str
    values: pa.Array


def encode_partitions(partition_by: dict[str, list[str]]) -> str:
    """``{table: [spec, ...]}`` as the ``partition_by`` URI option: ``events:day(ts),kind;other:x``."""
    return ";".join(f"{table}:{','.join(specs)}" for table, specs in partition_by.items())


def decode_partitions(option: str) -> dict[str, list[str]]:
    """The inverse of :func:`encode_partitions` (commas inside a transform, ``bucket(16, id)``, stay)."""
    out: dict[str, list[str]] = {}
    for part in option.split(";"):
        table, _, specs = part.partition(":")
        if table:
            out[table] = [s.strip() for s in re.split(r",(?![^(]*\))", specs) if s.strip()]
    return out


def loads_schema() -> pa.Schema:
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


def lake_arrow_type(column: Column, *, time_as_text: bool = False) -> pa.DataType:
    """The Arrow type a column is stored with in a table format: uuids as their 36-character text
    (Delta has no uuid type and engines disagree on Iceberg's), JSON as text."""
    import pyarrow as pa

    from headwater.normalize.arrow_types import to_arrow

    if column.data_type in ("uuid", "json"):
        return pa.string()
    if column.data_type == "time" and time_as_text:
        return pa.string()
    return to_arrow(column.type)


def uuid_text(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    """An Arrow uuid (or 16-byte binary) array as canonical lower-case text, vectorized."""
    import numpy as np
    import pyarrow as pa

    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
    storage = array.storage if isinstance(array, pa.ExtensionArray) else array
    n = len(storage)
    if n == 0:
        return pa.array([], pa.string())
    raw = np.frombuffer(storage.buffers()[1], dtype=np.uint8, count=(storage.offset + n) * 16)[storage.offset * 16 :]
    raw = raw.reshape(n, 16)
    digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    out = np.full((n, 36), ord("-"), dtype=np.uint8)
    positions = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34]
    for i, pos in enumerate(positions):
        out[:, pos] = digits[raw[:, i] >> 4]
        out[:, pos + 1] = digits[raw[:, i] & 15]
    text = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(36), n, [storage.buffers()[0] if storage.null_count else None, pa.py_buffer(out.tobytes())]
    )
    if storage.null_count and storage.offset:
        text = pa.array(text.to_pylist(), pa.binary(36))  # rare: a sliced array with nulls
    return text.cast(pa.binary()).cast(pa.string())


def conform(batch: pa.RecordBatch | pa.Table, schema: pa.Schema) -> pa.Table:
    """``batch`` with exactly the columns of ``schema`` (missing ones null), cast to its types."""
    import pyarrow as pa

    table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
    columns = []
    for field in schema:
        if field.name not in table.column_names:
            columns.append(pa.nulls(table.num_rows, field.type))
            continue
        column = table.column(field.name)
        if column.type == field.type:
            columns.append(column)
        elif pa.types.is_string(field.type) and (
            isinstance(column.type, pa.BaseExtensionType) or pa.types.is_fixed_size_binary(column.type)
        ):
            columns.append(uuid_text(column))
        else:
            columns.append(column.cast(field.type))
    return pa.Table.from_arrays(columns, schema=schema)


class LakeClient(ClosingClient, ABC):
    """Base class of clients of table-format and file destinations (see the module docstring)."""

    capabilities: Capabilities
    #: Delta has no time type: such formats store times as text
    time_as_text: bool = False

    def __init__(self, dataset: str, partition_config: dict[str, list[str]] | None = None) -> None:
        # checked again here: the dataset names a folder or a namespace of every table location
        self.dataset = names.dataset_name(dataset, max_bytes=self.capabilities.max_identifier_length)
        #: ``{table: [partition spec, ...]}`` from the destination's configuration
        self.partition_config = dict(partition_config or {})

    # -- hooks -----------------------------------------------------------------------------------
    @abstractmethod
    def table_names(self) -> list[str]:
        """The tables of the dataset (system tables included)."""

    @abstractmethod
    def committed_load_ids(self, name: str) -> set[str]:
        """The load ids recorded in the commit metadata of table ``name`` (empty if it does not exist)."""

    @abstractmethod
    def evolve(self, name: str, schema: pa.Schema, partition_by: list[str]) -> None:
        """Create table ``name`` with ``schema`` (partitioned by those columns), or add the columns of
        ``schema`` it lacks."""

    @abstractmethod
    def write(
        self,
        name: str,
        chunks: Iterable[pa.Table],
        schema: pa.Schema,
        *,
        mode: str,
        delete: Delete | None,
        properties: dict[str, str],
    ) -> None:
        """One atomic commit of table ``name``: ``append`` the chunks, ``overwrite`` the table with
        them, or (``merge``) delete the rows selected by ``delete`` and append the chunks. The commit
        metadata carries ``properties`` (the load id among them)."""

    @abstractmethod
    def scan(self, name: str, columns: list[str], where: Delete | None = None) -> pa.Table:
        """Columns of table ``name``, optionally only rows whose ``where.column`` is in ``where.values``."""

    @abstractmethod
    def reader(self, name: str) -> Any:
        """Table ``name`` as something DuckDB scans lazily (a pyarrow dataset or a batch reader)."""

    @abstractmethod
    def drop_table(self, name: str) -> None: ...

    # -- bookkeeping (plain files override these: their commit is a marker file) ------------------
    def read_loads(self) -> pa.Table | None:
        """The ``_hw_loads`` rows, or None before the first load."""
        if LOADS_TABLE not in self.table_names():
            return None
        return self.scan(LOADS_TABLE, loads_schema().names)

    def record_load(self, row: dict[str, Any], properties: dict[str, str]) -> None:
        """Append one row to ``_hw_loads`` (the last commit of a load)."""
        import pyarrow as pa

        schema = loads_schema()
        self.evolve(LOADS_TABLE, schema, [])
        data = pa.Table.from_pylist([row], schema=schema)
        self.write(LOADS_TABLE, [data], schema, mode="append", delete=None, properties=properties)

    def forget_pipeline(self, pipeline_name: str, schema_names: list[str]) -> None:
        """Remove a pipeline's rows from ``_hw_loads`` (one commit)."""
        import pyarrow.compute as pc

        loads = self.read_loads()
        if loads is None:
            return
        keep = pc.and_(
            pc.not_equal(loads["pipeline_name"], pipeline_name),
            pc.invert(pc.is_in(loads["schema_name"], value_set=_strings(schema_names))),
        )
        kept = loads.filter(pc.fill_null(keep, True))
        self.write(LOADS_TABLE, [kept], loads_schema(), mode="overwrite", delete=None, properties={})

    # -- the DestinationClient protocol ----------------------------------------------------------
    def stored_state(self, pipeline_name: str) -> PipelineState | None:
        raw = _newest(self.read_loads(), "pipeline_name", pipeline_name, "state", "state_version")
        return PipelineState.from_json(raw) if raw is not None else None

    def stored_schema(self, schema_name: str) -> Schema | None:
        raw = _newest(self.read_loads(), "schema_name", schema_name, "schema", "schema_version")
        return Schema.from_json(raw) if raw is not None else None

    def store_state(self, pipeline_name: str, state: PipelineState) -> None:
        now = time.time()
        row = self._load_row(state.load_id, pipeline_name, None, {}, state, STATE_ONLY, now, now, keep_schema=False)
        self.record_load(row, {PIPELINE_PROPERTY: pipeline_name})

    def drop(self, pipeline_name: str, tables: list[str], schema_names: list[str]) -> None:
        existing = set(self.table_names())
        for table in tables:
            if table in existing:
                self.drop_table(table)
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
            rel = con.sql(sql)
            return rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.arrow()
        finally:
            con.close()

    # -- the load --------------------------------------------------------------------------------
    def load(self, package: LoadPackage, schema: Schema) -> LoadResult:
        started = time.perf_counter()
        manifest = package.manifest
        result = LoadResult(manifest.load_id)
        loads = self.read_loads()  # once: on Iceberg and Delta each read is a table scan
        if _already_loaded(loads, manifest.load_id):
            result.already_loaded = True
            return result
        stored_schema = _newest(loads, "schema_name", schema.name, "schema", "schema_version")
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
                        result.rows.update(Merge(self, schema, table, package, properties).run())
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
            row = self._load_row(
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

    def _load_row(
        self,
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
        import datetime as dt

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

    # -- helpers for loads -----------------------------------------------------------------------
    def arrow_schema(self, table: Table) -> pa.Schema:
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
    def table_schema(self, name: str) -> pa.Schema | None:
        """The Arrow schema table ``name`` holds now (None if it does not exist or has no types)."""
        return None

    def stored_tables(self) -> StoredTables:
        """The dataset's tables and the Headwater types their columns hold."""
        out: dict[str, dict[str, StoredColumn]] = {}
        for name in self.table_names():
            if name.startswith("_hw_"):
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
            if col.type in self.stored_types(have) or _same_storage(have, schema.field(col.name).type):
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
                hint=f"its columns: {', '.join(c for c in table.columns if not c.startswith('_hw_'))}",
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
            table.name, _counted(_chunks(paths, schema), counter), schema, mode=mode, delete=None, properties=properties
        )
        return counter[0]


#: the most bytes of package data a chunk holds: a package file holds a whole table (GBs for a big
#: load), so chunks are cut from its batches rather than made of whole files, or memory would grow
#: with the load
CHUNK_BYTES = 64 * 1024 * 1024


def _same_storage(a: pa.DataType, b: pa.DataType) -> bool:
    """Whether two Arrow types store values the same way (string and large_string, UTC spellings)."""
    import pyarrow as pa

    def key(t: pa.DataType) -> str:
        if pa.types.is_large_string(t) or str(t) == "string_view":
            return "string"
        if pa.types.is_large_binary(t):
            return "binary"
        if pa.types.is_timestamp(t) and t.tz in ("UTC", "+00:00", "Etc/UTC"):
            return f"timestamp[{t.unit}, UTC]"
        return str(t)

    return key(a) == key(b)


def _newest(loads: pa.Table | None, key: str, value: str, document: str, version: str) -> str | None:
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


def _already_loaded(loads: pa.Table | None, load_id: str) -> bool:
    import pyarrow.compute as pc

    if loads is None:
        return False
    mask = pc.and_(pc.equal(loads["load_id"], load_id), pc.equal(loads["status"], COMPLETED))
    return bool(pc.any(mask).as_py())


def _chunks(paths: list[Any], schema: pa.Schema) -> Iterator[pa.Table]:
    """The package files' batches conformed to ``schema``, as tables of about :data:`CHUNK_BYTES` at
    most (at least one, maybe empty)."""
    import pyarrow as pa

    produced = False
    pending: list[pa.Table] = []
    size = 0
    for path in paths:
        for batch in read_file(path):
            pending.append(conform(batch, schema))
            size += pending[-1].nbytes
            if size >= CHUNK_BYTES:
                produced = True
                yield pa.concat_tables(pending)
                pending, size = [], 0
    if pending or not produced:
        yield pa.concat_tables(pending) if pending else schema.empty_table()


def _counted(chunks: Iterator[pa.Table], counter: list[int]) -> Iterator[pa.Table]:
    for chunk in chunks:
        counter[0] += chunk.num_rows
        yield chunk


def _strings(values: list[str]) -> pa.Array:
    import pyarrow as pa

    return pa.array(values, pa.string())


def read_package_table(package: LoadPackage, name: str, schema: pa.Schema) -> pa.Table:
    """All rows of table ``name`` in ``package``, conformed to ``schema``."""
    import pyarrow as pa

    files = package.manifest.tables.get(name)
    paths = package.file_paths(name) if files and files.files else []
    return pa.concat_tables(list(_chunks(paths, schema)))


class Merge:
    """A merge root table and its children, planned in an in-memory DuckDB (see the module docstring)."""

    def __init__(
        self, client: LakeClient, schema: Schema, root: Table, package: LoadPackage, properties: dict[str, str]
    ) -> None:
        self.client = client
        self.schema = schema
        self.root = root
        self.package = package
        self.properties = properties
        self.children = schema.children_of(root.name)
        self.pk = root.primary_key
        strategy = root.merge_strategy or "delete-insert"
        name = client.capabilities.name
        if strategy not in ("delete-insert", "upsert"):
            raise ConfigError(
                f"table {root.name!r}: merge strategy {strategy!r} is not supported on {name}",
                hint="use delete-insert or upsert (by primary key) here, or load into DuckDB or PostgreSQL",
            )
        if root.merge_key:
            raise ConfigError(
                f"table {root.name!r}: merge_key (partition replacement) is not supported on {name}",
                hint="merge by primary key here, or use write_disposition='replace'",
            )
        if not self.pk:
            raise ConfigError(
                f"table {root.name!r}: a merge into {name} needs a primary key",
                hint="give the resource primary_key=...",
            )
        self.upsert = strategy == "upsert"

    def _q(self, name: str) -> str:
        return names.quote_identifier(name)

    def run(self) -> dict[str, int]:
        import duckdb
        import pyarrow as pa

        load_id = self.properties[LOAD_ID_PROPERTY]
        schemas = {t.name: self.client.prepare(t) for t in [self.root, *self.children]}
        con = duckdb.connect()
        try:
            staged = read_package_table(self.package, self.root.name, schemas[self.root.name])
            staged = staged.append_column(SEQ, pa.array(range(staged.num_rows), pa.int64()))
            con.register("staged", staged)
            order = dedup_order(self.root, self._q)
            partition = ", ".join(self._q(c) for c in self.pk)
            con.execute(
                "CREATE TABLE dedup AS SELECT * EXCLUDE (_hw_rn) FROM (SELECT *, row_number() OVER "
                f"(PARTITION BY {partition} ORDER BY {', '.join(order)}) AS _hw_rn FROM staged) WHERE _hw_rn = 1"
            )
            existing = self._existing(con)
            con.register("existing", existing)
            match = " AND ".join(f"s.{self._q(c)} = t.{self._q(c)}" for c in self.pk)
            con.execute(
                f"CREATE TABLE pairs AS SELECT s.{ROW_ID} AS new_id, t.{ROW_ID} AS old_id "
                f"FROM dedup s JOIN existing t ON {match}"
            )
            old_ids = _column(con, "SELECT DISTINCT old_id FROM pairs")
            # one old id per new row: a key the target holds twice (appended before it was merged)
            # must not duplicate the row that replaces both
            con.execute("CREATE TABLE matched AS SELECT new_id, min(old_id) AS old_id FROM pairs GROUP BY new_id")
            deleted = self._deleted()
            con.execute(f"CREATE TABLE kept AS SELECT * FROM dedup s WHERE NOT {deleted}")
            out: dict[str, int] = {}
            for child in self.children:
                if load_id in self.client.committed_load_ids(child.name):
                    continue
                rows = read_package_table(self.package, child.name, schemas[child.name])
                con.register("child_rows", rows)
                cols = []
                for c in schemas[child.name].names:
                    ref = f"c.{self._q(c)}"
                    if self.upsert and c == ROOT_ID:
                        ref = f"COALESCE(m.old_id, c.{ROOT_ID}) AS {ROOT_ID}"
                    elif self.upsert and c == PARENT_ID:
                        ref = (
                            f"CASE WHEN c.{PARENT_ID} = c.{ROOT_ID} THEN COALESCE(m.old_id, c.{PARENT_ID}) "
                            f"ELSE c.{PARENT_ID} END AS {PARENT_ID}"
                        )
                    cols.append(ref)
                insert = _arrow(
                    con,
                    f"SELECT {', '.join(cols)} FROM child_rows c LEFT JOIN matched m ON m.new_id = c.{ROOT_ID} "
                    f"WHERE c.{ROOT_ID} IN (SELECT {ROW_ID} FROM kept)",
                ).cast(schemas[child.name])
                con.unregister("child_rows")
                self.client.write(
                    child.name,
                    [insert],
                    schemas[child.name],
                    mode="merge",
                    delete=Delete(ROOT_ID, old_ids),
                    properties=self.properties,
                )
                out[child.name] = insert.num_rows
            root_cols = ", ".join(
                f"COALESCE(m.old_id, s.{ROW_ID}) AS {ROW_ID}" if self.upsert and c == ROW_ID else f"s.{self._q(c)}"
                for c in schemas[self.root.name].names
            )
            insert = _arrow(
                con, f"SELECT {root_cols} FROM kept s LEFT JOIN matched m ON m.new_id = s.{ROW_ID} ORDER BY s.{SEQ}"
            ).cast(schemas[self.root.name])
            if load_id not in self.client.committed_load_ids(self.root.name):
                self.client.write(
                    self.root.name,
                    [insert],
                    schemas[self.root.name],
                    mode="merge",
                    delete=Delete(ROW_ID, old_ids),
                    properties=self.properties,
                )
            out[self.root.name] = insert.num_rows
            return out
        finally:
            con.close()

    def _existing(self, con: Any) -> pa.Table:
        """The target's primary keys and row ids for the keys in the load (empty for a new table)."""
        cols = [*self.pk, ROW_ID]
        if self.root.name not in self.client.table_names():
            return _arrow(con, f"SELECT {', '.join(self._q(c) for c in cols)} FROM dedup WHERE FALSE")
        first = _column(con, f"SELECT DISTINCT {self._q(self.pk[0])} FROM dedup")
        return self.client.scan(self.root.name, cols, Delete(self.pk[0], first))

    def _deleted(self) -> str:
        column = self.root.hard_delete_column
        if not column:
            return "FALSE"
        ref = f"s.{self._q(column)}"
        return f"COALESCE({ref}, FALSE)" if self.root.columns[column].data_type == "bool" else f"({ref} IS NOT NULL)"


def _arrow(con: Any, sql: str) -> pa.Table:
    rel = con.sql(sql)
    return rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.arrow()


def _column(con: Any, sql: str) -> pa.Array:
    table = _arrow(con, sql)
    column = table.column(0)
    return column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
