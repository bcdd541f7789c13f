"""Reading a stream in chunks of Arrow tables: with ConnectorX, ADBC or SQLAlchemy, whole or as parallel key ranges.

* **ConnectorX** (PostgreSQL tables): Arrow record batches from a Rust reader of binary ``COPY``
  (:mod:`.cxreader`), converted and cut like ADBC's; under ``auto`` a ConnectorX that fails before its
  first rows hands the table to ADBC (or SQLAlchemy), with a warning.
* **ADBC** (PostgreSQL, SQLite): the driver returns Arrow record batches (PostgreSQL through binary
  ``COPY``); they are converted to the reflected types and cut into chunks of ``chunk_size`` rows.
* **SQLAlchemy** (every dialect): rows are fetched ``chunk_size`` at a time (a server-side cursor where
  the driver has one) and each chunk is turned into Arrow column by column.

ConnectorX and ADBC read ahead: the next chunk is fetched on a thread of its own while the caller
normalizes the current one (:mod:`.readahead`); their drivers work without the interpreter lock. SQLAlchemy
reads on the caller's thread (its rows are Python objects, and SQLite's connections belong to the thread
that made them: a user's ``Engine`` may share one).

A partitioned table is read as N key ranges (:func:`key_ranges`), each a partition of its resource:
the pipeline's executor reads them in parallel (threads, processes or Ray), each with its connection.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import importlib
import re
import uuid
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

import pyarrow as pa

from headwater.errors import DataError, HeadwaterError, SourceError
from headwater.normalize import pandas_gate
from headwater.normalize.compute import pc
from headwater.observe.access import record_access
from headwater.schema.types import DataType
from headwater.sources.sql_database.arrow import Conformer, rechunk
from headwater.sources.sql_database.connection import MYSQL_DIALECTS, Database, libpq_uri, log
from headwater.sources.sql_database.cxreader import BATCH_ROWS, infinite_column, record_batches
from headwater.sources.sql_database.drivertypes import mysql_field_type, pg_oid_type
from headwater.sources.sql_database.query import (
    REAL_SUFFIX,
    SENTINEL,
    CursorRange,
    KeyRange,
    key_expression,
    render,
    select_table,
)
from headwater.sources.sql_database.readahead import read_ahead
from headwater.sources.sql_database.reflect import ColumnSpec, TableSpec
from headwater.sources.sql_database.values import real_text

_SQLITE_BATCH_ROWS: Final = "adbc.sqlite.query.batch_rows"


@dataclass(frozen=True)
class Backend:
    """How a stream is read: the database, the chunk size, and whether ConnectorX or ADBC is used."""

    db: Database
    chunk_size: int
    use_adbc: bool
    forced: bool  # backend="adbc": no fallback to SQLAlchemy when ADBC cannot connect
    use_cx: bool = False  # ConnectorX reads the tables (PostgreSQL); see cxreader
    cx_forced: bool = False  # backend="connectorx": no fallback to ADBC when ConnectorX fails to start

    @property
    def literal(self) -> bool:
        """Whether values go into the SQL as literals: the Arrow drivers of PostgreSQL stream a result with
        ``COPY``, which takes no bound parameters (see :func:`~.query.render`)."""
        return (self.use_adbc or self.use_cx) and self.db.dialect == "postgresql"

    def chunks(
        self,
        stmt: Any,
        conformer: Conformer,
        what: str,
        stream: str,
        *,
        sentinel: bool = False,
        plain: Any = None,
    ) -> Iterator[pa.Table]:
        """Run ``stmt``; yield its rows as Arrow tables of ``chunk_size`` rows in the conformer's types.

        ``what`` says what is read in messages ("table 'orders'"), ``stream`` is the resource's name;
        ``plain`` is the statement for SQLAlchemy when ``stmt`` is made for ADBC (with a sentinel row).
        """
        rows = 0

        def read() -> Iterator[pa.Table]:
            return self._chunks(stmt, conformer, what, stream, sentinel=sentinel, plain=plain)

        try:  # an Arrow driver reads the next chunk on a thread of its own while this one is normalized
            for chunk in read_ahead(read) if self.use_cx or self.use_adbc else read():
                rows += chunk.num_rows
                yield chunk
        finally:  # a read stopped early (a limit, a failure) is a read too
            record_access("sql_database", url=self.db.safe_url, rows=rows, resource=stream, what=what)

    def _chunks(
        self, stmt: Any, conformer: Conformer, what: str, stream: str, *, sentinel: bool, plain: Any
    ) -> Iterator[pa.Table]:
        if self.use_cx:
            read = self._connectorx(stmt, conformer, what, stream)
            try:
                first = next(read)
            except StopIteration:
                return
            except Exception as exc:  # before any row: under auto, the next backend reads the table
                if self.cx_forced:
                    raise
                other = "ADBC" if self.use_adbc else "SQLAlchemy"
                reason = self.db.scrub(str(exc).strip())
                log.warning("sql_database: ConnectorX cannot read %s (%s); reading it with %s", what, reason, other)
            else:
                try:
                    yield first
                    yield from read
                finally:
                    read.close()
                return
        if self.use_adbc:
            conn = self._adbc_connection(what, stream)
            if conn is not None:
                log.debug("sql_database: reading %s with ADBC", what)
                yield from self._adbc(conn, stmt, conformer, what, stream, sentinel)
                return
        log.debug("sql_database: reading %s with SQLAlchemy", what)
        yield from self._sqlalchemy(stmt if plain is None else plain, conformer, what, stream)

    def _adbc_connection(self, what: str, stream: str) -> Any:
        try:
            return self.db.adbc_connect()
        except Exception as exc:
            message = f"ADBC cannot connect to {self.db.safe_url}: {self.db.scrub(str(exc).strip())}"
            if self.forced:
                raise SourceError(message, hint="check the URL, or use backend='sqlalchemy'", resource=stream) from None
            log.warning("%s; reading %s with SQLAlchemy", message, what)
            return None

    def _adbc(
        self, conn: Any, stmt: Any, conformer: Conformer, what: str, stream: str, sentinel: bool
    ) -> Iterator[pa.Table]:
        literal = self.db.dialect == "postgresql"
        sql, params = render(stmt, self.db.engine.dialect, literal)

        def tables(reader: Any) -> Iterator[pa.Table]:
            for batch in reader:
                if sentinel:
                    flags = batch.column(
                        SENTINEL
                    )  # a typed zero: a Python 0 would make pyarrow infer it (and import pandas)
                    batch = batch.filter(pc.equal(flags, pandas_gate.scalar(0, flags.type))).drop_columns([SENTINEL])
                    batch = merge_reals(batch)
                yield conformer.table_from_arrow(batch)

        try:
            with self.db.errors(f"reading {what}", resource=stream):
                cur = conn.cursor()
                try:
                    if self.db.dialect == "sqlite":
                        cur.adbc_statement.set_options(**{_SQLITE_BATCH_ROWS: str(min(self.chunk_size, 65_536))})
                    cur.execute(sql, params or None)
                    names = [d[0] for d in cur.description or ()]
                    try:
                        yield from rechunk(tables(cur.fetch_record_batch()), self.chunk_size)
                    except Exception as exc:
                        raise _adbc_explained(exc, names, conformer) from exc
                finally:
                    cur.close()
        finally:
            conn.close()

    def _connectorx(self, stmt: Any, conformer: Conformer, what: str, stream: str) -> Generator[pa.Table]:
        """Record batches from ConnectorX (binary ``COPY`` of the statement, with literal values) in the
        conformer's types, cut into chunks of ``chunk_size`` rows."""
        log.debug("sql_database: reading %s with ConnectorX", what)
        sql, _ = render(stmt, self.db.engine.dialect, True)
        batches = record_batches(libpq_uri(self.db.engine.url), sql, min(self.chunk_size, BATCH_ROWS))

        def conformed(batch: pa.RecordBatch) -> pa.Table:
            infinite = infinite_column(batch)
            if infinite is not None:
                raise conformer.infinity(*infinite)
            return conformer.table_from_arrow(batch, utf8_checked=True)  # Rust strings: UTF-8 by construction

        with self.db.errors(f"reading {what}", resource=stream):
            try:
                yield from rechunk(map(conformed, batches), self.chunk_size)
            except Exception as exc:
                raise self._explained(exc, stmt, conformer, stream, driver="ConnectorX") from exc

    def _sqlalchemy(self, stmt: Any, conformer: Conformer, what: str, stream: str) -> Iterator[pa.Table]:
        """Rows as the DB-API driver returns them, ``chunk_size`` at a time from a server-side cursor.

        SQLAlchemy compiles the statement and opens the connection; the rows are fetched from the driver's
        own cursor, without SQLAlchemy's result processing, which changes values (MySQL ``DOUBLE`` rounded to
        10 decimal places, ``TIME`` wrapped into a day, ``SET`` as a Python set, SQLite's ``'false'`` as
        true) and costs a third of the reading time.
        """
        dialect = self.db.engine.dialect
        with (
            self.db.errors(f"reading {what}", resource=stream),
            self.db.connect() as conn,
            values_as_text(conn, dialect),
        ):
            sql, params = render(stmt, dialect, literal=False)
            cursor = raw_cursor(conn, dialect)
            try:
                try:
                    cursor.execute(sql, params)
                    names = [d[0] for d in cursor.description]
                    conformer.adopt(description_types(cursor, self.db.dialect))
                    while rows := cursor.fetchmany(self.chunk_size):
                        yield conformer.table_from_rows(rows, names)
                except Exception as exc:
                    raise self._explained(exc, stmt, conformer, stream) from exc
            finally:
                with contextlib.suppress(Exception):
                    cursor.close()  # a server-side cursor left open when the reader stops early

    def _explained(
        self, exc: Exception, stmt: Any, conformer: Conformer, stream: str, driver: str = "psycopg"
    ) -> Exception:
        """A driver's refusal of a value as a DataError naming the column, when the column can be found."""
        if isinstance(exc, HeadwaterError):
            return exc
        text = str(exc)
        decode = _SQLITE_DECODE.search(text)
        if decode is not None:
            column = decode.group(1)
            return DataError(
                f"column {column!r} holds text that is not valid UTF-8",
                hint=f"read its bytes instead: table_hints={{table: {{'columns': {{{column!r}: 'binary'}}}}}}",
                table=conformer.table,
                column=column,
            )
        if self.db.dialect == "postgresql" and _PG_OUT_OF_RANGE.search(text):
            column = out_of_range_column(self.db, stmt, conformer)
            if column is not None:
                other = "read it with backend='adbc' (years beyond 9999), or " if driver == "psycopg" else ""
                return DataError(
                    f"column {column!r} holds infinity, -infinity or a date outside the years 1 to 9999, "
                    f"which the driver ({driver}) cannot read",
                    hint=f"{other}load PostgreSQL's own text by "
                    f"declaring the column text: table_hints={{table: {{'columns': {{{column!r}: 'text'}}}}}}",
                    table=conformer.table,
                    column=column,
                )
        return exc


