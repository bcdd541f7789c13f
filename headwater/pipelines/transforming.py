"""The transform step (ETL): a resource's items normalized into ``records``, queried, and fed back.

A resource with a :class:`~headwater.transform.Transform` does not send its items to the extraction's
router directly. A :class:`Stage` runs them through a private router and normalizer first, so the
query sees what would have loaded: ``records`` (the root table, snake_case columns, nested objects
flattened) and one table per list, ``records__<list>``. The query's result goes to the real router as
Arrow items of the resource, so the schema (evolution, contracts, hints), dispositions, state and
exactly-once loads downstream are those of any resource.

* A row-wise query (:mod:`headwater.transform.rowwise`) runs on each normalized batch as it comes, on
  an in-memory DuckDB connection: streaming, in bounded memory. ``records`` holds no system column.
* Any other query (and a function) runs once, after the resource's last item, over all of its data
  staged in a DuckDB file inside the load package folder; DuckDB spills to disk past the transform's
  ``memory_limit``, so the data may be larger than memory. There ``records`` and its child tables
  keep ``_hw_id``, ``_hw_parent_id``, ``_hw_list_idx`` and ``_hw_root_id`` for joins
  (``records__tags._hw_parent_id = records._hw_id``). The file is deleted afterwards.

Columns of the result named ``_hw_*`` are dropped: the normalizer gives the loaded rows their own.
When the extraction fails, a staged transform is abandoned (no aggregate over part of the data is
loaded); a row-wise one keeps what it transformed, as any resource keeps its rows.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from headwater import names
from headwater.errors import ConfigError
from headwater.normalize.arrow_types import to_arrow
from headwater.normalize.normalizer import Normalizer
from headwater.observe.progress import NullProgress
from headwater.pipelines.router import DEFAULT_BATCH_BYTES, ItemRouter
from headwater.schema.hints import ColumnHint, TableHints
from headwater.schema.model import LOAD_ID, Schema
from headwater.streams.resource import Resource
from headwater.transform import Transform

#: the name of the root table a transform reads
RECORDS = "records"


class Stage:
    """The transform of one resource: items in through :meth:`push`, results out through ``emit``.

    Args:
        resource: the resource (its ``transform`` set).
        emit: receives each Arrow table of the result.
        batch_size: rows per normalized batch (and per result batch).
        batch_bytes: bytes per normalized batch (see :mod:`headwater.pipelines.router`).
        staging: the staging database's path, without suffix (in the load package's folder).
    """

    def __init__(
        self,
        resource: Resource,
        emit: Callable[[pa.Table], None],
        *,
        batch_size: int,
        staging: Path,
        mask_key: bytes | None = None,
        batch_bytes: int = DEFAULT_BATCH_BYTES,
    ) -> None:
        assert resource.transform is not None
        self.resource = resource.name
        self.transform: Transform = resource.transform
        self.emit = emit
        self.batch_size = batch_size
        self.path = staging.with_suffix(".duckdb")
        self.spill = staging.with_suffix(".tmp")
        # the resource's masks apply to its items, before anything is staged: the transform sees masked values
        masks = {n: ColumnHint(n, mask=h.mask) for n, h in resource.hints.columns.items() if h.mask is not None}
        hints = TableHints(table_name=RECORDS, max_nesting=resource.hints.max_nesting, columns=masks)
        self._private = Resource(None, name=resource.name, hints=hints)
        normalizer = Normalizer(
            Schema("transform"), load_id="transform", sink=self._normalized, widening=(), mask_key=mask_key
        )
        self._router = ItemRouter(normalizer, batch_size=batch_size, batch_bytes=batch_bytes, progress=NullProgress())
        self._con: Any = None
        self._closed = False
        self._tables: dict[str, set[str]] = {}  # staged table -> its columns

    # -- in ----------------------------------------------------------------------------------------
    def push(self, item: Any) -> None:
        """One item of the resource (any kind a resource may yield)."""
        self._router(self._private, item)

    def finish(self) -> None:
        """Normalize what is buffered; a staged transform then runs over all of the data."""
        if self._closed:
            return
        self._router.flush_all()
        if not self.transform.row_wise and RECORDS in self._tables:
            self._run(self._connection())

    def close(self) -> None:
        """Close the connection and delete the staging database."""
        self._closed = True
        if self._con is not None:
            self._con.close()
            self._con = None
        for path in (self.path, self.path.with_name(self.path.name + ".wal")):
            path.unlink(missing_ok=True)
        shutil.rmtree(self.spill, ignore_errors=True)

    def _normalized(self, table: str, data: pa.Table) -> None:
        """The private normalizer's sink: a normalized piece of ``records`` or of a child table."""
        if not table.startswith(RECORDS):
            return  # the quarantine of the private normalizer: there is no contract, so nothing
        if self.transform.row_wise:
            if table == RECORDS:
                self._batch(self._padded(_without_system(data, keep=())))
            return
        self._stage(table, _without_system(data, keep=_JOIN_COLUMNS))

    # -- row-wise ----------------------------------------------------------------------------------
    def _padded(self, data: pa.Table) -> pa.Table:
        """``data`` with the columns earlier batches had and this one lacks, as nulls: a row-wise query
        sees every column known so far."""
        known = self._router.normalizer.schema.tables[RECORDS].columns
        for name, column in known.items():
            if name not in data.column_names and not column.system and column.data_type:
                data = data.append_column(name, pa.nulls(data.num_rows, type=_arrow_type(column.type)))
        return data

    def _batch(self, data: pa.Table) -> None:
        con = self._connection()
        con.register(RECORDS, data)
        try:
            self._run(con)
        finally:
            con.unregister(RECORDS)

    # -- staged ------------------------------------------------------------------------------------
    def _stage(self, table: str, data: pa.Table) -> None:
        con = self._connection()
        con.register("_hw_batch", data)
        try:
            quoted = names.quote_identifier(table)
            known = self._tables.get(table)
            if known is None:
                con.execute(f"CREATE TABLE {quoted} AS SELECT * FROM _hw_batch")
                self._tables[table] = set(data.column_names)
                return
            relation = con.sql("SELECT * FROM _hw_batch")
            for column, kind in zip(relation.columns, relation.types, strict=True):
                if column not in known:
                    con.execute(f"ALTER TABLE {quoted} ADD COLUMN {names.quote_identifier(column)} {kind}")
                    known.add(column)
            con.execute(f"INSERT INTO {quoted} BY NAME SELECT * FROM _hw_batch")
        finally:
            con.unregister("_hw_batch")

    def _connection(self) -> Any:
        import duckdb

        if self._con is None:
            if self.transform.row_wise:
                self._con = duckdb.connect()
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._con = duckdb.connect(str(self.path))
                self._con.execute(f"SET memory_limit = {names.quote_literal(self.transform.memory_limit)}")
                self._con.execute(f"SET temp_directory = {names.quote_literal(str(self.spill))}")
                self._con.execute("SET preserve_insertion_order = false")
        return self._con

    # -- the query ---------------------------------------------------------------------------------
    def _run(self, con: Any) -> None:
        import duckdb

        try:
            for batch in self._result(con):
                if batch.num_rows:
                    self.emit(_without_system(pa.Table.from_batches([batch]), keep=()))
        except duckdb.Error as exc:
            raise ConfigError(
                f"the transform of resource {self.resource!r} failed: {exc}",
                hint=f"the query: {self.transform.text.strip()}; 'records' has the normalized columns "
                "(snake_case names), lists are the tables records__<list>",
                resource=self.resource,
            ) from exc

    def _result(self, con: Any) -> Iterator[pa.RecordBatch]:
        transform = self.transform
        if transform.sql is not None:
            relation = (
                con.sql(transform.sql, params=dict(transform.params)) if transform.params else con.sql(transform.sql)
            )
            yield from _batches(relation, self.batch_size, self.resource)
            return
        assert transform.function is not None
        try:
            records = con.table(RECORDS)
            if _wants_arrow(transform.function):
                records = records.to_arrow_table()  # in memory: the function asked for a pyarrow.Table
            out = transform.function(records, **dict(transform.kwargs))
        except ConfigError:
            raise
        except Exception as exc:
            raise ConfigError(
                f"the transform function {transform.text!r} of resource {self.resource!r} failed: {exc!r}",
                resource=self.resource,
            ) from exc
        yield from _batches(out, self.batch_size, self.resource)


