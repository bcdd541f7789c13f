"""The normalizer: batches of rows or Arrow data in, typed Arrow tables per schema table out.

One :class:`Normalizer` serves one load: it owns the schema while the load is being built, applies
the resources' schema contracts, adds the system columns (``_hw_load_id`` and ``_hw_id`` on every row;
``_hw_parent_id``, ``_hw_list_idx`` and ``_hw_root_id`` on child rows; ``_hw_row_hash`` and the
validity columns on scd2 tables) and hands each finished Arrow table to a sink (the package writer).
Rows that break a contract in a row mode are dropped with their child rows, or sent to
``_hw_quarantine`` with the reason and the original row as JSON.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pyarrow as pa

from headwater.errors import ContractViolation, DataError
from headwater.normalize import arrays
from headwater.normalize.checks import RowChecks
from headwater.normalize.compute import pc
from headwater.normalize.flatten import Flattener, Part
from headwater.normalize.guard import Guard, PartRows
from headwater.normalize.ids import constant, row_ids
from headwater.normalize.jsonlines import JsonRows
from headwater.normalize.masking import Masker
from headwater.normalize.originals import Originals
from headwater.normalize.placing import Placer, reconcile
from headwater.observe.metrics import RunMetrics
from headwater.schema.hints import TableHints
from headwater.schema.model import LIST_IDX, LOAD_ID, PARENT_ID, ROOT_ID, ROW_HASH, ROW_ID, Column, Schema, Table
from headwater.schema.stored import StoredTables
from headwater.schema.system import QUARANTINE_TABLE

Sink = Callable[[str, pa.Table], None]

_QUARANTINE_COLUMNS = (
    ("table_name", "text"),
    ("resource", "text"),
    ("reason", "text"),
    ("row", "json"),
    (LOAD_ID, "text"),
    # the row where ``row`` cannot say it exactly (NaN, infinities, lone surrogates): see Originals.json
    ("exact_row", "text"),
    # the data-quality check that set the row aside (null: a contract did)
    ("check_name", "text"),
)


class Normalizer:
    """Normalizes batches into the tables of ``schema``.

    Args:
        schema: the schema to evolve (modified in place).
        load_id: the id stamped on every row.
        sink: receives ``(table_name, arrow_table)`` for every normalized piece of data.
        widening: type widenings the destination supports on existing columns.
        stored: the destination's tables and column types before the load (another writer's columns
            keep their types: values meet the column as the destination holds it, never cast implicitly).
        text_nul: whether the destination's text holds NUL characters (``Capabilities.text_holds_nul``).
        mask_key: the secret key of ``hash`` masks (column hints ``{"mask": ...}``, :mod:`.masking`).
        metrics: the run's metrics: rows per resource, rows and Arrow bytes per table, rows quarantined,
            the time spent normalizing (counted per batch).
    """

    def __init__(
        self,
        schema: Schema,
        *,
        load_id: str,
        sink: Sink,
        widening: Iterable[tuple[str, str]],
        stored: StoredTables | None = None,
        text_nul: bool = True,
        mask_key: bytes | None = None,
        metrics: RunMetrics | None = None,
    ) -> None:
        self.schema = schema
        self.metrics = metrics
        self.mask_key = mask_key
        self._maskers: dict[int, tuple[TableHints, Masker | None]] = {}
        self.load_id = load_id
        self.sink = sink
        self.placer = Placer(widening=widening, stored=stored, text_nul=text_nul)
        if stored:
            reconcile(schema, stored, self.placer.widening)
        self.rows_by_table: dict[str, int] = {}
        #: the Arrow size of the rows normalized per table (``nbytes``: buffers, not the package files)
        self.bytes_by_table: dict[str, int] = {}
        self.quarantined = 0
        self.checks = RowChecks()
        self.existing = frozenset(schema.tables)  # contracts apply to tables that existed before this load
        self._resources_at_start = {t.resource for t in schema.tables.values() if t.resource}

    # -- tables ----------------------------------------------------------------------------------
    def root_table(self, name: str, *, resource: str, hints: TableHints) -> Table:
        """The root table ``name``, created with the resource's hinted columns if it is new."""
        table = self.schema.tables.get(name)
        if table is None:
            table = Table(name, resource=resource)
            self.schema.tables[name] = table
        table.resource = table.resource or resource
        table.write_disposition = hints.write_disposition
        table.partition_by = hints.partition_by
        if hints.is_merge:
            table.merge_strategy = hints.merge_strategy
            table.merge_key = hints.merge_key
            table.dedup_sort = hints.dedup_sort
            table.validity_columns = hints.validity_columns if hints.merge_strategy == "scd2" else None
        else:
            table.merge_strategy, table.merge_key, table.dedup_sort, table.validity_columns = None, (), None, None
        for child in self.schema.children_of(name):
            child.write_disposition = hints.write_disposition
        for hint in hints.columns.values():
            if hint.name not in table.columns and hint.data_type is not None:
                dt = hint.data_type
                table.add_column(Column(hint.name, dt.name, dt.precision, dt.scale, hinted=True))
        _apply_hint_flags(table, hints)
        return table

    def _child_table(self, parent: Table, path: tuple[str, ...], create: bool = True) -> Table | None:
        name = self.schema.child_table_name(parent.name, path)
        table = self.schema.tables.get(name)
        if table is None and create:
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
        masker = self._masker(hints, resource)
        if self._refuse_new_root(table, hints, resource, rows, masker):
            return
        flattener = self._flattener(table, hints, resource, infer_strings=True)
        self._emit(table, flattener.rows(rows), resource, hints, Originals(rows, masker), masker)

    def arrow(self, table: Table, data: pa.Table, hints: TableHints, resource: str) -> None:
        """Normalize an Arrow table into ``table`` and its child tables (no per-row work)."""
        masker = self._masker(hints, resource)
        if self._refuse_new_root(table, hints, resource, data, masker):
            return
        flattener = self._flattener(table, hints, resource, infer_strings=False)
        self._emit(table, flattener.table(data), resource, hints, Originals(data, masker), masker)

    def json_rows(self, table: Table, data: JsonRows, hints: TableHints, resource: str) -> None:
        """Normalize rows read from JSON lines into ``table``: as Arrow when that flattens to what the
        dict rows would, else as the dict rows (see :mod:`~headwater.normalize.jsonlines`)."""
        flattener = self._flattener(table, hints, resource, infer_strings=True, untyped_nulls=True)
        if not flattener.as_rows(data.table.schema):
            self.rows(table, data.rows(), hints, resource)
            return
        masker = self._masker(hints, resource)
        if self._refuse_new_root(table, hints, resource, data, masker):
            return
        self._emit(table, flattener.table(data.table), resource, hints, Originals(data, masker), masker)

    def _masker(self, hints: TableHints, resource: str) -> Masker | None:
        """The masker of a resource's hints (None when no column is masked), made once per hints."""
        known = self._maskers.get(id(hints))
        if known is not None and known[0] is hints:
            return known[1]
        masks = hints.masks()
        masker = Masker(masks, self.mask_key, resource) if masks else None
        self._maskers[id(hints)] = (hints, masker)
        return masker

    def _flattener(
        self, table: Table, hints: TableHints, resource: str, *, infer_strings: bool, untyped_nulls: bool = False
    ) -> Flattener:
        return Flattener(
            max_nesting=hints.max_nesting,
            json_columns=hints.json_columns(),
            infer_strings=infer_strings,
            where={"resource": resource, "table": table.name},
            untyped_nulls=untyped_nulls,
        )

    def _refuse_new_root(
        self, table: Table, hints: TableHints, resource: str, data: Any, masker: Masker | None
    ) -> bool:
        """A new root table of a resource that already loaded: the ``tables`` contract decides."""
        if table.name in self.existing or resource not in self._resources_at_start:
            return False
        mode = hints.contract.tables
        if mode == "evolve":
            return False
        if mode == "freeze":
            raise ContractViolation(
                f"new table {table.name!r} is not allowed: the schema contract freezes tables",
                hint="change the data, or set schema_contract={'tables': 'evolve'} on the resource",
                resource=resource,
                table=table.name,
            )
        if mode == "quarantine":
            originals = Originals(data, masker)
            self._quarantine(table.name, resource, originals, range(len(originals)), f"new table {table.name!r}")
        if not table.columns:  # never keep the table a refused batch would have created
            self.schema.tables.pop(table.name, None)
        return True

    def _emit(
        self,
        root_table: Table,
        root: Part,
        resource: str,
        hints: TableHints,
        originals: Originals,
        masker: Masker | None,
    ) -> None:
        started = time.time_ns() if self.metrics is not None else 0
        guard = Guard(hints.contract, self.existing, resource)
        placed: list[PartRows] = []  # parents first, as root.walk() lists them
        stack: list[tuple[Part, PartRows | None]] = [(root, None)]
        while stack:
            part, parent = stack.pop()
            if parent is None:
                table = root_table
                rows = PartRows(part, arrays.arange(0, part.length), table=root_table)
            else:
                assert part.parent_index is not None
                assert parent.table is not None
                # a child of the root: its parent rows are root rows
                index = (
                    part.parent_index if parent.parent is None else arrays.gather(parent.root_index, part.parent_index)
                )
                rows = PartRows(part, index, parent)
                child = self._child_for(parent.table, rows, guard)
                if child is None:
                    continue  # refused by the tables contract: so are the parts under it
                table = rows.table = child
            if masker is not None:  # before anything sees the values: placing, contracts, messages
                masker.part(part, _source_path(part))
            rows.columns = self.placer.place(table, part, {"resource": resource}, guard.at(rows))
            if parent is None:
                _apply_hint_flags(table, hints)
            self._check_not_null(rows, guard, resource)
            _reject(rows, guard)
            placed.append(rows)
            stack.extend((child, rows) for child in reversed(part.children))
        if hints.checks:
            self._run_checks(placed[0], guard, hints)
        keep_root = self._apply_offenses(root_table, root, guard, originals, resource)
        for rows in placed:
            self._finish(rows, keep_root, originals)
        if self.metrics is not None:
            self.metrics.resource(resource).add_rows(root.length)
            self.metrics.add_stage("normalize", started, time.time_ns(), self.load_id)

    def _run_checks(self, root: PartRows, guard: Guard, hints: TableHints) -> None:
        """The resource's row checks on the root batch; rows of failing ``quarantine`` checks are set aside."""
        assert root.table is not None
        self.checks.note(root.table.name, hints.checks)
        if not hints.row_checks:
            return
        length = root.part.length
        skip = None
        if guard.offenses:  # rows a contract already set aside are not checked
            skip = arrays.mask(pa.concat_arrays([o.part.root_index.take(o.rows) for o in guard.offenses]), length)
        for check, rows in self.checks.run(root.table.name, root.columns, length, hints.row_checks, skip):
            reason = f"check {check.name!r} failed: {check.describe()}"
            guard.offend_rows(root, rows, reason, quarantine=True, check=check.name)

    def _child_for(self, parent: Table, rows: PartRows, guard: Guard) -> Table | None:
        """The child table for a part, if the ``tables`` contract lets a new one be created."""
        part = rows.part
        existing = self._child_table(parent, part.path, create=False)
        root_name = self.schema.root_of(parent.name).name
        if existing is not None or not guard.applies(root_name):
            return self._child_table(parent, part.path)
        name = self.schema.child_table_name(parent.name, part.path)
        mode = guard.decide("tables", name, None, None, f"new table {name!r}", part=rows)
        if mode == "evolve":
            return self._child_table(parent, part.path)
        if mode in ("discard_row", "quarantine"):
            reason = f"new table {name!r} (tables contract: {mode})"
            guard.offend_rows(rows, arrays.arange(0, part.length), reason, quarantine=mode == "quarantine")
        return None

    def _check_not_null(self, rows: PartRows, guard: Guard, resource: str) -> None:
        part, table, columns = rows.part, rows.table, rows.columns
        assert table is not None
        for col in table.columns.values():
            if col.nullable or col.system or part.length == 0:
                continue
            arr = columns.get(col.name)
            nulls = part.length if arr is None else arr.null_count
            if not nulls:
                continue
            missing = arrays.arange(0, part.length) if arr is None else arrays.positions(arr.is_null())
            what = "primary key" if col.primary_key else "non-nullable"
            conflict = _type_conflict(table, col, columns, missing)
            if conflict is not None:
                variant, count = conflict
                reason = (
                    f"type conflict on {what} column {col.name!r}: {count} row(s) hold "
                    f"{table.columns[variant].type} values where the column is {col.type}"
                )
                hint = (
                    f"the values went to the variant column {variant!r}, so these rows have no key; make the "
                    f"source send {col.type} values, or declare the type you want "
                    f"(columns={{{col.name!r}: {str(table.columns[variant].type)!r}}}) on a new table"
                )
            else:
                reason = f"{nulls} row(s) have no value for {what} column {col.name!r}"
                hint = "fix the source data or the hint; rows without a key cannot be loaded"
            if guard.contract.quarantines:
                short = reason if conflict is not None else f"no value for {what} column {col.name!r}"
                guard.offend_rows(rows, missing, short, quarantine=True)
                continue
            raise DataError(
                f"{reason} (first at row {missing[0].as_py()} of the batch)",
                hint=hint + " (schema_contract={'columns': 'quarantine'} sets them aside instead)",
                resource=resource,
                table=table.name,
                column=col.name,
            )

    def _apply_offenses(
        self,
        root_table: Table,
        root: Part,
        guard: Guard,
        originals: Originals,
        resource: str,
    ) -> pa.BooleanArray | None:
        """Which root rows to keep (None: all), quarantining the rows that must go there."""
        if not guard.offenses:
            return None
        first: dict[int, tuple[str, bool, str | None]] = {}  # root row -> the first reason it broke a rule
        for offense in guard.offenses:
            for r in offense.part.root_index.take(offense.rows).to_pylist():
                first.setdefault(r, (offense.reason, offense.quarantine, offense.check))
        by_reason: dict[tuple[str, str | None], list[int]] = {}
        for r, (reason, quarantine, check) in sorted(first.items()):
            if quarantine:
                by_reason.setdefault((reason, check), []).append(r)
        for (reason, check), rows in by_reason.items():
            self._quarantine(root_table.name, resource, originals, rows, reason, check=check)
        return pc.invert(arrays.mask(arrays.int64s(first), root.length))

    def _quarantine(
        self,
        table: str,
        resource: str,
        originals: Originals,
        rows: Sequence[int],
        reason: str,
        *,
        check: str | None = None,
    ) -> None:
        if len(rows) == 0:
            return
        q = self.schema.tables.setdefault(QUARANTINE_TABLE, Table(QUARANTINE_TABLE))
        for name, data_type in _QUARANTINE_COLUMNS:  # a table from an older version gains exact_row
            if name not in q.columns:
                q.add_column(Column(name, data_type, system=name == LOAD_ID))
        n = len(rows)
        texts = [originals.json(i) for i in rows]
        data = {
            "table_name": pa.array([table] * n, pa.string()),
            "resource": pa.array([resource] * n, pa.string()),
            "reason": pa.array([reason] * n, pa.string()),
            "row": pa.array([readable for readable, _ in texts], pa.string()),
            LOAD_ID: constant(self.load_id, n),
            "exact_row": pa.array([exact for _, exact in texts], pa.string()),
            "check_name": pa.array([check] * n, pa.string()),
        }
        self.quarantined += n
        if self.metrics is not None:
            self.metrics.quarantined(table, n)
        self.rows_by_table[QUARANTINE_TABLE] = self.rows_by_table.get(QUARANTINE_TABLE, 0) + n
        quarantined = pa.table(data)
        self.bytes_by_table[QUARANTINE_TABLE] = self.bytes_by_table.get(QUARANTINE_TABLE, 0) + quarantined.nbytes
        self.sink(QUARANTINE_TABLE, quarantined)

    def _finish(self, rows: PartRows, keep_root: pa.BooleanArray | None, originals: Originals) -> None:
        """System columns, row filtering, and the Arrow table to the sink."""
        part, table, columns = rows.part, rows.table, rows.columns
        assert table is not None
        part_ids = row_ids(part.length)
        rows.ids = part_ids
        columns[LOAD_ID] = constant(self.load_id, part.length)
        columns[ROW_ID] = part_ids
        parent = rows.parent
        if parent is not None:
            assert part.parent_index is not None
            assert part.list_idx is not None
            assert parent.ids is not None
            columns[PARENT_ID] = parent.ids.take(part.parent_index)
            columns[LIST_IDX] = part.list_idx
            root_ids = _root_of(rows).ids
            assert root_ids is not None
            columns[ROOT_ID] = root_ids.take(rows.root_index)
        elif table.merge_strategy == "scd2":
            columns[ROW_HASH] = originals.hashes()
        _ensure_system_columns(table)
        ordered = {name: columns[name] for name in table.columns if name in columns}
        result = pa.table(ordered)
        if keep_root is not None:
            result = result.filter(keep_root.take(rows.root_index))
        if result.num_rows == 0 and part.length:
            return
        self.rows_by_table[table.name] = self.rows_by_table.get(table.name, 0) + result.num_rows
        self.bytes_by_table[table.name] = self.bytes_by_table.get(table.name, 0) + result.nbytes
        if self.metrics is not None:
            self.metrics.normalized(table.name, result.num_rows, result.nbytes)
        self.sink(table.name, result)