_SQLITE_DECODE: Final = re.compile(r"Could not decode to UTF-8 column '([^']*)'")
_ADBC_MISMATCH: Final = re.compile(r"Type mismatch in column (\d+): expected (\w+) but got ([\w/]+)")
_PG_OUT_OF_RANGE: Final = re.compile(r"(too large|too small|out of range|infinity)", re.IGNORECASE)


def _adbc_explained(exc: Exception, names: Sequence[str], conformer: Conformer) -> Exception:
    """ADBC's SQLite driver fixes a column's type from its first rows and refuses a later value of another
    storage class by the column's position; say which column, and what to do."""
    found = _ADBC_MISMATCH.search(str(exc))
    if found is None or isinstance(exc, HeadwaterError):
        return exc
    index = int(found.group(1)) + (1 if names and names[0] == SENTINEL else 0)
    column = names[index] if index < len(names) else f"#{index}"
    return DataError(
        f"column {column!r} holds a value stored as {found.group(3)} among values stored as {found.group(2)} "
        "(SQLite keeps what it is given, whatever the column's type)",
        hint="fix the value in the database, or declare the column text to load every value's text: "
        f"table_hints={{table: {{'columns': {{{column!r}: 'text'}}}}}}",
        table=conformer.table,
        column=column,
    )


