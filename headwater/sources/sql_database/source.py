"""``sql_database(credentials, ...)``: a source with one stream per table (and per query).

::

    source = hw.sources.sql_database(
        "postgresql://loader@db:5432/shop",
        tables=["orders", "customers"],
        incremental={"orders": hw.incremental("updated_at")},
        table_hints={"orders": {"write_disposition": "merge"}},
        partition={"orders": {"column": "id", "partitions": 4}},
    )

Everything is checked here, before a row is read: the connection, the table names, the cursor and
partition columns. See docs/sql-database.md.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from headwater.cursors.cursor import Incremental
from headwater.errors import ConfigError
from headwater.schema.hints import HintArgs
from headwater.sources.hints import ResourceHints
from headwater.sources.sql_database.connection import Database, check_connection, connect
from headwater.sources.sql_database.cxreader import wanted as cx_wanted
from headwater.sources.sql_database.query import check_range_column
from headwater.sources.sql_database.readers import Backend
from headwater.sources.sql_database.reflect import partitions, reflect, table_names
from headwater.sources.sql_database.streams import Partition, QueryReader, Reader, TableReader, make_resource
from headwater.streams.resource import Resource
from headwater.streams.source import Source

DEFAULT_CHUNK_SIZE: Final = 50_000
HINT_KEYS: Final = tuple(HintArgs.__annotations__)
PARTITION_KEYS: Final = ("column", "partitions", "workers")


def sql_database(
    credentials: Any,
    tables: Sequence[str] | None = None,
    schema: str | None = None,
    query: str | Mapping[str, str] | None = None,
    *,
    name: str = "sql_database",
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    backend: str = "auto",
    incremental: Mapping[str, Incremental] | None = None,
    table_hints: Mapping[str, ResourceHints] | None = None,
    partition: Mapping[str, Mapping[str, Any] | str] | None = None,
) -> SQLDatabaseSource:
    """A source that reads tables (and queries) of a SQL database, one stream each.

    Args:
        credentials: a SQLAlchemy URL (``"postgresql://user:pw@host/db"``, ``"sqlite:///file.db"``,
            ``"mysql+pymysql://..."``, ``"mssql+pyodbc://..."``) or a SQLAlchemy ``Engine``.
        tables: the tables (or views) to read; default: every table of ``schema``, unless ``query``
            is given, then none.
        schema: the database schema (default: the connection's default schema).
        query: a SQL query read as a stream named ``"query"``, or ``{stream name: query}``.
        name: the source's name (the schema name of its tables in Headwater).
        chunk_size: rows per Arrow chunk (memory stays bounded by a few chunks).
        backend: ``"auto"`` (for PostgreSQL tables ConnectorX when it is installed; ADBC for PostgreSQL
            and SQLite files when the driver is installed; SQLAlchemy otherwise), ``"connectorx"``
            (PostgreSQL tables; queries read through ADBC or SQLAlchemy), ``"adbc"`` or ``"sqlalchemy"``.
        incremental: ``{stream: hw.incremental(column, ...)}``: the cursor is pushed into the SQL.
        table_hints: ``{stream: {hint: value}}``: any resource hint (``write_disposition``,
            ``primary_key``, ``columns``...) over the reflected ones.
        partition: ``{table: {"column": "id", "partitions": 4}}``: read the table as key ranges, the
            partitions of its resource, in parallel on the pipeline's executor (``workers`` is no longer
            used: the executor's ``workers`` is).

    Raises:
        ConfigError: a wrong argument, an unknown table or column.
        SourceError: the database cannot be reached.
    """
    if not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or chunk_size < 1:
        raise ConfigError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    db = connect(credentials, backend)
    use_cx = cx_wanted(db.dialect, backend)
    check_connection(db)
    queries = _queries(query)
    available, views = table_names(db, schema)
    parts, parents = partitions(db, schema)
    if tables is None:  # a partition's rows are read through its parent; named, it is read on its own
        available = [t for t in available if t not in parts]
    picked = _pick_tables(tables, available, views, schema, db, default_all=not queries)
    clash = sorted(set(picked) & set(queries))
    if clash:
        raise ConfigError(f"query name(s) {clash} are also table names", hint="give the queries other names")
    streams = [*picked, *queries]
    incremental = _per_stream(incremental, "incremental", streams)
    table_hints = _per_stream(table_hints, "table_hints", streams)
    partition = _per_stream(partition, "partition", streams)

    specs = reflect(db, picked, schema, parents)
    base = Backend(db, chunk_size, use_adbc=db.adbc_module is not None, forced=backend == "adbc")
    # SQLite's per-value typing makes ADBC's type inference unreliable for a query's columns, whose types
    # are not reflected: queries on SQLite read through SQLAlchemy unless ADBC is asked for. ConnectorX
    # reads tables only (a query's columns are the query's: see cxreader)
    query_backend = Backend(
        db, chunk_size, use_adbc=base.use_adbc and (db.dialect != "sqlite" or base.forced), forced=base.forced
    )
    if use_cx:
        base = dataclasses.replace(base, use_cx=True, cx_forced=backend == "connectorx")
    resources: list[Resource] = []
    for table in picked:
        spec = specs[table]
        part = _partition(partition.get(table), spec.name)
        if part is not None:
            check_range_column(spec, part.column)
        hints: dict[str, Any] = {"columns": spec.column_hints()}
        if spec.primary_key:
            hints["primary_key"] = list(spec.primary_key)
        reader: Reader = TableReader(base, spec, partition=part)
        resources.append(_resource(reader, hints, table_hints.get(table), incremental.get(table)))
    for stream, sql in queries.items():
        if stream in partition:
            raise ConfigError(f"partition: {stream!r} is a query; partitions read tables", resource=stream)
        resources.append(
            _resource(QueryReader(query_backend, stream, sql), {}, table_hints.get(stream), incremental.get(stream))
        )
    return SQLDatabaseSource(name, resources, db)


class SQLDatabaseSource(Source):
    """A source made by :func:`sql_database`; :attr:`database` is its connection (its engine, its URL
    without the password).

    Args:
        name: the source's name (the schema of its tables).
        resources: its resources, one per table or query.
        database: the connection the resources read through.
    """

    def __init__(self, name: str, resources: Iterable[Resource], database: Database) -> None:
        super().__init__(name, resources)
        self.database = database

    def with_resources(self, *names: str) -> Source:
        """A copy of the source that extracts only the streams ``names``, sharing the database connection."""
        picked = super().with_resources(*names)
        return SQLDatabaseSource(picked.name, picked.resources.values(), self.database)


def _resource(
    reader: Reader, reflected: dict[str, Any], user: Mapping[str, Any] | None, inc: Incremental | None
) -> Resource:
    user = dict(user or {})
    unknown = sorted(set(user) - set(HINT_KEYS))
    if unknown:
        raise ConfigError(
            f"table_hints: unknown hint(s) {unknown} for {reader.name!r}",
            hint=f"hints: {', '.join(HINT_KEYS)}",
            resource=reader.name,
        )
    if user.get("columns") is not None and "columns" in reflected:
        user["columns"] = {**reflected["columns"], **_columns_by_name(user["columns"], reader.name)}
    if inc is not None:
        if not isinstance(inc, Incremental):
            raise ConfigError(f"incremental must be made with hw.incremental(...), got {inc!r}", resource=reader.name)
        user["incremental"] = inc
    return make_resource(reader, {**reflected, **user})


def _columns_by_name(columns: Any, resource: str) -> dict[str, Any]:
    if isinstance(columns, Mapping):
        return dict(columns)
    if isinstance(columns, Sequence) and not isinstance(columns, str):
        out: dict[str, Any] = {}
        for spec in columns:
            if not isinstance(spec, Mapping) or "name" not in spec:
                raise ConfigError(f"each column hint in a list needs a 'name', got {spec!r}", resource=resource)
            out[spec["name"]] = {k: v for k, v in spec.items() if k != "name"}
        return out
    raise ConfigError(f"columns must be a dict of column hints, got {type(columns).__name__}", resource=resource)


def _queries(query: str | Mapping[str, str] | None) -> dict[str, str]:
    if query is None:
        return {}
    if isinstance(query, str):
        query = {"query": query}
    if not isinstance(query, Mapping) or not query:
        raise ConfigError("query must be a SQL string or a non-empty {name: SQL} dict")
    for key, sql in query.items():
        if not isinstance(key, str) or not key.strip() or not isinstance(sql, str) or not sql.strip():
            raise ConfigError(f"query: {key!r} must name a non-empty SQL string")
    return dict(query)


def _pick_tables(
    tables: Sequence[str] | None,
    available: list[str],
    views: list[str],
    schema: str | None,
    db: Database,
    *,
    default_all: bool,
) -> list[str]:
    where = f"schema {schema!r} of {db.safe_url}" if schema else db.safe_url
    if tables is None:
        if default_all and not available:
            raise ConfigError(f"there are no tables in {where}", hint="check the database and schema=")
        return list(available) if default_all else []
    if isinstance(tables, str) or not all(isinstance(t, str) for t in tables):
        raise ConfigError(f"tables must be a list of table names, got {tables!r}")
    known = set(available) | set(views)
    unknown = [t for t in tables if t not in known]
    if unknown:
        raise ConfigError(
            f"unknown table(s) {unknown} in {where}",
            hint=f"available: {', '.join(available) or '(none)'}" + (f"; views: {', '.join(views)}" if views else ""),
            table=unknown[0],
        )
    return list(dict.fromkeys(tables))


def _per_stream(value: Mapping[str, Any] | None, what: str, streams: list[str]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{what} must be a dict keyed by table (or query) name, got {type(value).__name__}")
    unknown = [k for k in value if k not in streams]
    if unknown:
        raise ConfigError(
            f"{what}: unknown table(s) {unknown}",
            hint=f"streams of this source: {', '.join(streams)}",
            table=unknown[0],
        )
    return dict(value)


def _partition(value: Mapping[str, Any] | str | None, table: str) -> Partition | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = {"column": value}
    if not isinstance(value, Mapping):
        raise ConfigError(f"partition: expected {{'column': ..., 'partitions': N}}, got {value!r}", table=table)
    unknown = sorted(set(value) - set(PARTITION_KEYS))
    if unknown or "column" not in value:
        raise ConfigError(
            f"partition: {table!r} needs 'column' (and optionally 'partitions', 'workers'), got {dict(value)!r}",
            table=table,
        )
    count = value.get("partitions", 4)
    workers = value.get("workers")
    for key, n in (("partitions", count), ("workers", workers)):
        if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
            raise ConfigError(f"partition: {key} must be a positive integer, got {n!r}", table=table)
    return Partition(str(value["column"]), count, workers)