def _type_conflict(table: Table, col: Column, columns: dict[str, pa.Array], rows: pa.Array) -> tuple[str, int] | None:
    """The variant column holding values of ``rows`` that ``col`` could not take, and how many."""
    for variant in table.columns.values():
        arr = columns.get(variant.name)
        if variant.variant_of != col.name or arr is None:
            continue
        held = arrays.count(arr.is_valid().take(rows))
        if held:
            return variant.name, held
    return None


def _reject(rows: PartRows, guard: Guard) -> None:
    """Rows holding a value no column can store exactly go to the quarantine, with the reason."""
    by_reason: dict[str, list[int]] = {}
    for row, reason in rows.part.rejected.items():
        by_reason.setdefault(reason, []).append(row)
    for reason, offending in by_reason.items():
        guard.offend_rows(rows, arrays.int64s(sorted(offending)), reason, quarantine=True)


def _source_path(part: Part) -> tuple[str, ...]:
    """The source path of a part's table from the root: the lists it was unnested from."""
    path: tuple[str, ...] = ()
    while part.parent is not None:
        path = part.path + path
        part = part.parent
    return path


def _root_of(rows: PartRows) -> PartRows:
    while rows.parent is not None:
        rows = rows.parent
    return rows


def _apply_hint_flags(table: Table, hints: TableHints) -> None:
    """Primary-key, nullability and hard-delete hints on columns that the data created."""
    for hint in hints.columns.values():
        col = table.columns.get(hint.name)
        if col is None:
            continue
        if hint.primary_key:
            col.primary_key = True
        if hint.nullable is not None:
            col.nullable = hint.nullable
        if hint.hard_delete:
            col.hard_delete = True


def _ensure_system_columns(table: Table) -> None:
    if table.is_child:
        wanted = [(LOAD_ID, "text"), (ROW_ID, "uuid"), (PARENT_ID, "uuid"), (LIST_IDX, "bigint"), (ROOT_ID, "uuid")]
    else:
        wanted = [(LOAD_ID, "text"), (ROW_ID, "uuid")]
        if table.merge_strategy == "scd2" and table.validity_columns:
            wanted += [
                (ROW_HASH, "uuid"),
                (table.validity_columns[0], "timestamp"),
                (table.validity_columns[1], "timestamp"),
            ]
    for name, data_type in wanted:
        if name not in table.columns:
            table.add_column(Column(name, data_type, system=True))
