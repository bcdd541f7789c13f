"""The streams of a SQL database: a reader per table or query, and the resource that runs it.

A reader is a frozen value (what to read, with which types, cursor and partitions); the resource's
function is rebuilt from it whenever hints change, so ``apply_hints(incremental=...)`` or a column
type given in ``columns=`` reach the SQL and the Arrow schema, not only the table's hints.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import decimal
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Unpack

import pyarrow as pa

from headwater.cursors.cursor import Incremental
from headwater.errors import ConfigError
from headwater.observe import metrics
from headwater.schema.hints import HintArgs, TableHints, build_hints, column_name
from headwater.schema.types import DataType
from headwater.sources.sql_database.arrow import Conformer
from headwater.sources.sql_database.cxreader import AS_TEXT, single_floats
from headwater.sources.sql_database.query import (
    TEMPORAL,
    CursorRange,
    KeyRange,
    check_range_column,
    select_query,
    select_table,
)
from headwater.sources.sql_database.readers import Backend, key_ranges
from headwater.sources.sql_database.reflect import ColumnSpec, TableSpec
from headwater.streams.resource import Resource


@dataclass(frozen=True)
class Partition:
    """Read a table as ``partitions`` ranges of ``column``, ``workers`` at a time."""

    column: str
    partitions: int = 4
    workers: int | None = None


@dataclass(frozen=True)
class TableReader:
    """Reads one table."""

    backend: Backend
    spec: TableSpec
    overrides: Mapping[str, DataType] = dataclasses.field(default_factory=dict)  # by normalized column name
    incremental: Incremental | None = None
    partition: Partition | None = None

    @property
    def name(self) -> str:
        """The stream's name: the table's."""
        return self.spec.name

    def with_incremental(self, inc: Incremental) -> TableReader:
        """The same reader with cursor ``inc``, its values in the cursor column's type."""
        return dataclasses.replace(self, incremental=prepare_incremental(inc, self.spec.with_types(self.overrides)))

    def function(self) -> Callable[..., Iterator[pa.Table]]:
        """The resource function: takes the cursor (a parameter whose default is the incremental) and,
        for a partitioned table, the key range to read (``partition``)."""
        reader = self

        def read_table(
            partition: KeyRange | None = None, cursor: Incremental | None = self.incremental
        ) -> Iterator[pa.Table]:
            yield from reader.read(cursor, partition)

        read_table.__name__ = read_table.__qualname__ = self.spec.name
        return read_table

    @property
    def partitioned(self) -> bool:
        """Whether the table is read as key ranges (``partition=`` with 2 partitions or more)."""
        return self.partition is not None and self.partition.partitions >= 2

    def ranges(self) -> list[KeyRange]:
        """The key ranges the table is read in: the span of the column over the whole table split
        evenly (the partitions of the resource, listed when a run starts)."""
        assert self.partition is not None
        spec = self.spec.with_types(self.overrides)
        col = check_range_column(spec, self.partition.column)
        return key_ranges(self.backend.db, spec, col, self.partition.partitions, None)

    def read(self, cursor: Incremental | None, key_range: KeyRange | None = None) -> Iterator[pa.Table]:
        """The table's rows as Arrow tables, in chunks, from ``cursor`` on (only ``key_range``'s when given)."""
        spec = self.spec.with_types(self.overrides)  # a type given in columns= changes the SELECT too
        where = cursor_range(cursor, spec)
        dialect = self.backend.db.dialect
        singles = single_floats(spec) if self.backend.use_cx else ()
        conformer = Conformer(spec.arrow_schema(), spec.name, round_decimals=dialect == "sqlite", singles=singles)
        adbc_sqlite = self.backend.use_adbc and dialect == "sqlite"
        literal = self.backend.literal
        text = AS_TEXT if self.backend.use_cx else frozenset()

        def one(key_range: KeyRange | None) -> Iterator[pa.Table]:
            stmt = select_table(
                spec, dialect, cursor=where, key_range=key_range, sentinel=adbc_sqlite, literal=literal, text_kinds=text
            )
            # the statement for SQLAlchemy, should ADBC not connect
            plain = select_table(spec, dialect, cursor=where, key_range=key_range) if adbc_sqlite else None
            what = f"table {spec.qualified!r}"
            return self.backend.chunks(stmt, conformer, what, spec.name, sentinel=adbc_sqlite, plain=plain)

        chunks = one(key_range)  # a partitioned table's ranges are partitions of the resource
        empty = True
        for chunk in counted(chunks, 1):
            empty = False
            yield chunk
        if empty:  # no rows: an empty table still carries the columns and their types to the destination
            yield conformer.schema.empty_table() if conformer.schema is not None else pa.table({})