@contextlib.contextmanager
def values_as_text(conn: Any, dialect: Any) -> Iterator[None]:
    """PyMySQL without its value converters: numbers, dates and times arrive as the text the server sent
    and are parsed by Arrow, column by column, instead of by Python, value by value (the converters take
    most of PyMySQL's reading time). The connection's converters are restored afterwards."""
    driver = conn.connection.driver_connection
    if dialect.name not in MYSQL_DIALECTS or dialect.driver != "pymysql" or not hasattr(driver, "decoders"):
        yield
        return
    saved = driver.decoders
    driver.decoders = {}
    try:
        yield
    finally:
        driver.decoders = saved


def merge_reals(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Put the binary floats of a SQLite text column (read apart, see ``query.real_companion``) back into it,
    written by :func:`~.values.real_text`."""
    extra = [name for name in batch.schema.names if name.endswith(REAL_SUFFIX)]
    if not extra:
        return batch
    columns = dict(zip(batch.schema.names, batch.columns, strict=True))
    for name in extra:
        reals = columns.pop(name)
        base = name[: -len(REAL_SUFFIX)]
        if reals.null_count < len(reals):
            texts = pa.array([None if v is None else real_text(v) for v in reals.to_pylist()], pa.string())
            columns[base] = pc.if_else(pc.is_valid(reals), texts, columns[base].cast(pa.string()))
    return pa.RecordBatch.from_arrays(list(columns.values()), names=list(columns))


def raw_cursor(conn: Any, dialect: Any) -> Any:
    """The driver's own cursor for a SQLAlchemy connection: a server-side (streaming) one where the driver has
    it (PyMySQL, mysqlclient, psycopg, psycopg2), so that a table larger than memory can be read."""
    driver = conn.connection.driver_connection
    name = dialect.driver
    if dialect.name in ("mysql", "mariadb") and name in ("pymysql", "mysqldb"):
        module = importlib.import_module("pymysql.cursors" if name == "pymysql" else "MySQLdb.cursors")
        return driver.cursor(module.SSCursor)
    if dialect.name == "postgresql" and name in ("psycopg", "psycopg2"):
        cursor = driver.cursor(name=f"headwater_{uuid.uuid4().hex[:12]}")
        cursor.itersize = 10_000
        return cursor
    if dialect.name in ("mysql", "mariadb") and name == "mariadbconnector":
        return driver.cursor(buffered=False)
    return driver.cursor()


def description_types(cursor: Any, dialect: str) -> dict[str, DataType]:
    """The Headwater types of a result's columns, from what the driver says of them (for queries, which
    are not reflected): MySQL's field types and flags, PostgreSQL's type OIDs."""
    description = cursor.description or ()
    if dialect in MYSQL_DIALECTS:
        fields = getattr(getattr(cursor, "_result", None), "fields", None)  # PyMySQL: flags and charsets
        flags = [getattr(f, "flags", 0) for f in fields] if fields else getattr(cursor, "description_flags", None)
        charsets = [getattr(f, "charsetnr", None) for f in fields] if fields else None
        out = {}
        for i, d in enumerate(description):
            found = mysql_field_type(d, flags[i] if flags else 0, charsets[i] if charsets else None)
            if found is not None:
                out[d[0]] = found
        return out
    if dialect == "postgresql":
        return {d[0]: t for d in description if (t := pg_oid_type(d)) is not None}
    return {}


def out_of_range_column(db: Database, stmt: Any, conformer: Conformer) -> str | None:
    """The first date or timestamp column of a PostgreSQL result holding infinity or a year psycopg cannot
    read (found by asking the database: psycopg's error does not say which column)."""
    import sqlalchemy as sa

    if isinstance(stmt, sa.TextClause):  # a user's query: its columns are the ones the driver described
        stmt = stmt.columns(*(sa.column(name) for name in conformer.types))
    inner = stmt.subquery("_hw_q")
    for name, target in conformer.types.items():
        if not (pa.types.is_timestamp(target) or pa.types.is_date(target)) or name not in inner.c:
            continue
        col = inner.c[name]
        test = sa.or_(
            sa.not_(sa.func.isfinite(col)),
            col > sa.literal_column("'9999-12-31 23:59:59.999999'"),
            col < sa.literal_column("'0001-01-01'"),
        )
        try:
            with db.connect() as conn:
                if conn.execute(sa.select(sa.literal(1)).select_from(inner).where(test).limit(1)).first():
                    return name
        except Exception:  # a diagnosis only: the original error is raised anyway
            return None
    return None


# -- key ranges ------------------------------------------------------------------------------------
def key_ranges(
    db: Database, spec: TableSpec, col: ColumnSpec, count: int, cursor: CursorRange | None
) -> list[KeyRange]:
    """``count`` ranges of ``col`` that together hold every row exactly once.

    The bounds split ``[min, max]`` evenly; the first range is open below and also takes the rows
    whose key is NULL, the last is open above (rows inserted meanwhile land in one range, not none).
    """
    import sqlalchemy as sa

    table = spec.sa_table
    key = key_expression(col, table.c[col.name], db.dialect)
    stmt = select_table(spec, db.dialect, cursor=cursor)  # the same rows the ranges will read
    inner = stmt.with_only_columns(key.label("k")).order_by(None).subquery()
    with db.errors(f"finding the range of {spec.qualified}.{col.name}", table=spec.name), db.connect() as conn:
        lo, hi = conn.execute(sa.select(sa.func.min(inner.c.k), sa.func.max(inner.c.k))).one()
    bounds = split(lo, hi, count)
    if not bounds:
        return [KeyRange(col.name, nulls=True)]
    edges: list[Any] = [None, *bounds, None]
    return [KeyRange(col.name, edges[i], edges[i + 1], nulls=i == 0) for i in range(len(edges) - 1)]


def split(lo: Any, hi: Any, count: int) -> list[Any]:
    """The inner bounds that cut ``[lo, hi]`` into ``count`` even ranges (fewer when it is narrow)."""
    if lo is None or hi is None or count < 2 or not lo < hi:
        return []
    bounds: list[Any]
    if isinstance(lo, int) and isinstance(hi, int):
        width = hi - lo + 1
        bounds = [lo + width * i // count for i in range(1, count)]
    elif isinstance(lo, dt.datetime):
        bounds = [lo + (hi - lo) * i / count for i in range(1, count)]
    elif isinstance(lo, dt.date):
        days = (hi - lo).days
        bounds = [lo + dt.timedelta(days=days * i // count) for i in range(1, count)]
    elif isinstance(lo, decimal.Decimal) or isinstance(hi, decimal.Decimal):
        a, b = decimal.Decimal(lo), decimal.Decimal(hi)
        bounds = [a + (b - a) * i / count for i in range(1, count)]
    else:
        a_f, b_f = float(lo), float(hi)
        bounds = [a_f + (b_f - a_f) * i / count for i in range(1, count)]
    return sorted({b for b in bounds if lo < b <= hi})
