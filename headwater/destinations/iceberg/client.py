"""The Iceberg client: the table hooks of :class:`~headwater.destinations.lake.LakeClient` on pyiceberg.

The load algorithm, the ``_hw_loads`` bookkeeping and the merge planning live in
:class:`~headwater.destinations.lake.LakeClient`; this module maps its hooks onto an Iceberg catalog:

* the dataset is a namespace (or ``namespace=`` if given), created on the first write;
* a table is created from the Arrow schema (every field optional) with the partition spec asked for
  in ``partition_by``; new columns are added with ``union_by_name``;
* every ``write`` is one catalog commit: one pyiceberg transaction holding the delete (replace,
  merge) and the appends, every snapshot of it carrying the load id in its summary
  (``headwater.load_id``), which is how a rerun after a crash recognises tables it already wrote.

pyiceberg is imported inside functions: ``import headwater`` must not need it.
"""

from __future__ import annotations

import functools
import logging
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

from headwater._failpoints import failpoint
from headwater.destinations.iceberg.destination import CAPABILITIES, IcebergDestination
from headwater.destinations.iceberg.partitions import parse_partition
from headwater.destinations.lake import LOAD_ID_PROPERTY, STATE_PROPERTY, Delete, LakeClient, loads_schema
from headwater.errors import ConfigError, DestinationError, HeadwaterError
from headwater.schema.system import LOADS_TABLE, SYSTEM_PREFIX

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger("headwater")

#: a load is appended in pieces of about this many bytes of Arrow data (see IcebergClient._append);
#: each piece is a snapshot of the same commit
PIECE_BYTES = 64 * 1024 * 1024
#: the properties of the tables Headwater creates: appends merge small manifests (Iceberg's Java default;
#: pyiceberg's is off), else every commit adds a manifest and each scan reads all of them
TABLE_PROPERTIES = {"commit.manifest-merge.enabled": "true"}
#: ``_hw_loads`` gets one small file per load, and every run reads the table twice (its state before, the
#: load ids when loading); past this many files it is rewritten as one: each file costs a read of about 4 ms,
#: and without it a small incremental run took 0.4 s after 7 runs, 1.6 s after 56 (and so on)
COMPACT_LOADS_AT = 16


def _has_pyiceberg_core() -> bool:
    import importlib.util

    return importlib.util.find_spec("pyiceberg_core") is not None


