"""Applying an incremental cursor to every item kind: rows one by one, Arrow data with Arrow compute."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from headwater.cursors.cursor import Incremental, _coerce
from headwater.errors import DataError
from headwater.normalize.compute import pc


def filter_item(inc: Incremental, item: Any) -> Any:
    """``item`` without the rows the cursor rejects; None when nothing is left."""
    t = type(item)
    if t is dict:
        return item if inc.keep_row(item) else None
    if t is list or t is tuple:
        kept = [out for element in item if (out := filter_item(inc, element)) is not None]
        return kept or None
    if isinstance(item, pa.Table | pa.RecordBatch):
        table = item if isinstance(item, pa.Table) else pa.Table.from_batches([item])
        filtered = filter_table(inc, table)
        return filtered if filtered.num_rows else None
    if isinstance(item, pa.RecordBatchReader):
        return pa.RecordBatchReader.from_batches(item.schema, _filter_batches(inc, item))
    module = type(item).__module__
    if module.startswith("pandas") and type(item).__name__ == "DataFrame":
        return filter_item(inc, pa.Table.from_pandas(item, preserve_index=False))
    if module.startswith("polars") and type(item).__name__ == "DataFrame":
        return filter_item(inc, item.to_arrow())
    if type(item).__name__ == "DuckDBPyRelation":
        reader = item.to_arrow_reader() if hasattr(item, "to_arrow_reader") else item.fetch_record_batch()
        return filter_item(inc, reader)
    if item is None:
        return None
    raise DataError(
        f"the incremental cursor {inc.cursor_path!r} cannot filter an item of type {type(item).__name__}",
        hint="yield dicts, lists of dicts, Arrow tables or data frames",
        resource=inc.resource,
    )


def _filter_batches(inc: Incremental, reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    for batch in reader:
        filtered = filter_table(inc, pa.Table.from_batches([batch]))
        yield from filtered.to_batches()


def _cursor_column(table: pa.Table, path: tuple[str, ...]) -> pa.Array | None:
    if path[0] not in table.column_names:
        return None
    col = table.column(path[0]).combine_chunks()
    for name in path[1:]:
        if not pa.types.is_struct(col.type) or col.type.get_field_index(name) < 0:
            return None
        col = pc.struct_field(col, name)
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    return col


def filter_table(inc: Incremental, table: pa.Table) -> pa.Table:
    """Vectorized cursor filter over an Arrow table."""
    n = table.num_rows
    if n == 0:
        return table
    col = _cursor_column(table, inc.path)
    if col is None:
        if inc.on_cursor_value_missing == "include":
            return table
        if inc.on_cursor_value_missing == "exclude":
            return table.slice(0, 0)
        inc.on_missing({"columns": table.column_names})
    assert col is not None
    valid = pc.is_valid(col)
    missing_rows = n - pc.sum(valid).as_py() if col.null_count else 0
    if missing_rows and inc.on_cursor_value_missing == "raise":
        first = pc.index(valid, False).as_py()
        inc.on_missing(table.slice(first, 1).to_pylist()[0])
    sample = col.drop_null()[0].as_py() if missing_rows < n else None
    keep = valid
    start = _coerce(inc.start_value, sample)
    end = _coerce(inc.end_value, sample)
    if sample is not None:
        inc.check_value(sample, start, end)
        if pa.types.is_floating(col.type) and pc.any(pc.is_nan(col)).as_py():
            raise inc.unordered(float("nan"))
    if end is not None:
        keep = pc.and_(keep, _compare(inc, _scalar(inc, end, col, sample, "end_value"), col))
    if start is not None:
        start_scalar = _scalar(inc, start, col, sample, inc.start_origin)
        keep = pc.and_(keep, pc.invert(_compare(inc, start_scalar, col)))
        if inc.boundary:
            on_start = pc.and_(keep, pc.equal(col, start_scalar))
            if pc.any(on_start).as_py():
                keep = _drop_boundary(inc, table, keep, on_start)
    keep = pc.fill_null(keep, False)
    if missing_rows and inc.on_cursor_value_missing == "include":
        keep = pc.or_(keep, pc.invert(valid))
    result = table.filter(keep)
    _track(inc, result, col.filter(pc.and_(keep, valid)))
    return result


def _compare(inc: Incremental, a: pa.Scalar, col: pa.Array) -> pa.Array:
    """Element-wise ``better(a, value)``: a > value for a growing cursor, a < value otherwise."""
    return pc.greater(a, col) if inc.grows else pc.less(a, col)


def _scalar(inc: Incremental, value: Any, col: pa.Array, sample: Any, origin: str) -> pa.Scalar:
    """A bound as an Arrow scalar comparable with the cursor column: of the column's type when it
    converts exactly, else of its own type (Arrow compares numbers of different types), else a
    :class:`DataError` naming both types."""
    try:
        typed = pa.scalar(value, type=col.type)
        if typed.as_py() == value:  # pyarrow truncates 2.5 into an int64 scalar without a word
            return typed
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        pass
    try:
        scalar = pa.scalar(value)
        pc.greater(scalar, col.slice(0, 1))
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, ValueError):
        raise inc.mismatch(sample, value, origin) from None
    return scalar


def _drop_boundary(inc: Incremental, table: pa.Table, keep: pa.Array, on_start: pa.Array) -> pa.Array:
    indices = pc.indices_nonzero(on_start).to_pylist()
    rows = table.take(indices).to_pylist()
    drop = [i for i, row in zip(indices, rows, strict=True) if inc.row_hash(row) in inc.boundary]
    if not drop:
        return keep
    mask = [True] * table.num_rows
    for i in drop:
        mask[i] = False
    return pc.and_(keep, pa.array(mask))


def _track(inc: Incremental, result: pa.Table, values: pa.Array) -> None:
    if len(values) == 0:
        return
    best = (pc.max(values) if inc.grows else pc.min(values)).as_py()
    if best is None:
        return
    at_best = result.filter(
        pc.fill_null(pc.equal(_cursor_column(result, inc.path), pa.scalar(best, values.type)), False)
    )
    inc.track_table(best, at_best)
