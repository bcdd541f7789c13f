"""The normalizer: batches of rows or Arrow data in, typed Arrow tables per schema table out.

One :class:`Normalizer` serves one load: it owns the schema while the load is being built, adds the
system columns (``_hw_load_id``, ``_hw_id``, and ``_hw_parent_id``/``_hw_list_idx`` on child tables)
and hands each finished Arrow table to a sink (the load package writer).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pyarrow as pa

from headwater.errors import DataError
from headwater.normalize.flatten import Flattener, Part
from headwater.normalize.ids import constant, row_ids
from headwater.normalize.placing import Placer
from headwater.schema.hints import TableHints
from headwater.schema.model import LIST_IDX, LOAD_ID, PARENT_ID, ROW_ID, Column, Schema, Table

Sink = Callable[[str, pa.Table], None]

_ROOT_SYSTEM = ((LOAD_ID, "text"), (ROW_ID, "uuid"))
_CHILD_SYSTEM = ((LOAD_ID, "text"), (ROW_ID, "uuid"), (PARENT_ID, "uuid"), (LIST_IDX, "bigint"))


class Normalizer:
    """Normalizes batches into the tables of ``schema``.

    Args:
        schema: the schema to evolve (modified in place).
        load_id: the id stamped on every row.
        sink: receives ``(table_name, arrow_table)`` for every normalized piece of data.
        widening: type widenings the destination supports on existing columns.
    """

    def __init__(
        self,
        schema: Schema,
        *,
        load_id: str,
        sink: Sink,
        widening: Iterable[tuple[str, str]],
    ) -> None:
        self.schema = schema
        self.load_id = load_id
        self.sink = sink
        self.placer = Placer(widening=widening)
        self.rows_by_table: dict[str, int] = {}

    # -- tables ----------------------------------------------------------------------------------
    def root_table(self, name: str, *, resource: str, hints: TableHints) -> Table:
        """The root table ``name``, created with the resource's hinted columns if it is new."""
        table = self.schema.tables.get(name)
        if table is None:
            table = Table(name, resource=resource, write_disposition=hints.write_disposition)
            self.schema.tables[name] = table
        else:
            table.write_disposition = hints.write_disposition
            table.resource = table.resource or resource
            for child in self.schema.children_of(name):
                child.write_disposition = hints.write_disposition
        for hint in hints.columns.values():
            if hint.name not in table.columns and hint.data_type is not None:
                dt = hint.data_type
                table.add_column(Column(hint.name, dt.name, dt.precision, dt.scale, hinted=True))
        _apply_hint_flags(table, hints)
        return table

    def _child_table(self, parent: Table, path: tuple[str, ...]) -> Table:
        name = self.schema.child_table_name(parent.name, path)
        table = self.schema.tables.get(name)
        if table is None:
            table = Table(
                name,
                parent=parent.name,
                path=path,
                resource=parent.resource,
                write_disposition=parent.write_disposition,
            )
            self.schema.tables[name] = table
        return table

    # -- batches ---------------------------------------------------------------------------------
    def rows(self, table: Table, rows: list[dict[str, Any]], hints: TableHints, resource: str) -> None:
        """Normalize a batch of dict rows into ``table`` and its child tables."""
        flattener = self._flattener(table, hints, resource, infer_strings=True)
        self._emit(table, flattener.rows(rows), resource, hints)

    def arrow(self, table: Table, data: pa.Table, hints: TableHints, resource: str) -> None:
        """Normalize an Arrow table into ``table`` and its child tables (no per-row work)."""
        flattener = self._flattener(table, hints, resource, infer_strings=False)
        self._emit(table, flattener.table(data), resource, hints)

    def _flattener(self, table: Table, hints: TableHints, resource: str, *, infer_strings: bool) -> Flattener:
        return Flattener(
            max_nesting=hints.max_nesting,
            json_columns=hints.json_columns(),
            infer_strings=infer_strings,
            where={"resource": resource, "table": table.name},
        )

    def _emit(self, root_table: Table, root: Part, resource: str, hints: TableHints) -> None:
        tables: dict[int, Table] = {}
        ids: dict[int, pa.Array] = {}
        for part in root.walk():
            parent = part.parent
            table = root_table if parent is None else self._child_table(tables[id(parent)], part.path)
            tables[id(part)] = table
            columns = self.placer.place(table, part, {"resource": resource})
            if part.parent is None:
                _apply_hint_flags(table, hints)
            _check_not_null(table, columns, part.length, resource)
            part_ids = row_ids(part.length)
            ids[id(part)] = part_ids
            columns[LOAD_ID] = constant(self.load_id, part.length)
            columns[ROW_ID] = part_ids
            if parent is not None:
                assert part.parent_index is not None
                assert part.list_idx is not None
                columns[PARENT_ID] = ids[id(parent)].take(part.parent_index)
                columns[LIST_IDX] = part.list_idx
            _ensure_system_columns(table)
            ordered = {name: columns[name] for name in table.columns if name in columns}
            self.rows_by_table[table.name] = self.rows_by_table.get(table.name, 0) + part.length
            self.sink(table.name, pa.table(ordered))


def _apply_hint_flags(table: Table, hints: TableHints) -> None:
    """Primary-key and nullability hints on columns that the data created."""
    for hint in hints.columns.values():
        col = table.columns.get(hint.name)
        if col is None:
            continue
        if hint.primary_key:
            col.primary_key = True
        if hint.nullable is not None:
            col.nullable = hint.nullable


def _ensure_system_columns(table: Table) -> None:
    for name, data_type in _CHILD_SYSTEM if table.is_child else _ROOT_SYSTEM:
        if name not in table.columns:
            table.add_column(Column(name, data_type, system=True))


def _check_not_null(table: Table, columns: dict[str, pa.Array], length: int, resource: str) -> None:
    for col in table.columns.values():
        if col.nullable or col.system or length == 0:
            continue
        arr = columns.get(col.name)
        nulls = length if arr is None else arr.null_count
        if nulls:
            first = 0 if arr is None else arr.is_null().index(True).as_py()
            what = "primary key" if col.primary_key else "non-nullable"
            raise DataError(
                f"{nulls} row(s) have no value for {what} column {col.name!r} (first at row {first} of the batch)",
                hint="fix the source data or the hint; rows without a key cannot be loaded",
                resource=resource,
                table=table.name,
                column=col.name,
            )
