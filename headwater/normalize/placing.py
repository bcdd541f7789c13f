"""Placing: pieces of a batch into the columns of a schema table, evolving the table as needed.

This is where the type reconciliation rule lives (see :mod:`headwater.schema.types`):

1. a new path gets a new column, typed from its values (text that is all ISO-8601 becomes a
   timestamp or date); a hinted column takes the hinted type;
2. values that the column holds losslessly are cast into it;
3. otherwise the column is widened when the widening is lossless and the destination supports it;
4. otherwise the values go to the variant column ``<column>__v_<type>``.

Nothing is dropped and nothing is silently truncated: every value ends up in exactly one column.
"""

from __future__ import annotations

import decimal
import logging
from collections.abc import Iterable
from typing import Any

import orjson
import pyarrow as pa

from headwater.errors import DataError
from headwater.normalize import pandas_gate
from headwater.normalize.arrow_types import TIMESTAMP, from_arrow, is_uuid, to_arrow
from headwater.normalize.compute import pc
from headwater.normalize.flatten import Part, Piece
from headwater.normalize.guard import PartGuard
from headwater.normalize.temporal import infer_temporal, parse_dates, parse_timestamps
from headwater.normalize.values import DOUBLE_EXACT, json_array
from headwater.schema.model import Column, Schema, Table
from headwater.schema.stored import StoredColumn, StoredTables
from headwater.schema.types import DECIMAL_PRECISION_ONLY, DataType, variant_column_name, widen_decimal

log = logging.getLogger("headwater")

#: the types whose values JSON holds as themselves (a binary or a timestamp would become a string)
_JSON_KINDS = frozenset({"bool", "bigint", "double", "decimal", "text"})
_TEXTUAL = frozenset({"bigint", "double", "bool", "decimal", "timestamp", "date", "time", "uuid"})

Placed = list[tuple[str, pa.Array]]


