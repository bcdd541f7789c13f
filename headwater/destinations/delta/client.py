"""The Delta Lake client: the table hooks of :class:`~headwater.destinations.lake.LakeClient` on deltalake.

Tables are Delta tables written with ``deltalake`` (delta-rs, no JVM) at
``<location>/<dataset>/<table>``; ``location`` is a local folder or an object-store URL that
deltalake understands (``s3://``, ``gs://``, ``az://``/``abfss://``...), with ``storage_options``
passed through to it. The load algorithm, the ``_hw_loads`` bookkeeping and the merge planning are
:class:`~headwater.destinations.lake.LakeClient`'s; this module implements its table hooks:

* ``evolve``: ``DeltaTable.create`` (partitioned as configured) or ``alter.add_columns``; these
  commits carry no load id, so a crash right after them never makes a table look loaded;
* ``write``: one Delta commit per call, whose commit info carries ``headwater.load_id``:
  ``write_deltalake(mode="append")`` streaming the package's batches, ``mode="overwrite"`` for
  replace, and for merges a single ``MERGE`` whose source is the new rows plus one "tombstone" row
  per row id to delete (see :meth:`DeltaClient._merge`);
* ``committed_load_ids``: the ``headwater.load_id`` values in the commit info of the table's newest
  :data:`HISTORY_DEPTH` commits.

Delta has no time, uuid or JSON types: times are stored as ``HH:MM:SS.ffffff`` text, uuids as
their 36-character text and JSON as text.
"""

from __future__ import annotations

import itertools
import logging
import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headwater.destinations.delta.destination import CAPABILITIES, DeltaDestination, safe_location
from headwater.destinations.lake import LOAD_ID_PROPERTY, Delete, LakeClient
from headwater.errors import DestinationError, HeadwaterError
from headwater.optional import require
from headwater.redact import redact
from headwater.schema.system import LOADS_TABLE

if TYPE_CHECKING:
    import pyarrow as pa
    from deltalake import DeltaTable

log = logging.getLogger("headwater")

#: How many of a table's newest commits are searched for a load id. A package whose load was
#: interrupted is loaded again before anything else of its pipeline, so the commits it already made
#: are the newest ones of their tables; the bound keeps each check cheap on object stores, where
#: every commit is one request.
HISTORY_DEPTH = 100
#: ``_hw_loads`` gets one small file per load, and every run reads the table; past this many files it is
#: compacted into one (at 64, a small incremental run took 0.16 s after 11 runs and 0.57 s after 55)
COMPACT_LOADS_AT = 16
#: The marker column of a merge's source rows: ``insert`` (a new row) or ``delete`` (a tombstone).
OP = "_hw_op"


def import_deltalake() -> Any:
    """The ``deltalake`` module, or a ConfigError saying how to install it."""
    return require("deltalake", "the Delta Lake destination", extra="delta")