def _arrow_type(data_type: Any) -> pa.DataType:
    try:
        return to_arrow(data_type)
    except (KeyError, ValueError):
        return pa.null()


def _wants_arrow(fn: Callable[..., Any]) -> bool:
    """Whether the function's first parameter is annotated as a ``pyarrow.Table``."""
    try:
        first = next(iter(inspect.signature(fn).parameters.values()))
    except (StopIteration, TypeError, ValueError):
        return False
    hint = first.annotation
    return hint is pa.Table or (isinstance(hint, str) and hint in ("pa.Table", "pyarrow.Table"))


#: system columns kept in staged tables, for joining child tables to their parents
_JOIN_COLUMNS = ("_hw_id", "_hw_parent_id", "_hw_list_idx", "_hw_root_id")


def _without_system(data: pa.Table, *, keep: tuple[str, ...]) -> pa.Table:
    dropped = [c for c in data.column_names if c.startswith("_hw_") and (c not in keep or c == LOAD_ID)]
    return data.drop_columns(dropped) if dropped else data


def _batches(out: Any, batch_size: int, resource: str) -> Iterator[pa.RecordBatch]:
    """What a query or a function returned, as Arrow record batches."""
    if type(out).__name__ == "DuckDBPyRelation":
        reader = (
            out.to_arrow_reader(batch_size) if hasattr(out, "to_arrow_reader") else out.fetch_record_batch(batch_size)
        )
        yield from reader
        return
    if isinstance(out, pa.RecordBatch):
        yield out
        return
    if isinstance(out, pa.Table):
        yield from out.to_batches(batch_size)
        return
    if isinstance(out, pa.RecordBatchReader):
        yield from out
        return
    module = type(out).__module__.partition(".")[0]
    if module == "pandas" and type(out).__name__ == "DataFrame":
        yield from pa.Table.from_pandas(out, preserve_index=False).to_batches(batch_size)
        return
    if module == "polars" and type(out).__name__ == "DataFrame":
        yield from out.to_arrow().to_batches(batch_size)
        return
    raise ConfigError(
        f"the transform function of resource {resource!r} returned {type(out).__name__}",
        hint="return a DuckDB relation, an Arrow table or reader, or a pandas or polars DataFrame",
        resource=resource,
    )