class IcebergClient(LakeClient):
    """An open catalog, on the namespace of one dataset."""

    capabilities = CAPABILITIES
    partition_transforms = True

    def __init__(self, destination: IcebergDestination, dataset: str) -> None:
        super().__init__(dataset, {t: [str(f) for f in fs] for t, fs in destination.partition_by.items()})
        self.destination = destination
        self.namespace: tuple[str, ...] = destination.namespace or (dataset,)
        self.catalog, self._owned = destination.open_catalog()

    def _ident(self, name: str) -> tuple[str, ...]:
        return (*self.namespace, name)

    def _qualified(self, name: str) -> str:
        return ".".join(self._ident(name))

    @contextmanager
    def _errors(self, action: str, table: str | None = None) -> Iterator[None]:
        try:
            yield
        except HeadwaterError:
            raise
        except Exception as exc:
            self.destination.fail(exc, action, self._qualified(table) if table else None)

    def _table(self, name: str) -> Any:
        """The pyiceberg table ``name``, or None."""
        from pyiceberg.exceptions import NoSuchTableError

        with self._errors("load table", name):
            try:
                return self.catalog.load_table(self._ident(name))
            except NoSuchTableError:
                return None

    def _require(self, name: str) -> Any:
        table = self._table(name)
        if table is None:
            raise DestinationError(
                f"Iceberg table {self._qualified(name)} does not exist in {self.destination.where()}",
                hint="it was dropped while loading; run again to recreate it",
                table=name,
            )
        return table

    # -- hooks -----------------------------------------------------------------------------------
    def table_schema(self, name: str) -> pa.Schema | None:
        """The Arrow schema table ``name`` holds now (None if it does not exist)."""
        table = self._table(name)
        return None if table is None else table.schema().as_arrow()

    def table_names(self) -> list[str]:
        """The tables of the namespace (empty if it does not exist yet)."""
        from pyiceberg.exceptions import NoSuchNamespaceError

        with self._errors(f"list the tables of namespace {'.'.join(self.namespace)}"):
            try:
                return [ident[-1] for ident in self.catalog.list_tables(self.namespace)]
            except NoSuchNamespaceError:
                return []

    def record_load(self, row: dict[str, Any], properties: dict[str, str]) -> None:
        """Append one row to ``_hw_loads``, then compact its files if they pile up."""
        super().record_load(row, properties)
        self._compact_loads()

    def _compact_loads(self) -> None:
        """Rewrite ``_hw_loads`` as one file when its files pile up: one commit replacing every row with
        the same rows (a writer that committed since the read makes it fail, and nothing changes). Best
        effort: the load is recorded already; a failure leaves the files as they were."""
        try:
            table = self._table(LOADS_TABLE)
            snapshot = table.current_snapshot() if table is not None else None
            summary = snapshot.summary if snapshot is not None else None
            if summary is None or int(summary.get("total-data-files") or 0) < COMPACT_LOADS_AT:
                return
            rows = self.read_loads(again=True)
            if rows is not None:
                self._loads = None
                self.write(LOADS_TABLE, [rows], loads_schema(), mode="overwrite", delete=None, properties={})
        except Exception as exc:
            log.warning("could not compact %s: %s", LOADS_TABLE, exc)

    def committed_load_ids(self, name: str) -> set[str]:
        """The load ids recorded in the snapshot summaries of table ``name``."""
        table = self._table(name)
        if table is None:
            return set()
        out = set()
        for snapshot in table.metadata.snapshots:
            summary = snapshot.summary
            load_id = summary[LOAD_ID_PROPERTY] if summary is not None else None
            if load_id:
                out.add(str(load_id))
        return out

    def evolve(self, name: str, schema: pa.Schema, partition_by: list[str]) -> None:
        """Create table ``name`` with ``schema`` and its partition spec, or add the columns of ``schema`` it lacks."""
        import pyarrow as pa

        table = self._table(name)
        if table is None:
            if self._create(name, schema, partition_by):
                return
            table = self._require(name)  # created by another process in the meantime
        if partition_by:
            self._check_spec(name, table, partition_by)
        from pyiceberg.types import DecimalType

        existing = {f.name: f.field_type for f in table.schema().fields}
        missing = [f for f in schema if f.name not in existing]
        wider = [  # Iceberg's safe promotion: a decimal's precision grows, its scale stays
            f
            for f in schema
            if pa.types.is_decimal(f.type)
            and isinstance(existing.get(f.name), DecimalType)
            and f.type.scale == existing[f.name].scale
            and f.type.precision > existing[f.name].precision
        ]
        if missing or wider:
            changed = [f"add {f.name}" for f in missing] + [f"widen {f.name} to {f.type}" for f in wider]
            with self._errors(f"evolve ({', '.join(changed)})", name), table.update_schema() as update:
                if missing:
                    update.union_by_name(pa.schema(missing))
                for f in wider:
                    update.update_column(f.name, field_type=DecimalType(f.type.precision, f.type.scale))

    def _check_spec(self, name: str, table: Any, partition_by: list[str]) -> None:
        """Warn when an existing table is partitioned otherwise than ``partition_by`` asks."""
        schema = table.schema()
        have = {(schema.find_column_name(f.source_id), str(f.transform)) for f in table.spec().fields}
        want = {(f.column, str(f.to_pyiceberg())) for f in map(parse_partition, partition_by)}
        if have != want:
            log.warning(
                "Iceberg table %s exists with partition spec %s; partition_by=%s applies only when a table is "
                "created (evolve the spec with pyiceberg's update_spec() if you want it changed)",
                self._qualified(name),
                table.spec(),
                partition_by,
            )

    def _create(self, name: str, schema: pa.Schema, partition_by: list[str]) -> bool:
        """Create table ``name``; False if it appeared meanwhile (another writer)."""
        from pyiceberg.exceptions import TableAlreadyExistsError

        fields = [parse_partition(s) for s in partition_by]
        for f in fields:
            if f.column not in schema.names:
                raise ConfigError(
                    f"partition_by of table {name!r} names column {f.column!r}, which the table does not have",
                    hint=f"its columns: {', '.join(n for n in schema.names if not n.startswith(SYSTEM_PREFIX))}",
                    table=name,
                )
        if any(f.transform != "identity" for f in fields) and not _has_pyiceberg_core():
            raise ConfigError(
                f"partition transforms ({', '.join(str(f) for f in fields if f.transform != 'identity')}) need "
                "the pyiceberg-core package to write",
                hint="pip install pyiceberg-core (or partition by plain columns)",
                table=name,
            )
        self._ensure_namespace()
        with self._errors("create table", name):
            try:
                tx = self.catalog.create_table_transaction(
                    self._ident(name), schema=schema, properties=TABLE_PROPERTIES
                )
                if fields:
                    with tx.update_spec() as spec:
                        for f in fields:
                            try:
                                spec.add_field(f.column, f.to_pyiceberg())
                            except (ValueError, TypeError) as exc:
                                raise ConfigError(
                                    f"cannot partition table {name!r} by {f}: {exc}",
                                    hint="time transforms need a date or timestamp column; bucket and truncate a "
                                    "number, text or binary one",
                                    table=name,
                                ) from exc
                tx.commit_transaction()
            except TableAlreadyExistsError:
                return False
        return True

    def _ensure_namespace(self) -> None:
        from pyiceberg.exceptions import NamespaceAlreadyExistsError

        for depth in range(1, len(self.namespace) + 1):
            ns = self.namespace[:depth]
            with self._errors(f"create namespace {'.'.join(ns)}"):
                if self.catalog.namespace_exists(ns):
                    continue
                try:
                    self.catalog.create_namespace(ns)
                except NamespaceAlreadyExistsError:
                    pass

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
        """One Iceberg transaction on table ``name``: append, overwrite, or (merge) delete then append."""
        from pyiceberg.expressions import AlwaysTrue

        if mode not in ("append", "overwrite", "merge"):
            raise ValueError(f"unknown write mode {mode!r}")
        # The state is already a column of the _hw_loads row; in a snapshot summary it would be copied
        # into every later metadata.json of the table (they list all snapshots), growing each commit.
        props = {k: v for k, v in properties.items() if k != STATE_PROPERTY}
        table = self._require(name)
        with self._errors(f"{'replace' if mode == 'overwrite' else mode} into table", name), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Delete operation did not match any records")
            tx = _transaction(table)
            if mode == "overwrite":
                tx.delete(AlwaysTrue(), snapshot_properties=props)
            elif mode == "merge" and delete is not None:
                values = _values(delete.values)
                if values:
                    tx.delete(_in(delete.column, values), snapshot_properties=props)
            self._append(tx, chunks, schema, props)
            tx.commit_transaction()  # the one catalog commit
        failpoint("iceberg.table_committed")

    def _append(self, tx: Any, chunks: Iterable[pa.Table], schema: pa.Schema, props: dict[str, str]) -> None:
        """Append the chunks to the transaction in pieces of about :data:`PIECE_BYTES` of Arrow
        data, each a snapshot of the same catalog commit. Not one streamed append: pyiceberg 0.12
        hands every file-sized batch of a stream to its thread pool at once (``executor.map``), so a
        stream is held in memory whole (peak 306 MB for 1M narrow rows, 843 MB for 6M; in pieces, 289
        MB and 382 MB); and it cannot stream into partitioned tables at all."""
        import pyarrow as pa

        piece: list[pa.Table] = []
        size, appended = 0, False
        for chunk in chunks:
            piece.append(_cast(chunk, schema))
            size += chunk.nbytes
            if size >= PIECE_BYTES:
                tx.append(pa.concat_tables(piece), snapshot_properties=props)
                piece, size, appended = [], 0, True
        if piece or not appended:
            tx.append(pa.concat_tables(piece) if piece else schema.empty_table(), snapshot_properties=props)

    def scan(self, name: str, columns: list[str], where: Delete | None = None) -> pa.Table:
        """Columns of table ``name``, optionally only rows whose ``where.column`` is in ``where.values``."""
        from pyiceberg.expressions import AlwaysFalse, AlwaysTrue, BooleanExpression

        table = self._require(name)
        row_filter: BooleanExpression = AlwaysTrue()
        if where is not None:
            values = _values(where.values)
            row_filter = _in(where.column, values) if values else AlwaysFalse()
        with self._errors("read table", name):
            return table.scan(row_filter=row_filter, selected_fields=tuple(columns)).to_arrow()

    def reader(self, name: str) -> Any:
        """Table ``name`` read whole into an Arrow table (a query may scan it twice)."""
        # materialized: a query may scan a table twice (a self-join), which a one-shot reader cannot
        table = self._require(name)
        with self._errors("read table", name):
            return table.scan().to_arrow()

    def drop_table(self, name: str) -> None:
        """Drop table ``name``, purging its data files where the catalog can; a missing table is not an error."""
        from pyiceberg.exceptions import NoSuchTableError

        with self._errors("drop table", name):
            try:
                try:
                    self.catalog.purge_table(self._ident(name))  # the data files too
                except NotImplementedError:
                    self.catalog.drop_table(self._ident(name))
            except NoSuchTableError:
                pass

    def close(self) -> None:
        """Close the catalog if the client opened it."""
        if self._owned:
            close = getattr(self.catalog, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:
                    pass


def _values(array: Any) -> set[Any]:
    """The distinct non-null values of an Arrow array, as Python objects for an ``In`` filter."""
    return {v for v in array.to_pylist() if v is not None}


def _in(column: str, values: set[Any]) -> Any:
    """pyiceberg's ``In(column, values)`` (its ``__new__`` takes them; mypy sees the model's ``__init__``)."""
    from pyiceberg.expressions import In

    return cast(Any, In)(column, values)


def _cast(chunk: pa.Table, schema: pa.Schema) -> pa.Table:
    return chunk if chunk.schema.equals(schema) else chunk.select(schema.names).cast(schema)


def _transaction(table: Any) -> Any:
    """``table.transaction()``, whose ``table_metadata`` is computed once per staged state.

    pyiceberg 0.12 computes ``Transaction.table_metadata`` on every read: it replays the staged
    updates on the table's metadata and deep-copies the result, the list of every snapshot the table
    ever had included, and one append or delete reads it about 30 times. A table loaded every few
    minutes keeps its snapshots, so each load grew slower with the table's age (measured: 2.0 s for a
    small incremental run to Iceberg, 40% of it in these copies, after 10 runs). The copy is kept here
    while neither the table's metadata nor the staged updates (a tuple, replaced when one is staged)
    change, as apache/iceberg-python#3302 does upstream; a pyiceberg without those attributes gets its
    own property.
    """
    return _transaction_class()(table)


@functools.cache
def _transaction_class() -> type:
    from pyiceberg.table import Transaction

    getter = cast(property, vars(Transaction)["table_metadata"]).fget
    assert getter is not None
    computed: Callable[[Any], Any] = getter

    class CachedTransaction(Transaction):
        _cached: tuple[Any, Any, Any] | None = None

        @property
        def table_metadata(self) -> Any:
            base, updates = getattr(self._table, "metadata", None), getattr(self, "_updates", None)
            if base is None or updates is None:
                return computed(self)
            cached = self._cached
            if cached is None or cached[0] is not base or cached[1] is not updates:
                cached = self._cached = (base, updates, computed(self))
            return cached[2]

    return CachedTransaction