class Placer:
    """Places the pieces of parts into schema tables.

    Args:
        widening: the (from, to) type widenings the destination can apply to existing columns.
    """

    def __init__(
        self, *, widening: Iterable[tuple[str, str]], stored: StoredTables | None = None, text_nul: bool = True
    ) -> None:
        self.widening = frozenset(widening)
        self.text_nul = text_nul
        self.stored = stored if stored else None
        self.guard: PartGuard | None = None  # the guard of the part being placed, if its contract applies

    def place(
        self, table: Table, part: Part, where: dict[str, Any], guard: PartGuard | None = None
    ) -> dict[str, pa.Array]:
        """The columns of ``part`` by column name (disjoint pieces of one column are merged).

        With a ``guard``, schema changes to tables that existed before the load follow its contract.
        """
        self.guard = guard if guard is not None and guard.applies(table.name) else None
        out: dict[str, pa.Array] = {}
        for piece in part.pieces:
            try:
                placed = self._place(table, piece)
            except DataError:
                raise
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, TypeError) as exc:
                raise DataError(
                    f"values at {'.'.join(piece.path)!r} cannot be stored: {exc}",
                    **where,
                    table=table.name,
                ) from exc
            for name, arr in placed:
                col = table.columns[name]
                if col.exact_in_double and pa.types.is_integer(arr.type):
                    col.exact_in_double = _all_exact_as_double(arr)
                prev = out.get(name)
                out[name] = arr if prev is None else _merge(prev, arr)
        return out

    # -- one piece -------------------------------------------------------------------------------
    def _place(self, table: Table, piece: Piece) -> Placed:
        incoming = DataType("json") if piece.json else from_arrow(piece.array.type)
        if incoming is None:
            return []
        if incoming.name == "text" and not self.text_nul:
            split = _nul_split(piece)
            if split is not None:  # text the destination cannot hold keeps its bytes, beside the column
                return [p for part in split for p in self._place(table, part)]
        col = table.column_for_path(piece.path)
        if col is None:
            name = table.name_for_path(piece.path)
            col = table.columns.get(name)
            if col is None and self.guard is not None:
                mode = self.guard.decide("columns", table.name, name, piece.array, f"new column {name!r}")
                if mode != "evolve":
                    return []
            if col is None and self.stored is not None and (known := self.stored.column(table.name, name)) is not None:
                col = adopt(Column(name, incoming.name, path=piece.path), known, incoming)
                table.add_column(col)  # another writer made it: its type, not the values', decides
                return self.fit(table, col, piece.array, incoming)
            if col is None:
                arr, data_type = piece.array, incoming
                if piece.infer and incoming.name == "text":
                    found = infer_temporal(arr)
                    if found is not None:
                        data_type, arr = found
                table.add_column(_new_column(name, data_type, path=piece.path))
                return [(name, canonical(arr, data_type))]
        return self.fit(table, col, piece.array, incoming)

    def fit(self, table: Table, col: Column, arr: pa.Array, incoming: DataType) -> Placed:
        """Values of type ``incoming`` into an existing column: cast, widen or variant.

        A value enters a column of another type only when it keeps its type family and its value
        there (an integer in a double column when the double is exact, a whole double in a bigint
        column, a date at midnight in a timestamp column, a parsed ISO string); a hinted column casts
        whatever casts exactly. Everything else goes to a variant column of the value's own type.
        """
        if col.foreign:  # another writer's type that Headwater does not write: values go beside it
            return self._variant(table, col, arr, incoming)
        target = col.type
        t, i = target.name, incoming.name
        if t == "json":  # JSON's own kinds of values as JSON text; others (bytes, NaN...) go beside it
            if i == "json":
                return [(col.name, arr)]
            if i == "text" and col.hinted:  # declared JSON: its text is JSON text (a SQL json column)
                return self._json_text_or_variant(table, col, arr, incoming)
            if i in _JSON_KINDS:
                return self._json_or_variant(table, col, arr, incoming)
            return self._variant(table, col, arr, incoming)
        if col.hinted and target != incoming:
            cast = _as_text(arr) if t == "text" and i in _TEXTUAL else _try_cast(arr, to_arrow(target))
            if cast is not None:
                return [(col.name, cast)]
        if t == i and t != "decimal":
            return [(col.name, canonical(arr, target))]
        if i == "json":
            return self._variant(table, col, arr, incoming)
        if t == "double" and i in ("bigint", "decimal"):
            return self._split(table, col, arr, _exact_as_double(arr), pa.float64(), incoming)
        if t == "bigint" and i == "double":
            whole = _whole_mask(arr)
            if pc.all(whole).as_py() is not False:
                return [(col.name, arr.cast(pa.int64()))]
            if not col.hinted and col.exact_in_double and (t, "double") in self.widening and self._may_widen():
                col.set_type(DataType("double"))
                col.exact_in_double = None
                return [(col.name, arr)]
            return self._split(table, col, arr, whole, pa.int64(), incoming)
        if t in ("bigint", "decimal") and i in ("bigint", "decimal"):
            if t == "bigint" and incoming.scale == 0:
                as_int = _try_cast(arr, pa.int64())
                if as_int is not None:
                    return [(col.name, as_int)]
            wider = widen_decimal(target, incoming)
            if wider is not None and wider == target:
                return [(col.name, canonical(arr, target))]
            if wider is not None:
                return self._widen_or_variant(table, col, arr, incoming, wider)
            return self._variant(table, col, arr, incoming)
        if t == "timestamp" and i == "date":
            return [(col.name, arr.cast(pa.timestamp("us")).cast(TIMESTAMP))]
        if t == "timestamp" and i == "text":
            parsed, failed = parse_timestamps(arr)
            return self._partial(table, col, arr, parsed, failed, incoming)
        if t == "date" and i == "text":
            parsed, failed = parse_dates(arr)
            if failed is not None and not col.hinted and ("date", "timestamp") in self.widening:
                stamps, stamp_failed = parse_timestamps(arr)
                if stamp_failed is None or pc.sum(stamp_failed).as_py() < pc.sum(failed).as_py():
                    col.set_type(DataType("timestamp"))
                    return self._partial(table, col, arr, stamps, stamp_failed, incoming)
            return self._partial(table, col, arr, parsed, failed, incoming)
        if t == "date" and i == "timestamp":
            return self._widen_or_variant(table, col, arr, incoming, DataType("timestamp"))
        return self._variant(table, col, arr, incoming)

    def _json_or_variant(self, table: Table, col: Column, arr: pa.Array, incoming: DataType) -> Placed:
        rejects: dict[int, str] = {}
        encoded = json_array(arr.to_pylist(), {}, rejects)
        if not rejects:
            return [(col.name, encoded)]
        fits = pa.array([i not in rejects for i in range(len(arr))], pa.bool_())
        rest = pc.if_else(fits, pa.scalar(None, arr.type), arr)
        return [(col.name, encoded), *self._variant(table, col, rest, incoming)]

    def _json_text_or_variant(self, table: Table, col: Column, arr: pa.Array, incoming: DataType) -> Placed:
        """Text that is JSON goes to the JSON column as it is; other text beside it (never a load that fails)."""
        fits = pa.array([v is None or _is_json(v) for v in arr.to_pylist()], pa.bool_())
        return self._split(table, col, arr, fits, pa.string(), incoming)

    def _split(
        self, table: Table, col: Column, arr: pa.Array, fits: pa.Array, target: pa.DataType, incoming: DataType
    ) -> Placed:
        """Values where ``fits`` is true go to the column (cast to ``target``), the rest to the variant."""
        if pc.all(fits).as_py() is not False:
            return [(col.name, arr.cast(target))]
        main = pc.if_else(fits, arr, pa.scalar(None, arr.type)).cast(target)
        rest = pc.if_else(fits, pa.scalar(None, arr.type), arr)
        return [(col.name, main), *self._variant(table, col, rest, incoming)]

    def _widen_or_variant(
        self, table: Table, col: Column, arr: pa.Array, incoming: DataType, wider: DataType
    ) -> Placed:
        if not col.hinted and self._can_widen(col, wider) and self._may_widen():
            col.set_type(wider)
            return [(col.name, canonical(arr, wider))]
        return self._variant(table, col, arr, incoming)

    def _can_widen(self, col: Column, wider: DataType) -> bool:
        if (col.data_type, wider.name) in self.widening:
            return True
        # Iceberg: a decimal's precision may grow, its scale may not change
        return (col.data_type, wider.name) == ("decimal", "decimal") and (
            DECIMAL_PRECISION_ONLY in self.widening and wider.scale == col.scale
        )

    def _may_widen(self) -> bool:
        """Widening changes the schema: only when the contract lets data types evolve. Otherwise the
        values that fit stay in the column and the rest meet the contract as variant values."""
        return self.guard is None or self.guard.contract.mode("data_type") == "evolve"

    def _partial(
        self,
        table: Table,
        col: Column,
        raw: pa.Array,
        parsed: pa.Array,
        failed: pa.Array | None,
        incoming: DataType,
    ) -> Placed:
        """Parsed values go to the column, values that did not parse to the text variant."""
        if failed is None:
            return [(col.name, parsed)]
        rest = pc.if_else(failed, raw, pa.scalar(None, raw.type))
        return [(col.name, parsed), *self._variant(table, col, rest, incoming)]

    def _variant(self, table: Table, col: Column, arr: pa.Array, incoming: DataType) -> Placed:
        name = variant_column_name(col.name, incoming)
        existing = table.columns.get(name)
        if existing is None and self.guard is not None:
            what = f"{incoming} values in column {col.name!r} of type {col.type}"
            if self.guard.decide("data_type", table.name, col.name, arr, what) != "evolve":
                return []
        if existing is None and self.stored is not None and (known := self.stored.column(table.name, name)) is not None:
            existing = adopt(Column(name, incoming.name, variant_of=col.name), known, incoming)
            table.add_column(existing)
        if existing is None:
            table.add_column(_new_column(name, incoming, variant_of=col.name))
            return [(name, canonical(arr, incoming))]
        return self.fit(table, existing, arr, incoming)


