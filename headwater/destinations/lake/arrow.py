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
    """An Arrow uuid (or 16-byte binary) array as canonical lower-case text, vectorized: the bytes in
    hexadecimal at once (``binascii``), then Arrow cuts each row's 32 digits into the five groups."""
    import binascii

    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
    storage = array.storage if isinstance(array, pa.ExtensionArray) else array
    n = len(storage)
    if n == 0:
        return pa.array([], pa.string())
    raw = memoryview(storage.buffers()[1])[storage.offset * 16 : (storage.offset + n) * 16]
    digits = pa.FixedSizeBinaryArray.from_buffers(pa.binary(32), n, [None, pa.py_buffer(binascii.hexlify(raw))])
    digits = digits.cast(pa.binary())
    groups = [pc.binary_slice(digits, start, start + length) for start, length in _UUID_GROUPS]
    text = pc.binary_join_element_wise(*groups, b"-")
    if storage.null_count:
        text = pc.if_else(storage.is_valid(), text, pa.nulls(n, pa.binary()))
    return text.cast(pa.string())


#: where each group of a uuid's text starts in its 32 hexadecimal digits, and its length
_UUID_GROUPS = ((0, 8), (8, 4), (12, 4), (16, 4), (20, 12))


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
