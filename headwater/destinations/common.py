"""Helpers every destination family shares (SQL databases and table formats alike).

* which tables of a package have rows, grouped by their root table (:func:`tables_by_root`);
* the error for a column another writer changed after extraction (:func:`type_conflict`);
* staged rows of a merge: their arrival number ``_hw_seq`` (:data:`SEQ`, :func:`numbered`) and the
  order that picks the row to keep among duplicates (:func:`dedup_order`);
* a DuckDB relation as an Arrow table, whatever the DuckDB version (:func:`arrow_table`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from headwater.errors import ConfigError, LoadError
from headwater.schema.model import Schema, Table

#: the column numbering staged rows in arrival order (the last one wins a duplicate key)
SEQ = "_hw_seq"


def tables_by_root(schema: Schema, tables: dict[str, Any]) -> dict[str, list[str]]:
    """Tables of a package with rows, grouped by their root table (roots first, in package order)."""
    out: dict[str, list[str]] = {}
    for name, files in tables.items():
        if files.files:
            out.setdefault(schema.root_of(name).name, []).append(name)
    return out


def type_conflict(table: str, column: str, stored: str, wanted: str) -> LoadError:
    """The error for a package whose column type differs from the destination's (another writer)."""
    return LoadError(
        f"column {column!r} of table {table!r} is {stored} in the destination, but this package holds {wanted} "
        "values: the column was changed after the package was extracted (by another writer), and loading would "
        "cast every value implicitly",
        hint="drop the pending package (headwater pipeline drop-pending PIPELINE, or pipeline.drop_pending()) and "
        "run again: the new extraction reads the destination's types and puts values that do not fit into a "
        "variant column",
        table=table,
        column=column,
    )


def dedup_order(root: Table, quote: Callable[[str], str]) -> list[str]:
    """``ORDER BY`` terms ranking staged rows with the same key, the one to keep first: by
    ``dedup_sort`` if the table has it, then the last to arrive (highest ``_hw_seq``)."""
    order = []
    if root.dedup_sort:
        column, direction = root.dedup_sort
        if column not in root.columns:
            raise ConfigError(f"dedup_sort column {column!r} is not a column of {root.name!r}")
        order.append(f"{quote(column)} {'DESC' if direction == 'desc' else 'ASC'} NULLS LAST")
    order.append(f"{quote(SEQ)} DESC")
    return order


def numbered(reader: Any, counter: list[int]) -> Any:
    """The batches of ``reader`` with a ``_hw_seq`` column numbering rows in arrival order; ``counter``
    carries the next number across files."""
    import pyarrow as pa

    from headwater.normalize.arrays import arange

    schema = reader.schema.append(pa.field(SEQ, pa.int64()))

    def batches() -> Any:
        for batch in reader:
            n = batch.num_rows
            seq = arange(counter[0], counter[0] + n)
            counter[0] += n
            yield pa.RecordBatch.from_arrays([*batch.columns, seq], schema=schema)

    return pa.RecordBatchReader.from_batches(schema, batches())


def arrow_table(relation: Any) -> Any:
    """A DuckDB relation's rows as an Arrow table (``to_arrow_table`` in newer DuckDB, ``arrow`` before)."""
    return relation.to_arrow_table() if hasattr(relation, "to_arrow_table") else relation.arrow()