def _is_json(text: str) -> bool:
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        return False
    return True


def _new_column(name: str, data_type: DataType, **kwargs: Any) -> Column:
    """A column the data makes: a bigint one starts out holding only integers a double holds exactly."""
    exact = True if data_type.name == "bigint" else None
    return Column(name, data_type.name, data_type.precision, data_type.scale, exact_in_double=exact, **kwargs)


def adopt(col: Column, known: StoredColumn, incoming: DataType | None = None) -> Column:
    """``col`` with the type the destination holds it with: the incoming type when the stored column
    holds it, else the stored column's first type, else marked foreign (it takes no values)."""
    if known.types:
        col.set_type(incoming if incoming is not None and known.holds(incoming) else known.types[0])
        col.foreign = None
    else:
        col.foreign = known.physical
    col.exact_in_double = None  # the values another writer stored are unknown
    return col


def reconcile(schema: Schema, stored: StoredTables, widening: frozenset[tuple[str, str]]) -> None:
    """Give the schema's columns the types the destination really holds them with.

    A column another writer created or changed keeps the destination's type; the load then meets it as
    it is (values that do not fit go to variant columns) instead of having the database cast them. A
    widening this pipeline made that is not loaded yet (its package waits) is kept.
    """
    for table in schema.tables.values():
        for col in table.columns.values():
            known = None if col.system else stored.column(table.name, col.name)
            if known is None or (known.holds(col.type) and not col.foreign):
                continue
            if not col.foreign and any(_widens(have, col.type, widening) for have in known.types):
                continue
            log.warning(
                "column %s.%s is %s in the destination, not %s (another writer changed it): values that do "
                "not fit go to variant columns",
                table.name,
                col.name,
                known.physical,
                col.type,
            )
            adopt(col, known)


def _widens(have: DataType, wanted: DataType, widening: frozenset[tuple[str, str]]) -> bool:
    if have.name == "decimal" and wanted.name == "decimal":
        return widen_decimal(have, wanted) == wanted
    return (have.name, wanted.name) in widening


