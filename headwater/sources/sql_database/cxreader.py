"""ConnectorX: PostgreSQL tables read by a Rust driver (binary ``COPY``) into Arrow record batches.

ConnectorX reads tables, not a user's queries: a table's SELECT is Headwater's, so every column reaches
ConnectorX in a form it reads exactly. Two kinds of column it would change are selected as PostgreSQL's
text and converted by Arrow, as the ADBC backend does (:data:`AS_TEXT`):

* ``numeric``: ConnectorX makes every numeric a ``rust_decimal`` (28 digits) rescaled to 10 decimal
  places, so ``0.00000000001`` would become ``0`` and 30 digits would fail; ADBC hands numerics over as
  text too;
* ``time``: PostgreSQL's ``24:00:00`` would wrap to midnight.

Two more are caught after the read: ``real`` arrives widened to double (``1.1`` as ``1.100000023841858``)
and is written as every other driver gives it (:func:`single_floats`); ``infinity`` and ``-infinity``
arrive as chrono's last and first dates and instants, and are refused naming the column, as on ADBC
(:func:`infinite_column`).

A query's columns are whatever the query makes of them (a ``numeric`` expression, JSON ConnectorX would
re-serialize), so queries read through ADBC or SQLAlchemy. Columns Headwater does not know are selected
as text for every backend already; so are JSON and arrays.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from typing import Any, Final

import pyarrow as pa

from headwater.errors import ConfigError
from headwater.normalize import pandas_gate
from headwater.normalize.compute import pc
from headwater.optional import require
from headwater.sources.sql_database.reflect import TableSpec

#: the dialects ConnectorX reads for Headwater
CX_DIALECTS: Final = frozenset({"postgresql"})
#: Headwater types selected as text for ConnectorX (see the module docstring)
AS_TEXT: Final = frozenset({"decimal", "time"})
#: rows per record batch ConnectorX makes (the chunks are cut to ``chunk_size`` after)
BATCH_ROWS: Final = 65_536
_NARROW: Final = {pa.large_string(): pa.string(), pa.large_binary(): pa.binary()}


#: what ConnectorX makes of PostgreSQL's infinity and -infinity: chrono's last and first date and instant
#: (silently; the last day chrono holds, 262142-12-31, reads the same and is refused with them)
_INFINITE: Final = {
    "date32": (95_026_236, -96_465_292),
    "timestamp": (8_210_266_876_799_999_999, -8_334_601_228_800_000_000),
}


class ConnectorXPanic(RuntimeError):
    """ConnectorX stopped with a Rust panic (its way of failing on a connection or a value it cannot
    read); raised as an ordinary error so that it is reported like any driver's."""


def wanted(dialect: str, backend: str) -> bool:
    """Whether tables are read with ConnectorX: asked for (``backend="connectorx"``, an error where it
    cannot), or ``auto`` on PostgreSQL with ``connectorx`` installed (found without importing it).

    Raises:
        ConfigError: ``backend="connectorx"`` on another database, or without the package.
    """
    if backend == "connectorx":
        if dialect not in CX_DIALECTS:
            raise ConfigError(
                f"backend='connectorx' reads {', '.join(sorted(CX_DIALECTS))} databases, not {dialect}",
                hint="use backend='auto', 'adbc' or 'sqlalchemy'",
            )
        require("connectorx", "backend='connectorx'", extra="connectorx")
        return True
    return backend == "auto" and dialect in CX_DIALECTS and importlib.util.find_spec("connectorx") is not None


def record_batches(uri: str, sql: str, rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
    """The result of ``sql`` at ``uri`` (a libpq URI), as record batches of at most ``rows`` rows, with
    ConnectorX's large text and binary columns made plain (32-bit offsets, as the other drivers give)."""
    cx = require("connectorx", "backend='connectorx'", extra="connectorx")
    try:
        reader: Any
        try:
            reader = cx.read_sql(uri, sql, return_type="arrow_stream", batch_size=rows)
        except ValueError as exc:  # ConnectorX 0.4.4 to 0.4.6 say arrow_stream, later versions arrow_record_batches
            if str(exc) != "arrow_stream":
                raise
            reader = cx.read_sql(uri, sql, return_type="arrow_record_batches", record_batch_size=rows)
        for batch in reader:
            yield from narrowed(batch)
    except Exception:
        raise
    except BaseException as exc:  # pyo3's PanicException derives from BaseException
        if type(exc).__name__ != "PanicException":
            raise
        raise ConnectorXPanic(f"ConnectorX panicked: {exc}") from None


def infinite_column(batch: pa.RecordBatch) -> tuple[str, str] | None:
    """The first date or timestamp column of ``batch`` holding PostgreSQL's infinity or -infinity, as ConnectorX
    makes them (see :data:`_INFINITE`), and its PostgreSQL type name; None when there is none."""
    for f, column in zip(batch.schema, batch.columns, strict=True):
        if pa.types.is_date32(f.type):
            kind, width, name = "date32", pa.int32(), "date"
        elif pa.types.is_timestamp(f.type) and f.type.unit == "us":
            kind, width, name = "timestamp", pa.int64(), "timestamptz" if f.type.tz else "timestamp"
        else:
            continue
        if column.null_count == len(column):
            continue
        high, low = _INFINITE[kind]
        raw = column.cast(width)
        # typed bounds: pyarrow would infer a Python int's type, importing pandas (normalize/pandas_gate.py)
        top, bottom = pandas_gate.scalar(high, width), pandas_gate.scalar(low, width)
        if pc.any(pc.or_(pc.greater_equal(raw, top), pc.less_equal(raw, bottom))).as_py():
            return f.name, name
    return None


def single_floats(spec: TableSpec) -> frozenset[str]:
    """The columns of ``spec`` read as doubles that PostgreSQL stores as ``real``, which ConnectorX widens to
    double (``1.1`` becomes ``1.100000023841858``): the conformer writes them as the other drivers do."""
    from sqlalchemy.sql import sqltypes

    return frozenset(
        c.name for c in spec.columns if c.data_type.name == "double" and isinstance(c.sa_type, sqltypes.REAL)
    )


def narrowed(batch: pa.RecordBatch) -> Iterator[pa.RecordBatch]:
    """``batch`` with ``large_string``/``large_binary`` columns as ``string``/``binary``; cut in halves
    where one batch holds more than 2 GiB of text in a column (a value of PostgreSQL holds at most 1 GiB)."""
    wide = [i for i, f in enumerate(batch.schema) if f.type in _NARROW]
    if not wide:
        yield batch
        return
    try:
        columns = list(batch.columns)
        for i in wide:
            columns[i] = columns[i].cast(_NARROW[columns[i].type])
        yield pa.RecordBatch.from_arrays(columns, names=batch.schema.names)
    except (pa.ArrowInvalid, pa.ArrowCapacityError):
        if batch.num_rows < 2:
            raise
        half = batch.num_rows // 2
        yield from narrowed(batch.slice(0, half))
        yield from narrowed(batch.slice(half))