class TransformRouter:
    """The extraction's sink: items of transformed resources go through their :class:`Stage`, the
    others (and every result) to ``router``.

    Args:
        router: the extraction's router.
        resources: the resources of the extraction (those with a transform get a stage).
        staging: the folder of staging databases (the load package's).
    """

    def __init__(self, router: ItemRouter, resources: list[Resource], staging: Path) -> None:
        self.router = router
        self.stages: dict[str, Stage] = {}
        for r in resources:
            if r.selected and r.transform is not None:
                path = staging / f"transform-{len(self.stages)}"
                key = router.normalizer.mask_key
                self.stages[r.name] = Stage(
                    r,
                    self._emitter(_unmasked(r)),
                    batch_size=router.batch_size,
                    batch_bytes=router.batch_bytes,
                    staging=path,
                    mask_key=key,
                )

    def _emitter(self, resource: Resource) -> Callable[[pa.Table], None]:
        def emit(table: pa.Table) -> None:
            self.router(resource, table)

        return emit

    @property
    def normalizer(self) -> Normalizer:
        """The extraction's normalizer (see :class:`ItemRouter`)."""
        return self.router.normalizer

    @property
    def tables_by_resource(self) -> dict[str, set[str]]:
        """The tables each resource wrote (see :class:`ItemRouter`)."""
        return self.router.tables_by_resource

    @property
    def replaced_by_items(self) -> set[str]:
        """Tables hinted items replace (see :class:`ItemRouter`)."""
        return self.router.replaced_by_items

    def touch(self, resource: Resource) -> str | None:
        """See :meth:`ItemRouter.touch`."""
        return self.router.touch(resource)

    def __call__(self, resource: Resource, item: Any) -> None:
        """Route one item of ``resource``."""
        stage = self.stages.get(resource.name) if self.stages else None
        if stage is None or resource.transform is None:
            self.router(resource, item)
        else:
            stage.push(item)

    def flush_all(self, *, failed: bool = False) -> None:
        """Finish every stage (after a failure: only the row-wise ones), then the router's buffers."""
        try:
            for stage in self.stages.values():
                if not failed or stage.transform.row_wise:
                    stage.finish()
        finally:
            self.close()
        self.router.flush_all()

    def close(self) -> None:
        """Close every stage (staging databases deleted)."""
        for stage in self.stages.values():
            with contextlib.suppress(Exception):
                stage.close()


def _unmasked(resource: Resource) -> Resource:
    """``resource`` for its transform's results: its masks were applied to its items already (twice
    would hash a hash)."""
    if not resource.hints.masks():
        return resource
    columns = {n: dataclasses.replace(h, mask=None) for n, h in resource.hints.columns.items()}
    clone = resource._copy()
    clone.hints = dataclasses.replace(resource.hints, columns=columns)
    return clone
