"""The report of a dry run (:class:`Plan`): per table, the quarantined rows, the cursor moves, the
packages waiting; as text (``print(plan)``) and as JSON (:meth:`Plan.to_json`). Made by
:mod:`headwater.pipelines.plan`."""

from __future__ import annotations

import datetime as dt
import decimal
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from headwater.packages.package import NORMALIZED
from headwater.schema.checks import CheckResult


@dataclass
class ColumnAdd:
    """A column the load would add (to a new or an existing table)."""

    name: str
    data_type: str
    variant_of: str | None = None


@dataclass
class TypeChange:
    """An existing column whose type the load would widen."""

    column: str
    from_type: str
    to_type: str


@dataclass
class TablePlan:
    """What the load would do to one table.

    Attributes:
        rows: rows to insert (what the run's ``LoadInfo`` then reports for the table).
        replaced: for replace tables, the rows the load deletes first.
        inserted, updated, deleted: for merge root tables (see :mod:`headwater.pipelines.plan_merge`);
            for their child tables, ``deleted`` counts child rows removed with their root rows.
    """

    name: str
    new: bool
    disposition: str
    merge_strategy: str | None = None
    parent: str | None = None
    rows: int = 0
    columns_to_add: list[ColumnAdd] = field(default_factory=list)
    type_changes: list[TypeChange] = field(default_factory=list)
    replaced: int | None = None
    inserted: int | None = None
    updated: int | None = None
    deleted: int | None = None

    @property
    def variant_columns(self) -> list[str]:
        """The variant columns the load would add."""
        return [c.name for c in self.columns_to_add if c.variant_of]


@dataclass
class Quarantined:
    """Rows a contract (or a value with no place) would set aside in ``_hw_quarantine``."""

    table: str
    resource: str
    reason: str
    rows: int


@dataclass
class CursorMove:
    """An incremental cursor before the extraction (``from_value``) and in the state the load commits."""

    source: str
    resource: str
    cursor_path: str
    from_value: Any
    to_value: Any

    @property
    def moved(self) -> bool:
        """Whether the cursor moves."""
        return bool(self.from_value != self.to_value)


@dataclass
class PendingPackage:
    """A package waiting on disk: a run loads it before the new one (normalized), or keeps it (partial)."""

    load_id: str
    status: str
    rows: dict[str, int]


@dataclass
class Plan:
    """What ``pipeline.run(data)`` would do; ``print(plan)`` shows it as a table, :meth:`to_json` as JSON.

    Tables, rows and merge counts cover every package the run would load: the normalized packages
    waiting (listed in ``pending``), then the new one (``load_id``: its id in the dry run, None when the
    data yields nothing to load).
    """

    pipeline: str
    destination: str
    dataset: str
    load_id: str | None = None
    tables: dict[str, TablePlan] = field(default_factory=dict)
    quarantined: list[Quarantined] = field(default_factory=list)
    cursors: list[CursorMove] = field(default_factory=list)
    pending: list[PendingPackage] = field(default_factory=list)
    #: the results of the row checks (data-quality); table checks run at load time only
    checks: list[CheckResult] = field(default_factory=list)
    table_checks: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        """Rows the run would insert, over all tables."""
        return sum(t.rows for t in self.tables.values())

    def table_rows(self) -> dict[str, int]:
        """Rows the run would insert per table (what ``LoadInfo.table_rows()`` then reports)."""
        return {n: t.rows for n, t in self.tables.items() if t.rows or t.name in self._loaded}

    _loaded: set[str] = field(default_factory=set, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The plan as JSON-ready data (what ``--json`` prints)."""
        data = asdict(self)
        data.pop("_loaded", None)
        for name, table in self.tables.items():
            data["tables"][name]["variant_columns"] = table.variant_columns
        data["cursors"] = [{**asdict(c), "moved": c.moved} for c in self.cursors]
        data["rows"] = self.rows
        return _jsonable(data)

    def to_json(self) -> str:
        """The plan as JSON text."""
        return orjson.dumps(self.to_dict(), option=orjson.OPT_INDENT_2).decode()

    def render(self) -> str:
        """The plan as a plain-text table for the terminal."""
        lines = [
            f"Plan for pipeline {self.pipeline!r} -> {self.destination}, dataset {self.dataset!r} (nothing written)"
        ]
        for p in self.pending:
            what = "loads first" if p.status == NORMALIZED else "kept, not loaded (partial)"
            lines.append(f"  waiting package {p.load_id}: {sum(p.rows.values()):,} rows, {what}")
        if not self.tables:
            lines.append("  nothing to load")
        width = max((len(n) for n in self.tables), default=5)
        for t in self.tables.values():
            kind = t.disposition + (f"/{t.merge_strategy}" if t.merge_strategy and not t.parent else "")
            head = f"    {t.name:<{width}}  {'new' if t.new else 'existing':<8}  {kind:<20} {t.rows:>10,} rows"
            if t.inserted is not None:
                head += f"  (+{t.inserted:,} new, ~{t.updated:,} updated, -{t.deleted:,} deleted)"
            elif t.deleted:
                head += f"  (-{t.deleted:,} child rows removed)"
            if t.replaced is not None:
                head += f"  (replaces {t.replaced:,} rows)"
            lines.append(head)
            if t.columns_to_add and not t.new:
                lines.append(f"      add columns: {', '.join(f'{c.name} {c.data_type}' for c in t.columns_to_add)}")
            if t.variant_columns:
                lines.append(f"      variant columns: {', '.join(t.variant_columns)}")
            lines.extend(f"      type change: {c.column} {c.from_type} -> {c.to_type}" for c in t.type_changes)
        lines.extend(
            f"  quarantined: {q.rows:,} rows of {q.table} ({q.resource}): {q.reason}" for q in self.quarantined
        )
        lines.extend(f"  {c}" for c in self.checks)
        if self.table_checks:
            lines.append(f"  {self.table_checks} table check(s) run at load time, on the table after the load")
        for m in self.cursors:
            move = f"{m.from_value!r} -> {m.to_value!r}" if m.moved else f"stays at {m.to_value!r}"
            lines.append(f"  cursor {m.source}.{m.resource} {m.cursor_path}: {move}")
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value
