"""Whatever a driver returns, as Arrow columns of the types the table was reflected with.

Both backends end here, so that one table gives the same Arrow types (and values) whichever read
it: ADBC hands over Arrow batches whose types are the driver's (``int32``, an opaque PostgreSQL
``numeric`` as text, SQLite text for dates), SQLAlchemy hands over rows of Python values. Columns are
converted with Arrow compute; Python touches single values only where Arrow has no conversion
(text to ``time`` or ``uuid``, decimals with more digits than the column's scale from SQLite).

A value that cannot be converted raises :class:`~headwater.errors.DataError` naming the table and
the column; nothing is silently dropped or changed, except that SQLite numbers stored as binary
floating point are rounded to the scale of their ``NUMERIC(p,s)`` column (that is what they stand for).
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any

import pyarrow as pa

from headwater.errors import DataError
from headwater.normalize.arrow_types import TIMESTAMP, is_uuid, to_arrow
from headwater.normalize.compute import pc
from headwater.normalize.temporal import parse_dates, parse_timestamps
from headwater.normalize.values import to_json_text
from headwater.schema.hints import column_name
from headwater.schema.types import DEFAULT_DECIMAL, MAX_DECIMAL_PRECISION, DataType
from headwater.sources.sql_database.values import (
    NATIVE,
    TIME_OF_DAY,
    Refused,
    bool_from_numbers,
    bool_from_text,
    duration_text,
    each,
    family,
    float32_as_double,
    infinite_index,
    time_from_duration,
    time_from_text,
)

_WIDE = pa.decimal256(76, 38)
_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError, TypeError, ValueError)


class Conformer:
    """Converts the columns of one stream to their target Arrow types.

    Args:
        schema: the target type of each column, by column name as selected; columns absent from it
            (the columns of a query without hints) keep the type the driver gave, made plain.
        table: the stream's name, for error messages.
        round_decimals: round decimals with more digits than the target's scale instead of refusing
            them (for SQLite, whose ``NUMERIC`` values are stored as binary floating point).
        normalized: target types by normalized column name (hints for a query's columns).
        singles: single-precision columns a driver hands over widened to double (ConnectorX): read as
            the double nearest each value's shortest decimal form, as from every other driver.
    """

    def __init__(
        self,
        schema: pa.Schema | None,
        table: str,
        *,
        round_decimals: bool = False,
        normalized: Mapping[str, DataType] | None = None,
        singles: Collection[str] = (),
    ) -> None:
        self.schema = schema
        self.types = {f.name: f.type for f in schema} if schema is not None else {}
        self.normalized = {name: to_arrow(t) for name, t in (normalized or {}).items()}
        self.table = table
        self.round_decimals = round_decimals
        self.singles = frozenset(singles)

    def adopt(self, types: Mapping[str, DataType]) -> None:
        """Take the types a driver reports for the columns that have none (a query's columns)."""
        for name, data_type in types.items():
            if self.target(name) is None:
                self.types[name] = to_arrow(data_type)

    def target(self, name: str) -> pa.DataType | None:
        """The Arrow type column ``name`` is read as (by its name, else its normalized name); None: as it comes."""
        found = self.types.get(name)
        if found is None and self.normalized:
            found = self.normalized.get(column_name(name))
        return found

    # -- Arrow in ----------------------------------------------------------------------------------
    def table_from_arrow(self, data: pa.Table | pa.RecordBatch, *, utf8_checked: bool = False) -> pa.Table:
        """An Arrow table or batch from a driver, with every column in its target type.

        ``utf8_checked``: the driver has checked that its text is UTF-8 (ConnectorX's Rust strings are), so
        it is not validated again.
        """
        arrays = []
        for f, column in zip(data.schema, data.columns, strict=True):
            arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
            self._check_driver_values(arr, f, utf8_checked)
            if f.name in self.singles and pa.types.is_float64(arr.type):
                arr = float32_as_double(arr.cast(pa.float32()))  # exact: the values were single-precision
            arrays.append(self.array(arr, f.name, _driver_type(f)))
        return self._table(arrays, data.schema.names)

    def _check_driver_values(self, arr: pa.Array, f: pa.Field, utf8_checked: bool = False) -> None:
        """Values a driver passes on that are not what they seem: text that is not UTF-8 (ADBC's SQLite
        driver does not check), PostgreSQL's infinite dates (ADBC makes them instants millions of years BC)."""
        if _is_text(arr.type) and not utf8_checked:
            try:
                arr.validate(full=True)
            except pa.ArrowInvalid:
                raise DataError(
                    f"column {f.name!r} holds text that is not valid UTF-8",
                    hint=f"read its bytes instead: table_hints={{table: {{'columns': {{{f.name!r}: 'binary'}}}}}}",
                    table=self.table,
                    column=f.name,
                ) from None
        pg_type = (f.metadata or {}).get(b"POSTGRESQL:type")
        if pg_type in (b"date", b"timestamp", b"timestamptz") and infinite_index(arr) is not None:
            raise self.infinity(f.name, pg_type.decode())

    def infinity(self, column: str, pg_type: str) -> DataError:
        """The error for PostgreSQL's ``infinity`` or ``-infinity`` in a date or timestamp column."""
        return DataError(
            f"column {column!r} holds infinity or -infinity, which no {pg_type} value in Arrow stands for",
            hint=f"load PostgreSQL's own text ('infinity', '2024-01-01 ...') by declaring the column text: "
            f"table_hints={{table: {{'columns': {{{column!r}: 'text'}}}}}}",
            table=self.table,
            column=column,
        )

    # -- Python in ---------------------------------------------------------------------------------
    def table_from_rows(self, rows: Sequence[Sequence[Any]], names: Sequence[str]) -> pa.Table:
        """Rows of Python values (tuples, as a DB-API cursor returns them) as one Arrow table.

        The rows are transposed into columns in one C-level pass; each column is converted by Arrow.
        """
        columns: Iterable[Sequence[Any]] = zip(*rows, strict=True) if rows else ([] for _ in names)
        arrays = [self.values(list(values), name) for name, values in zip(names, columns, strict=True)]
        return self._table(arrays, names)

    def _table(self, arrays: list[pa.Array | pa.ChunkedArray], names: Sequence[str]) -> pa.Table:
        """The arrays as a table with the explicit target schema (names, types, nullability) when known."""
        if self.schema is not None and list(names) == self.schema.names:
            return pa.Table.from_arrays(arrays, schema=self.schema)
        return pa.Table.from_arrays(arrays, names=list(names))

    def values(self, values: list[Any], name: str) -> pa.Array | pa.ChunkedArray:
        """A column of Python values in its target type, exactly (see :mod:`.values`), or a DataError."""
        target = self.target(name)
        if target is None:
            return self._inferred(values, name)
        kinds = set(map(type, values))
        kinds.discard(type(None))
        fam = family(target)
        if kinds <= NATIVE.get(fam, frozenset()):
            try:
                return pa.array(values, type=target, from_pandas=False)  # chunked when text passes 2 GB
            except _ERRORS:
                pass  # out of range, or more decimal places than the scale: said value by value below
        if kinds == {str} or fam == "decimal" or (kinds == {dt.timedelta} and fam == "time"):
            return self.array(self._inferred(values, name), name)  # Arrow parses text and checks ranges
        if kinds == {int} and fam == "bool":
            return self.array(pa.array(values, type=pa.int64()), name)
        try:
            return each(values, target, fam)
        except KeyError:
            return self.array(self._inferred(values, name), name)
        except Refused as exc:
            raise self._refused(name, exc.value, exc.what) from None

    def _refused(self, name: str, value: Any, what: str) -> DataError:
        shown = duration_text(value) if isinstance(value, dt.timedelta) else _excerpt(value)
        return DataError(
            f"column {name!r} holds {shown}, which is not {what}",
            hint="declare the type it should be read as; text loads the database's own text of every value: "
            f"table_hints={{table: {{'columns': {{{name!r}: 'text'}}}}}}",
            table=self.table,
            column=name,
        )

    def _inferred(self, values: list[Any], name: str) -> pa.Array:
        try:
            arr = pa.array(values, from_pandas=False)
        except _ERRORS:
            # mixed kinds of values in one column of a query: keep their text
            arr = pa.array([None if v is None else _text(v) for v in values], type=pa.string())
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        if pa.types.is_struct(arr.type) or pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type):
            arr = pa.array([None if v is None else to_json_text(v) for v in values], type=pa.string())
        return arr

    # -- one column --------------------------------------------------------------------------------
    def array(self, arr: pa.Array, name: str, fallback: pa.DataType | None = None) -> pa.Array:
        """``arr`` in the target type of column ``name`` (``fallback``, or plain Arrow, when it has none)."""
        target = self.target(name) or fallback
        if isinstance(arr.type, pa.BaseExtensionType) and not is_uuid(arr.type):
            arr = arr.storage  # arrow.json, PostgreSQL's opaque types: their text or bytes
        if target is None or arr.type == target:
            return arr
        try:
            return self._convert(arr, target, name)
        except DataError:
            raise
        except _ERRORS as exc:
            raise DataError(
                f"values of type {arr.type} in column {name!r} cannot be read as {target}: {exc}",
                hint="declare the column's type, e.g. table_hints={table: {'columns': {column: 'text'}}}",
                table=self.table,
                column=name,
            ) from exc

    def _convert(self, arr: pa.Array, target: pa.DataType, name: str) -> pa.Array:
        t = arr.type
        if pa.types.is_null(t):
            return pa.nulls(len(arr), target)
        if pa.types.is_timestamp(target):
            if _is_text(t):
                parsed, failed = parse_timestamps(arr)
                self._check(arr, failed, name, "a timestamp")
                return parsed
            if pa.types.is_timestamp(t):
                arr = arr.cast(pa.timestamp(t.unit)) if t.tz is None else arr  # wall-clock values as UTC
                return arr.cast(TIMESTAMP, safe=False)  # nanoseconds are truncated to microseconds
            return arr.cast(target)
        if pa.types.is_date(target):
            if _is_text(t):
                parsed, failed = parse_dates(arr)
                self._check(arr, failed, name, "a date")
                return parsed
            return arr.cast(target)
        if pa.types.is_time(target):
            if _is_text(t):
                converted, bad = time_from_text(arr, target)
                if bad is not None:
                    raise self._refused(name, arr[bad].as_py(), TIME_OF_DAY)
                return converted
            if pa.types.is_duration(t):
                converted, bad = time_from_duration(arr, target)
                if bad is not None:
                    raise self._refused(name, arr[bad].as_py(), TIME_OF_DAY)
                return converted
            return arr.cast(target)
        if pa.types.is_boolean(target) and not pa.types.is_boolean(t):
            converted, bad = bool_from_text(arr) if _is_text(t) else bool_from_numbers(arr)
            if bad is not None:
                raise self._refused(name, arr[bad].as_py(), "a boolean (0/1, true/false, yes/no, on/off)")
            return converted
        if pa.types.is_float64(target) and pa.types.is_float32(t):
            return float32_as_double(arr)
        if pa.types.is_decimal(target):
            return self._decimal(arr, target, name)
        if is_uuid(target):
            if pa.types.is_fixed_size_binary(t) and t.byte_width == 16:
                return pa.ExtensionArray.from_storage(target, arr)
            if _is_text(t):
                return self._each(arr, name, target, "a UUID", lambda s: uuid.UUID(s).bytes)
            return self._each(arr, name, target, "a UUID", lambda b: uuid.UUID(bytes=bytes(b)).bytes)
        if target == pa.string():
            if is_uuid(t):
                return pa.array([None if v is None else str(v) for v in arr.to_pylist()], type=pa.string())
            if pa.types.is_large_string(t):
                return arr  # too large for 32-bit offsets: the normalizer keeps the large form
            if pa.types.is_binary(t) or pa.types.is_large_binary(t):
                return arr.cast(pa.string())  # validates UTF-8
            try:
                return arr.cast(pa.string())
            except _ERRORS:
                return pa.array([None if v is None else _text(v) for v in arr.to_pylist()], type=pa.string())
        if target == pa.binary() and (pa.types.is_large_binary(t) or pa.types.is_large_string(t)):
            return arr.cast(pa.large_binary())
        return arr.cast(target)  # safe casts: an integer out of range or a fraction raises

    def _decimal(self, arr: pa.Array, target: pa.DataType, name: str) -> pa.Array:
        t = arr.type
        if pa.types.is_floating(t):
            return arr.cast(target, safe=False)  # a binary float rounded to the scale it stands for
        try:
            return arr.cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            if not (_is_text(t) or pa.types.is_decimal(t)):
                raise
        if self.round_decimals:
            try:  # exact at 38 decimal places, rounded half-to-even to the target's scale, vectorized
                wide = pc.round(arr.cast(_WIDE), ndigits=target.scale, round_mode="half_to_even")
                return wide.cast(target)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                pass  # more than 38 decimal places (1e-300), or not a number: value by value below
        values = arr.to_pylist()
        quantum = decimal.Decimal(1).scaleb(-target.scale)

        def exact(v: Any) -> decimal.Decimal:
            d = decimal.Decimal(v) if isinstance(v, str) else v
            if not d.is_finite():
                raise ValueError(f"{v} is not a finite number")
            q = d.quantize(quantum, rounding=decimal.ROUND_HALF_EVEN, context=decimal.Context(prec=80))
            if q != d and not self.round_decimals:
                raise ValueError(f"{v} has more than {target.scale} decimal places")
            return q

        try:
            converted = [None if v is None else exact(v) for v in values]
            return pa.array(converted, type=target)
        except (decimal.InvalidOperation, *_ERRORS) as exc:
            raise DataError(
                f"a value of column {name!r} does not fit {target}: {exc}",
                hint="declare the column as text or double: table_hints={table: {'columns': {column: 'text'}}}",
                table=self.table,
                column=name,
            ) from exc

    def _each(self, arr: pa.Array, name: str, target: pa.DataType, what: str, parse: Any) -> pa.Array:
        out: list[Any] = []
        for v in arr.to_pylist():
            if v is None:
                out.append(None)
                continue
            try:
                out.append(parse(v))
            except (ValueError, TypeError) as exc:
                raise DataError(
                    f"column {name!r} holds {_excerpt(v)}, which is not {what}",
                    table=self.table,
                    column=name,
                ) from exc
        if is_uuid(target):
            return pa.ExtensionArray.from_storage(target, pa.array(out, type=pa.binary(16)))
        return pa.array(out, type=target)

    def _check(self, raw: pa.Array, failed: pa.Array | None, name: str, what: str) -> None:
        if failed is None:
            return
        first = pc.index(failed, True).as_py()
        raise self._refused(name, raw[first].as_py(), what)


def _driver_type(f: pa.Field) -> pa.DataType | None:
    """The type a driver's column stands for when no target is known: PostgreSQL's ``numeric``, which
    ADBC hands over as text, is a decimal of the column's precision (``decimal(38,9)`` without one)."""
    meta = f.metadata or {}
    if meta.get(b"POSTGRESQL:type") != b"numeric":
        return None
    typmod = int(meta.get(b"POSTGRESQL:typmod", b"-1"))
    if typmod < 4:
        return to_arrow(DataType("decimal", *DEFAULT_DECIMAL))
    precision, scale = ((typmod - 4) >> 16) & 0xFFFF, (typmod - 4) & 0xFFFF
    if not 0 < precision <= MAX_DECIMAL_PRECISION or scale > precision:
        return None  # kept as the exact text
    return pa.decimal128(precision, scale)


def rechunk(tables: Iterable[pa.Table], size: int) -> Iterator[pa.Table]:
    """Tables of exactly ``size`` rows (the last one may be smaller) from tables of any size."""
    pending: list[pa.Table] = []
    rows = 0
    for table in tables:
        if table.num_rows == 0:
            continue
        pending.append(table)
        rows += table.num_rows
        while rows >= size:
            whole = pa.concat_tables(pending) if len(pending) > 1 else pending[0]
            yield whole.slice(0, size)
            rest = whole.slice(size)
            pending = [rest] if rest.num_rows else []
            rows = rest.num_rows
    if rows:
        yield pa.concat_tables(pending) if len(pending) > 1 else pending[0]


def _is_text(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))


def _text(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, dict | list):
        return to_json_text(value)
    return str(value)


def _excerpt(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
