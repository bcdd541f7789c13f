"""Arrow data as table formats store it: column types, uuids as text, package files in bounded chunks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from headwater.packages.files import read_file
from headwater.packages.package import LoadPackage
from headwater.schema.model import Column

if TYPE_CHECKING:
    import pyarrow as pa

#: the most bytes of package data a chunk holds: a package file holds a whole table (GBs for a big
#: load), so chunks are cut from its batches rather than made of whole files, or memory would grow
#: with the load
CHUNK_BYTES = 64 * 1024 * 1024


def lake_arrow_type(column: Column, *, time_as_text: bool = False) -> pa.DataType:
    """The Arrow type a column is stored with in a table format: uuids as their 36-character text
    (Delta has no uuid type and engines disagree on Iceberg's), JSON as text."""
    import pyarrow as pa

    from headwater.normalize.arrow_types import to_arrow

    if column.data_type in ("uuid", "json"):
        return pa.string()
    if column.data_type == "time" and time_as_text:
        return pa.string()
    return to_arrow(column.type)


def uuid_text(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    """An Arrow uuid (or 16-byte binary) array as canonical lower-case text, vectorized."""
    import numpy as np
    import pyarrow as pa

    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
    storage = array.storage if isinstance(array, pa.ExtensionArray) else array
    n = len(storage)
    if n == 0:
        return pa.array([], pa.string())
    raw = np.frombuffer(storage.buffers()[1], dtype=np.uint8, count=(storage.offset + n) * 16)[storage.offset * 16 :]
    raw = raw.reshape(n, 16)
    digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    out = np.full((n, 36), ord("-"), dtype=np.uint8)
    positions = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34]
    for i, pos in enumerate(positions):
        out[:, pos] = digits[raw[:, i] >> 4]
        out[:, pos + 1] = digits[raw[:, i] & 15]
    text = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(36), n, [storage.buffers()[0] if storage.null_count else None, pa.py_buffer(out.tobytes())]
    )
    if storage.null_count and storage.offset:
        text = pa.array(text.to_pylist(), pa.binary(36))  # rare: a sliced array with nulls
    return text.cast(pa.binary()).cast(pa.string())


def conform(batch: pa.RecordBatch | pa.Table, schema: pa.Schema) -> pa.Table:
    """``batch`` with exactly the columns of ``schema`` (missing ones null), cast to its types."""
    import pyarrow as pa

    table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
    columns = []
    for field in schema:
        if field.name not in table.column_names:
            columns.append(pa.nulls(table.num_rows, field.type))
            continue
        column = table.column(field.name)
        if column.type == field.type:
            columns.append(column)
        elif pa.types.is_string(field.type) and (
            isinstance(column.type, pa.BaseExtensionType) or pa.types.is_fixed_size_binary(column.type)
        ):
            columns.append(uuid_text(column))
        else:
            columns.append(column.cast(field.type))
    return pa.Table.from_arrays(columns, schema=schema)


def same_storage(a: pa.DataType, b: pa.DataType) -> bool:
    """Whether two Arrow types store values the same way (string and large_string, UTC spellings)."""
    import pyarrow as pa

    def key(t: pa.DataType) -> str:
        if pa.types.is_large_string(t) or str(t) == "string_view":
            return "string"
        if pa.types.is_large_binary(t):
            return "binary"
        if pa.types.is_timestamp(t) and t.tz in ("UTC", "+00:00", "Etc/UTC"):
            return f"timestamp[{t.unit}, UTC]"
        return str(t)

    return key(a) == key(b)


def chunks(paths: list[Any], schema: pa.Schema) -> Iterator[pa.Table]:
    """The package files' batches conformed to ``schema``, as tables of about :data:`CHUNK_BYTES` at
    most (at least one, maybe empty)."""
    import pyarrow as pa

    produced = False
    pending: list[pa.Table] = []
    size = 0
    for path in paths:
        for batch in read_file(path):
            pending.append(conform(batch, schema))
            size += pending[-1].nbytes
            if size >= CHUNK_BYTES:
                produced = True
                yield pa.concat_tables(pending)
                pending, size = [], 0
    if pending or not produced:
        yield pa.concat_tables(pending) if pending else schema.empty_table()


def counted(tables: Iterator[pa.Table], counter: list[int]) -> Iterator[pa.Table]:
    """The tables, adding their rows to ``counter[0]`` as they pass."""
    for chunk in tables:
        counter[0] += chunk.num_rows
        yield chunk


def read_package_table(package: LoadPackage, name: str, schema: pa.Schema) -> pa.Table:
    """All rows of table ``name`` in ``package``, conformed to ``schema``."""
    import pyarrow as pa

    files = package.manifest.tables.get(name)
    paths = package.file_paths(name) if files and files.files else []
    return pa.concat_tables(list(chunks(paths, schema)))