@dataclass(frozen=True)
class QueryReader:
    """Reads the result of one SQL query; its columns are typed by the driver (and by ``columns`` hints)."""

    backend: Backend
    name: str
    sql: str
    overrides: Mapping[str, DataType] = dataclasses.field(default_factory=dict)
    incremental: Incremental | None = None

    def with_incremental(self, inc: Incremental) -> QueryReader:
        """The same reader with cursor ``inc``."""
        return dataclasses.replace(self, incremental=inc)

    def function(self) -> Callable[..., Iterator[pa.Table]]:
        """The resource function: takes the cursor (a parameter whose default is the incremental)."""
        reader = self

        def read_query(cursor: Incremental | None = self.incremental) -> Iterator[pa.Table]:
            yield from reader.read(cursor)

        read_query.__name__ = read_query.__qualname__ = self.name
        return read_query

    def read(self, cursor: Incremental | None) -> Iterator[pa.Table]:
        """The query's rows as Arrow tables, in chunks, from ``cursor`` on (the cursor condition wraps the query)."""
        dialect = self.backend.db.dialect
        where = cursor_range(cursor, None)
        literal = self.backend.literal
        known: ColumnSpec | None = None
        hinted = self.overrides.get(column_name(where.column)) if where is not None else None
        if where is not None and hinted is not None and dialect == "sqlite" and hinted.name in TEMPORAL:
            # SQLite dates are text in many spellings: compare them as julianday(), as for tables
            known = ColumnSpec(where.column, hinted, True, None)
        stmt = select_query(self.sql, dialect, cursor=where, cursor_column=known, literal=literal)
        conformer = Conformer(None, self.name, round_decimals=dialect == "sqlite", normalized=self.overrides)
        yield from counted(self.backend.chunks(stmt, conformer, f"query {self.name!r}", self.name), 1)


Reader = TableReader | QueryReader


def counted(chunks: Iterator[pa.Table], queries: int) -> Iterator[pa.Table]:
    """``chunks`` as they are; the statements run and the Arrow bytes read count in the running
    resource's metrics (per chunk)."""
    figures = metrics.current()
    if figures is None:
        yield from chunks
        return
    figures.read(queries=queries)
    for chunk in chunks:
        figures.read(nbytes=chunk.nbytes)
        yield chunk


class SQLResource(Resource):
    """A resource reading a table or a query; see :mod:`headwater.sources.sql_database`.

    ``apply_hints(incremental=hw.incremental("updated_at"))`` pushes the cursor into the SQL;
    ``apply_hints(columns={"price": "text"})`` changes the type the column is read with.

    Args:
        reader: what reads the table or the query.
        hints: the table hints (reflected, then the user's).
        selected: whether the stream is loaded.
    """

    def __init__(self, reader: Reader, hints: TableHints, *, selected: bool = True) -> None:
        super().__init__(reader.function(), name=reader.name, hints=hints, selected=selected)
        self.reader = reader

    def apply_hints(self, **hints: Unpack[HintArgs]) -> SQLResource:
        """Change the hints; ``incremental`` and ``columns`` change the SQL the stream reads with.

        Raises:
            ConfigError: ``incremental`` not made with ``hw.incremental(...)``.
        """
        inc = hints.pop("incremental", None)
        super().apply_hints(**hints)
        reader = self.reader
        if "columns" in hints:
            reader = dataclasses.replace(reader, overrides=type_overrides(self.hints))
        if inc is not None:
            if not isinstance(inc, Incremental):
                raise ConfigError(f"incremental must be made with hw.incremental(...), got {inc!r}", resource=self.name)
            reader = reader.with_incremental(inc)
        elif "columns" in hints and reader.incremental is not None:
            reader = reader.with_incremental(reader.incremental)  # its values in the column's new type
        if reader is not self.reader:
            self.reader = reader
            self._data = reader.function()
        return self