def canonical(arr: pa.Array, data_type: DataType) -> pa.Array:
    """``arr`` in the Arrow type columns of ``data_type`` are written with."""
    target = to_arrow(data_type)
    t = arr.type
    if t == target:
        return arr
    if pa.types.is_dictionary(t):
        return canonical(arr.dictionary_decode(), data_type)
    if data_type.name in ("text", "json") and pa.types.is_large_string(t):
        return arr  # too large for 32-bit offsets: keep the large form, readers accept both
    if data_type.name == "binary" and pa.types.is_large_binary(t):
        return arr
    if data_type.name == "timestamp" and pa.types.is_timestamp(t):
        if t.tz is None:
            arr = arr.cast(pa.timestamp(t.unit))
        return arr.cast(TIMESTAMP, safe=False)  # nanoseconds are truncated to microseconds
    if data_type.name == "bigint" and pa.types.is_duration(t):
        return arr.cast(pa.duration("us"), safe=False).cast(pa.int64())
    return arr.cast(target)


def _nul_split(piece: Piece) -> list[Piece] | None:
    """The piece's strings with NUL characters as a binary piece (their UTF-8 bytes), the rest as text;
    None when no string holds one."""
    arr = piece.array
    nul = pc.fill_null(pc.match_substring(arr, "\x00"), False)
    if not pc.any(nul).as_py():
        return None
    binary = pa.large_binary() if pa.types.is_large_string(arr.type) else pa.binary()
    as_bytes = pc.if_else(nul, arr, pa.scalar(None, arr.type)).cast(binary)
    rest = pc.if_else(nul, pa.scalar(None, arr.type), arr)
    out = [Piece(piece.path, as_bytes)]
    if rest.null_count < len(rest):
        out.insert(0, Piece(piece.path, rest, infer=piece.infer))
    return out


def _try_cast(arr: pa.Array, target: pa.DataType) -> pa.Array | None:
    try:
        return arr.cast(target, safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None


def _whole_mask(arr: pa.Array) -> pa.Array:
    """True where a double is a whole number that a bigint holds exactly (|x| <= 2^53, not -0.0);
    null where the value is null (nulls fit anywhere)."""
    finite = pc.is_finite(arr)
    safe = pc.if_else(finite, arr, pa.scalar(0.0, arr.type))
    whole = pc.and_(pc.equal(pc.floor(safe), safe), pc.less_equal(pc.abs(safe), float(DOUBLE_EXACT)))
    negative_zero = pc.and_(pc.equal(safe, 0.0), pc.less(pc.divide(pa.scalar(1.0, arr.type), safe), 0.0))
    return pc.and_(pc.and_(finite, whole), pc.invert(negative_zero))


# Arrow scalars, not Python ints: pyarrow.compute would infer their type, and its inference imports pandas
_EXACT_LOW, _EXACT_HIGH = pandas_gate.scalar(-DOUBLE_EXACT, pa.int64()), pandas_gate.scalar(DOUBLE_EXACT, pa.int64())


#: up to this many values, an integer array's range is checked in Python: a run of a few rows then never
#: imports pyarrow.compute (9 MB and 20 ms, more than the rest of what it adds to pyarrow and DuckDB)
_FEW = 64


def _all_exact_as_double(arr: pa.Array) -> bool:
    """Whether every integer of ``arr`` is exactly a double (nulls are). ``arr`` is int64: integers reach
    placing as int64 (narrower ones cast, unsigned ones beyond it made decimals)."""
    if len(arr) <= _FEW:
        return all(v is None or -DOUBLE_EXACT <= v <= DOUBLE_EXACT for v in arr.to_pylist())
    return pc.all(_exact_as_double(arr)).as_py() is not False


def _exact_as_double(arr: pa.Array) -> pa.Array:
    """True where an integer or decimal is exactly a double (nulls stay null)."""
    if pa.types.is_integer(arr.type):
        return pc.and_(pc.greater_equal(arr, _EXACT_LOW), pc.less_equal(arr, _EXACT_HIGH))
    values = arr.to_pylist()  # decimals mixed into a double column: rare, checked value by value
    return pa.array([None if v is None else decimal.Decimal(float(v)) == v for v in values], pa.bool_())


def _as_text(arr: pa.Array) -> pa.Array:
    if is_uuid(arr.type):  # Arrow casts a uuid's bytes, not its text form
        return pa.array([None if v is None else str(v) for v in arr.to_pylist()], type=pa.string())
    return arr.cast(pa.string())


def _merge(prev: pa.Array, arr: pa.Array) -> pa.Array:
    """Two disjoint pieces of one column (nulls where the other has values) as one array."""
    if prev.type != arr.type:
        prev = prev.cast(arr.type)
    return pc.coalesce(prev, arr)
