"""Reading a stream in chunks of Arrow tables: with ADBC or SQLAlchemy, whole or as parallel key ranges.

* **ADBC** (PostgreSQL, SQLite): the driver returns Arrow record batches (PostgreSQL through binary
  ``COPY``); they are converted to the reflected types and cut into chunks of ``chunk_size`` rows.
* **SQLAlchemy** (every dialect): rows are fetched ``chunk_size`` at a time (a server-side cursor where
  the driver has one) and each chunk is turned into Arrow column by column.

A partitioned table is read as N key ranges, each by its own thread and connection; chunks reach the
caller through a short queue, so memory stays bounded by a few chunks per range.
"""

from __future__ import annotations

import datetime as dt
import decimal
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc

from headwater.errors import SourceError
from headwater.sources.sql_database.arrow import Conformer, rechunk
from headwater.sources.sql_database.connection import Database, log
from headwater.sources.sql_database.query import (
    SENTINEL,
    CursorRange,
    KeyRange,
    key_expression,
    render,
    select_table,
)
from headwater.sources.sql_database.reflect import ColumnSpec, TableSpec

_SQLITE_BATCH_ROWS: Final = "adbc.sqlite.query.batch_rows"


@dataclass(frozen=True)
class Backend:
    """How a stream is read: the database, the chunk size, and whether ADBC is used."""

    db: Database
    chunk_size: int
    use_adbc: bool
    forced: bool  # backend="adbc": no fallback to SQLAlchemy when ADBC cannot connect

    def chunks(
        self, stmt: Any, conformer: Conformer, what: str, stream: str, *, sentinel: bool = False
    ) -> Iterator[pa.Table]:
        """Run ``stmt``; yield its rows as Arrow tables of ``chunk_size`` rows in the conformer's types.

        ``what`` says what is read in messages ("table 'orders'"), ``stream`` is the resource's name.
        """
        if self.use_adbc:
            conn = self._adbc_connection(what, stream)
            if conn is not None:
                log.debug("sql_database: reading %s with ADBC", what)
                yield from self._adbc(conn, stmt, conformer, what, stream, sentinel)
                return
        log.debug("sql_database: reading %s with SQLAlchemy", what)
        yield from self._sqlalchemy(stmt, conformer, what, stream)

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
                    batch = batch.filter(pc.equal(batch.column(SENTINEL), 0)).drop_columns([SENTINEL])
                yield conformer.table_from_arrow(batch)

        try:
            with self.db.errors(f"reading {what}", resource=stream):
                cur = conn.cursor()
                try:
                    if self.db.dialect == "sqlite":
                        cur.adbc_statement.set_options(**{_SQLITE_BATCH_ROWS: str(min(self.chunk_size, 65_536))})
                    cur.execute(sql, params or None)
                    yield from rechunk(tables(cur.fetch_record_batch()), self.chunk_size)
                finally:
                    cur.close()
        finally:
            conn.close()

    def _sqlalchemy(self, stmt: Any, conformer: Conformer, what: str, stream: str) -> Iterator[pa.Table]:
        with self.db.errors(f"reading {what}", resource=stream), self.db.engine.connect() as conn:
            result = conn.execution_options(yield_per=self.chunk_size).execute(stmt)
            try:
                names = list(result.keys())
                for rows in result.partitions():
                    yield conformer.table_from_rows(rows, names)
            finally:
                result.close()  # a server-side cursor left open when the reader stops early


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
    with db.errors(f"finding the range of {spec.qualified}.{col.name}", table=spec.name), db.engine.connect() as conn:
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


def interleave(makers: Sequence[Callable[[], Iterator[pa.Table]]], workers: int) -> Iterator[pa.Table]:
    """Run the iterators ``makers`` build on ``workers`` threads; yield their items as they come.

    The first error stops the others and is raised here; closing this generator stops them too.
    """
    channel: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=max(2, workers))
    stop = threading.Event()
    todo: queue.SimpleQueue[Callable[[], Iterator[pa.Table]]] = queue.SimpleQueue()
    for make in makers:
        todo.put(make)

    def put(message: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                channel.put(message, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            while not stop.is_set():
                try:
                    make = todo.get_nowait()
                except queue.Empty:
                    return
                items = make()
                try:
                    for item in items:
                        if not put(("item", item)):
                            return
                finally:
                    close = getattr(items, "close", None)
                    if close is not None:
                        close()
        except BaseException as exc:
            put(("error", exc))
        finally:
            put(("done", None))

    threads = [
        threading.Thread(target=work, name=f"headwater-sql-range-{i}", daemon=True)
        for i in range(max(1, min(workers, len(makers))))
    ]
    for t in threads:
        t.start()
    try:
        running = len(threads)
        while running:
            kind, payload = channel.get()
            if kind == "item":
                yield payload
            elif kind == "error":
                raise payload
            else:
                running -= 1
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