def type_overrides(hints: TableHints) -> dict[str, DataType]:
    """The column types the hints declare, by normalized column name."""
    return {name: h.data_type for name, h in hints.columns.items() if h.data_type is not None}


def make_resource(reader: Reader, hint_args: Mapping[str, Any]) -> SQLResource:
    """A resource for ``reader`` with the reflected hints, then the user's (``table_hints``) over them."""
    args = dict(hint_args)
    inc = args.pop("incremental", None)
    hints = build_hints(resource=reader.name, **args)
    reader = dataclasses.replace(reader, overrides=type_overrides(hints))
    resource = SQLResource(reader, hints)
    if inc is not None:
        resource.apply_hints(incremental=inc)
    if isinstance(reader, TableReader) and reader.partitioned:
        # key ranges are partitions: read on the pipeline's executor, one cursor for the whole table
        resource.partitions = lambda: resource.reader.ranges()  # type: ignore[union-attr]  # a TableReader
        resource.partition_state = "shared"
    return resource


# -- cursors ---------------------------------------------------------------------------------------
def prepare_incremental(inc: Incremental, spec: TableSpec) -> Incremental:
    """A copy of ``inc`` whose initial and end values have the cursor column's type (``"2024-01-01"``
    becomes a UTC datetime for a timestamp column), checked against the table."""
    col = _cursor_column(inc, spec)
    out = copy.copy(inc)
    out.initial_value = coerce(inc.initial_value, col, spec)
    out.end_value = coerce(inc.end_value, col, spec)
    out.start_value = out.initial_value
    return out


def _cursor_column(inc: Incremental, spec: TableSpec) -> ColumnSpec:
    if len(inc.path) != 1:
        raise ConfigError(
            f"incremental: {inc.cursor_path!r} is a nested path; a table's cursor is one of its columns",
            table=spec.name,
        )
    return spec.column(inc.path[0], "incremental")


def cursor_range(cursor: Incremental | None, spec: TableSpec | None) -> CursorRange | None:
    """What a bound cursor asks the database for (None: everything)."""
    if cursor is None:
        return None
    start, end = cursor.start_value, cursor.end_value
    if spec is not None:
        col = _cursor_column(cursor, spec)
        start, end = coerce(start, col, spec), coerce(end, col, spec)
    elif len(cursor.path) != 1:
        raise ConfigError(f"incremental: {cursor.cursor_path!r} is a nested path; a query's cursor is a column")
    return CursorRange(
        cursor.path[0],
        start,
        end,
        grows=cursor.grows,
        with_nulls=cursor.on_cursor_value_missing != "exclude",
    )


def coerce(value: Any, col: ColumnSpec, spec: TableSpec) -> Any:
    """``value`` as a Python value of ``col``'s type (what the column's Arrow values compare with)."""
    if value is None:
        return None
    kind = col.data_type.name
    try:
        if kind == "timestamp":
            if isinstance(value, str):
                value = dt.datetime.fromisoformat(value)
            if isinstance(value, dt.datetime):
                return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
            if isinstance(value, dt.date):
                return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
        elif kind == "date":
            if isinstance(value, str):
                return dt.date.fromisoformat(value)
            if isinstance(value, dt.datetime):
                return value.date()
        elif kind == "bigint" and isinstance(value, str | float | decimal.Decimal):
            as_int = int(value)
            if as_int != decimal.Decimal(str(value)):
                raise ValueError(f"{value!r} is not a whole number")
            return as_int
        elif kind == "decimal" and isinstance(value, int | float | str):
            return decimal.Decimal(str(value))
        elif kind == "double" and isinstance(value, int | str | decimal.Decimal):
            return float(value)
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise ConfigError(
            f"incremental: {value!r} is not a value of column {col.name!r} ({col.data_type}): {exc}",
            table=spec.name,
        ) from None
    return value