class DeltaClient(LakeClient):
    """One dataset of a Delta Lake location: a folder (or prefix) of Delta tables."""

    capabilities = CAPABILITIES
    time_as_text = True

    def __init__(self, destination: DeltaDestination, dataset: str) -> None:
        super().__init__(dataset, destination.partition_by)
        self.destination = destination
        self.deltalake = import_deltalake()
        self.root = destination.dataset_uri(dataset)
        self.options: dict[str, str] | None = dict(destination.storage_options) or None
        #: the tables opened so far, brought up to date (``update_incremental``) when opened again: a load
        #: opens each table a few times (schema, history, evolve, merge, scan), and opening one reads
        #: its whole log again (11 to 32 ms; catching up with the commits since, 2 ms)
        self._tables: dict[str, DeltaTable] = {}

    # -- locations and errors --------------------------------------------------------------------
    def table_uri(self, name: str) -> str:
        """The URI (or local path) of table ``name``."""
        if self.destination.remote:
            return f"{self.root}/{name}"
        return os.path.join(self.root, name)

    def shown(self, name: str) -> str:
        """The location of table ``name`` for messages, without credentials."""
        uri = self.table_uri(name)
        return safe_location(uri) if self.destination.remote else uri

    def shown_root(self) -> str:
        """The dataset's location for messages, without credentials."""
        return safe_location(self.root) if self.destination.remote else self.root

    def _redact(self, text: str) -> str:
        if self.destination.remote and self.destination.location:
            text = text.replace(self.destination.location, safe_location(self.destination.location))
        return redact(text, [v for v in (self.options or {}).values() if len(v) >= 4])

    @contextmanager
    def _errors(self, action: str, name: str | None) -> Iterator[None]:
        """Turn deltalake's and the store's exceptions into a DestinationError saying what and where."""
        try:
            yield
        except HeadwaterError:
            raise
        except Exception as exc:
            raise self._error(action, name, exc) from exc

    def _error(self, action: str, name: str | None, exc: Exception) -> DestinationError:
        from deltalake.exceptions import CommitFailedError, DeltaProtocolError, SchemaMismatchError

        text = str(exc).strip()
        detail = self._redact(text.splitlines()[0] if text else type(exc).__name__)
        if isinstance(exc, CommitFailedError):
            hint = (
                "another writer committed to the table at the same time; run again (nothing of this commit was applied)"
            )
        elif isinstance(exc, SchemaMismatchError):
            hint = (
                "the table's columns do not match the pipeline's schema: was the table changed outside "
                "Headwater, or written by another pipeline with other types?"
            )
        elif isinstance(exc, DeltaProtocolError):
            hint = "the table uses Delta features deltalake cannot handle (written by another engine?)"
        else:
            hint = (
                "check that the location is a folder (or bucket prefix) that exists and is writable, "
                "and the storage_options (credentials, region, endpoint)"
            )
        where = f"table {name!r} at {self.shown(name)}" if name else f"the tables at {self.shown_root()}"
        return DestinationError(f"Delta Lake could not {action} {where}: {detail}", hint=hint, table=name)

    def _open(self, name: str) -> DeltaTable | None:
        """The Delta table ``name``, or None if there is none."""
        from deltalake.exceptions import TableNotFoundError

        uri = self.table_uri(name)
        if not self.destination.remote and not os.path.isdir(os.path.join(uri, "_delta_log")):
            self._tables.pop(name, None)
            return None
        table = self._tables.get(name)
        try:
            if table is not None:
                table.update_incremental()
                return table
            table = self._tables[name] = self.deltalake.DeltaTable(uri, storage_options=self.options)
            return table
        except TableNotFoundError:
            self._tables.pop(name, None)
            return None

    def _require(self, name: str, action: str) -> DeltaTable:
        table = self._open(name)
        if table is None:
            raise DestinationError(
                f"Delta Lake could not {action} table {name!r}: there is no Delta table at {self.shown(name)}",
                hint="was the table folder deleted while the pipeline ran?",
                table=name,
            )
        return table

    def _filesystem(self) -> Any:
        """The dataset folder as a pyarrow filesystem, through deltalake's own object store (so
        with the same storage_options)."""
        import pyarrow.fs as pafs
        from deltalake.fs import DeltaStorageHandler

        return pafs.PyFileSystem(DeltaStorageHandler(self.root, self.options))

    # -- bookkeeping -----------------------------------------------------------------------------
    def record_load(self, row: dict[str, Any], properties: dict[str, str]) -> None:
        """Append one row to ``_hw_loads``, then compact its files if they pile up."""
        super().record_load(row, properties)
        self._compact_loads()

    def _compact_loads(self) -> None:
        """Compact ``_hw_loads`` when its small files pile up (every read of the state scans them all).
        Best effort: the compaction is a commit of its own, after the load is recorded; a failure
        only leaves the files as they were."""
        try:
            table = self._open(LOADS_TABLE)
            if table is not None and len(table.file_uris()) >= COMPACT_LOADS_AT:
                table.optimize.compact()
        except Exception as exc:
            log.warning("could not compact %s: %s", self.shown(LOADS_TABLE), self._redact(str(exc)))

    # -- the LakeClient hooks --------------------------------------------------------------------
    def table_schema(self, name: str) -> pa.Schema | None:
        """The Arrow schema table ``name`` holds now (None if it does not exist)."""
        import pyarrow as pa

        with self._errors("read the schema of", name):
            table = self._open(name)
            return None if table is None else pa.schema(table.schema().to_arrow())

    def table_names(self) -> list[str]:
        """The Delta tables of the dataset (system tables included)."""
        if not self.destination.remote:
            root = Path(self.root)
            if not root.is_dir():
                return []
            return sorted(p.name for p in root.iterdir() if (p / "_delta_log").is_dir())
        import pyarrow.fs as pafs
        from deltalake.exceptions import TableNotFoundError

        with self._errors("list", None):
            try:
                infos = self._filesystem().get_file_info(pafs.FileSelector("", allow_not_found=True))
            except TableNotFoundError:  # a file:// folder that does not exist yet
                return []
            folders = sorted(i.base_name for i in infos if i.type == pafs.FileType.Directory)
            is_table = self.deltalake.DeltaTable.is_deltatable
            return [n for n in folders if is_table(self.table_uri(n), storage_options=self.options)]

    def committed_load_ids(self, name: str) -> set[str]:
        """The load ids recorded in the commit history of table ``name`` (its last ``HISTORY_DEPTH`` commits)."""
        with self._errors("read the history of", name):
            table = self._open(name)
            if table is None:
                return set()
            return {str(c[LOAD_ID_PROPERTY]) for c in table.history(HISTORY_DEPTH) if LOAD_ID_PROPERTY in c}

    def evolve(self, name: str, schema: pa.Schema, partition_by: list[str]) -> None:
        """Create table ``name`` with ``schema``, or add the columns of ``schema`` it lacks."""
        import pyarrow as pa

        with self._errors("create or evolve", name):
            table = self._open(name)
            if table is None:
                table = self.deltalake.DeltaTable.create(
                    self.table_uri(name),
                    schema,
                    mode="ignore",  # created meanwhile by another process: evolve that one below
                    partition_by=partition_by or None,
                    storage_options=self.options,
                )
            elif partition_by and list(table.metadata().partition_columns) != partition_by:
                log.warning(
                    "Delta table %r exists with partition columns %s; partition_by=%s only applies to new tables",
                    name,
                    list(table.metadata().partition_columns),
                    partition_by,
                )
            present = {f.name for f in table.schema().fields}
            missing = [f.with_nullable(True) for f in schema if f.name not in present]
            if missing:
                fields = self.deltalake.Schema.from_arrow(pa.schema(missing)).fields
                table.alter.add_columns(fields)

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
        """One Delta commit of table ``name``: append, overwrite, or (merge) delete then append."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if mode not in ("append", "overwrite", "merge"):
            raise ValueError(f"unknown write mode {mode!r}")
        commit = self.deltalake.CommitProperties(custom_metadata=dict(properties))
        action = {"append": "append to", "overwrite": "overwrite", "merge": "merge into"}[mode]
        with self._errors(action, name):
            if mode == "merge" and delete is not None:
                values = pc.unique(pc.drop_null(delete.values))
                if len(values):
                    self._merge(name, chunks, schema, delete.column, values, commit)
                    return
            pending = iter(chunks)
            first = next((c for c in pending if c.num_rows), None)
            if first is None and mode != "overwrite":
                return  # nothing to append and nothing to delete: no commit
            self.deltalake.write_deltalake(
                self._open(name) or self.table_uri(name),  # the table opened already: its log is not read again
                pa.RecordBatchReader.from_batches(schema, _batches(first, pending, schema)),
                mode="overwrite" if mode == "overwrite" else "append",
                schema_mode="merge",  # columns the table has and the data lacks are left null
                storage_options=self.options,
                commit_properties=commit,
            )

    def _merge(
        self, name: str, chunks: Iterable[pa.Table], schema: pa.Schema, column: str, values: pa.Array, commit: Any
    ) -> None:
        """Delete the rows whose ``column`` is in ``values`` and insert ``chunks``, in ONE commit.

        The MERGE source is the new rows marked ``_hw_op = 'insert'`` plus one tombstone row per
        value, marked ``delete``, holding only ``column``. Tombstones match the target rows to delete
        (``when_matched_delete``); new rows never match (the predicate requires a tombstone), so all
        of them are inserted, even when their ids equal deleted ones (an upsert keeps row ids)."""
        import pyarrow as pa

        if column not in schema.names:
            raise ValueError(f"the delete column {column!r} is not a column of {name!r}")
        inserts = [_fit(c, schema) for c in chunks]
        new = pa.concat_tables(inserts) if inserts else schema.empty_table()
        n = len(values)
        tombstones = pa.Table.from_arrays(
            [values.cast(f.type) if f.name == column else pa.nulls(n, f.type) for f in schema], schema=schema
        )
        source = pa.concat_tables(
            [
                new.append_column(OP, pa.repeat(pa.scalar("insert"), new.num_rows)),
                tombstones.append_column(OP, pa.repeat(pa.scalar("delete"), n)),
            ]
        )
        key = _quote(column)
        merger = self._require(name, "merge into").merge(
            source,
            predicate=f"t.{key} = s.{key} AND s.{OP} = 'delete'",
            source_alias="s",
            target_alias="t",
            streamed_exec=False,  # the source is in memory: lets delta-rs skip files by key range
            commit_properties=commit,
        )
        merger.when_matched_delete().when_not_matched_insert(
            updates={_quote(c): f"s.{_quote(c)}" for c in schema.names}, predicate=f"s.{OP} = 'insert'"
        ).execute()

    def _dataset(self, name: str) -> Any:
        """Table ``name`` as a pyarrow dataset. A local table is read through pyarrow's own local
        filesystem: deltalake's default, a Python filesystem handler, makes the process abort at
        exit now and then after a threaded read ("terminate called without an active exception",
        delta-rs issue #2184)."""
        table = self._require(name, "read")
        if self.destination.remote:
            return table.to_pyarrow_dataset()
        import pyarrow.fs as pafs

        return table.to_pyarrow_dataset(filesystem=pafs.SubTreeFileSystem(self.table_uri(name), pafs.LocalFileSystem()))

    def scan(self, name: str, columns: list[str], where: Delete | None = None) -> pa.Table:
        """Columns of table ``name`` (nulls for columns the table lacks), optionally only the rows ``where`` selects."""
        import pyarrow as pa
        import pyarrow.compute as pc

        with self._errors("read", name):
            dataset = self._dataset(name)
            present = [c for c in columns if c in dataset.schema.names]
            condition = pc.field(where.column).isin(where.values) if where is not None else None
            # through deltalake's handler (object stores) threaded reads risk the abort above
            data = dataset.to_table(columns=present, filter=condition, use_threads=not self.destination.remote)
            for i, column in enumerate(columns):
                if column not in present:  # a column added to Headwater after the table was written
                    data = data.add_column(i, column, pa.nulls(data.num_rows))
            return data

    def reader(self, name: str) -> Any:
        """Table ``name`` as a pyarrow dataset."""
        with self._errors("read", name):
            return self._dataset(name)

    def drop_table(self, name: str) -> None:
        """Delete table ``name`` (its folder or prefix); a missing table is not an error."""
        with self._errors("drop", name):
            self._tables.pop(name, None)
            if self.destination.remote:
                self._filesystem().delete_dir(name)
            else:
                if os.path.isdir(self.table_uri(name)):
                    shutil.rmtree(self.table_uri(name))


def _quote(name: str) -> str:
    """A column name in a delta-rs SQL expression."""
    return "`" + name.replace("`", "``") + "`"


def _batches(first: pa.Table | None, rest: Iterator[pa.Table], schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """The batches of ``first`` and then of ``rest``, pulled one chunk at a time (memory stays bounded)."""
    if first is None:
        return
    for chunk in itertools.chain([first], rest):
        yield from _fit(chunk, schema).to_batches()


def _fit(chunk: pa.Table, schema: pa.Schema) -> pa.Table:
    """``chunk`` with exactly the columns and types of ``schema`` (it is already, from a package)."""
    if chunk.schema.equals(schema):
        return chunk
    return chunk.select(schema.names).cast(schema)
