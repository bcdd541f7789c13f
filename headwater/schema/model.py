"""The schema model: tables, columns, hints and versions.

A :class:`Schema` belongs to one source (its name is the source's name). It evolves while data is
normalized: new tables and columns are added, column types are widened. Each evolution that reaches a
destination gets a new version; the JSON form of every version is stored in the pipeline's working
folder and in the destination's ``_hw_schemas`` table.

The model is deliberately plain data (dataclasses and JSON), free of Arrow, so that the CLI and tools
read schemas without importing the data path.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson

from headwater import names
from headwater.schema.naming import deduplicate, join_path, snake_case
from headwater.schema.types import DataType

SCHEMA_ENGINE_VERSION = 1

# System columns, in the order they are appended to every table.
LOAD_ID = "_hw_load_id"
ROW_ID = "_hw_id"
PARENT_ID = "_hw_parent_id"
LIST_IDX = "_hw_list_idx"
ROOT_ID = "_hw_root_id"
ROW_HASH = "_hw_row_hash"  # scd2 root tables: a hash of the whole source row, children included


@dataclass
class Column:
    """One column of a table.

    Attributes:
        name: the identifier in the destination.
        data_type: the Headwater type name (see :mod:`headwater.schema.types`).
        precision, scale: for ``decimal``.
        nullable: False for primary keys and columns hinted ``nullable=False``.
        primary_key: part of the table's primary key (a hint; used by merge).
        path: the source keys this column came from, relative to its table (``("actor", "login")``).
        variant_of: for a variant column, the column whose values it complements.
        system: one of Headwater's own ``_hw_`` columns.
        hinted: the type comes from a user hint rather than inference.
        foreign: the destination's type of a column that another writer made with a type Headwater
            does not write (``INTEGER``, ``int32``): it takes no values, they go to variant columns.
        exact_in_double: for a ``bigint`` column, whether every value written to it so far is exactly
            a double (|x| <= 2**53), so that widening it to ``double`` changes no stored value; None
            when unknown (a column from an older schema), which forbids that widening.
    """

    name: str
    data_type: str
    precision: int | None = None
    scale: int | None = None
    nullable: bool = True
    primary_key: bool = False
    path: tuple[str, ...] | None = None
    variant_of: str | None = None
    system: bool = False
    hinted: bool = False
    hard_delete: bool = False
    exact_in_double: bool | None = None
    foreign: str | None = None

    @property
    def type(self) -> DataType:
        """The column's type, with precision and scale."""
        return DataType(self.data_type, self.precision, self.scale)

    def set_type(self, data_type: DataType) -> None:
        """Set the type, precision and scale from ``data_type``."""
        self.data_type = data_type.name
        self.precision = data_type.precision
        self.scale = data_type.scale

    def to_dict(self) -> dict[str, Any]:
        """The column as JSON-ready data (defaults left out)."""
        out: dict[str, Any] = {"name": self.name, "data_type": self.data_type}
        if self.data_type == "decimal":
            out["precision"] = self.precision
            out["scale"] = self.scale
        if not self.nullable:
            out["nullable"] = False
        if self.primary_key:
            out["primary_key"] = True
        if self.path is not None:
            out["path"] = list(self.path)
        if self.variant_of:
            out["variant_of"] = self.variant_of
        if self.system:
            out["system"] = True
        if self.hinted:
            out["hinted"] = True
        if self.hard_delete:
            out["hard_delete"] = True
        if self.exact_in_double is not None and self.data_type == "bigint":
            out["exact_in_double"] = self.exact_in_double
        if self.foreign:
            out["foreign"] = self.foreign
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Column:
        """A column from the data :meth:`to_dict` made."""
        path = data.get("path")
        return cls(
            name=data["name"],
            data_type=data["data_type"],
            precision=data.get("precision"),
            scale=data.get("scale"),
            nullable=data.get("nullable", True),
            primary_key=data.get("primary_key", False),
            path=tuple(path) if path is not None else None,
            variant_of=data.get("variant_of"),
            system=data.get("system", False),
            hinted=data.get("hinted", False),
            hard_delete=data.get("hard_delete", False),
            exact_in_double=data.get("exact_in_double"),
            foreign=data.get("foreign"),
        )


@dataclass
class Table:
    """One table: a resource's root table or a child table made from a list.

    Attributes:
        name: the identifier in the destination.
        columns: columns by name, in creation order.
        parent: the parent table for a child table.
        path: for a child table, the source keys of the list, relative to the parent table.
        resource: the resource that writes this table.
        write_disposition: ``append``, ``replace`` or ``merge`` (children follow their root).
        merge_strategy: for merge: ``delete-insert``, ``upsert`` or ``scd2``.
        merge_key: for merge: the columns whose values select what a load replaces.
        dedup_sort: for merge: ``(column, "asc"|"desc")`` choosing among rows with the same key.
        validity_columns: for scd2: the columns holding when a version became and stopped being valid.
        partition_by: partition columns or transforms (``day(created_at)``) for destinations that
            partition (files, Iceberg, Delta); the destination's own configuration takes precedence.
    """

    name: str
    columns: dict[str, Column] = field(default_factory=dict)
    parent: str | None = None
    path: tuple[str, ...] | None = None
    resource: str | None = None
    write_disposition: str = "append"
    merge_strategy: str | None = None
    merge_key: tuple[str, ...] = ()
    dedup_sort: tuple[str, str] | None = None
    validity_columns: tuple[str, str] | None = None
    partition_by: tuple[str, ...] = ()
    _by_path: dict[tuple[str, ...], str] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._reindex()

    def _reindex(self) -> None:
        self._by_path = {c.path: c.name for c in self.columns.values() if c.path is not None}

    @property
    def is_child(self) -> bool:
        """Whether the table is a child table (made from a list of its parent's rows)."""
        return self.parent is not None

    def data_columns(self) -> list[Column]:
        """The columns that hold data (not Headwater's ``_hw_`` system columns)."""
        return [c for c in self.columns.values() if not c.system]

    def column_for_path(self, path: tuple[str, ...]) -> Column | None:
        """The column holding the values of source path ``path``, if any."""
        name = self._by_path.get(path)
        return self.columns.get(name) if name is not None else None

    def name_for_path(self, path: tuple[str, ...]) -> str:
        """The column name for a source path: the stored one, or a new, free, deterministic one."""
        known = self._by_path.get(path)
        if known is not None:
            return known
        candidate = join_path(snake_case(p) for p in path)
        declared = self.columns.get(candidate)
        if declared is not None and declared.path is None and not declared.system and not declared.variant_of:
            # a column declared by a hint before any data arrived: the first path to match claims it
            declared.path = path
            self._by_path[path] = candidate
            return candidate
        return deduplicate(candidate, self.columns.keys())

    def add_column(self, column: Column) -> Column:
        """Add ``column`` (replacing one of the same name) and return it."""
        self.columns[column.name] = column
        if column.path is not None:
            self._by_path[column.path] = column.name
        return column

    def to_dict(self) -> dict[str, Any]:
        """The table as JSON-ready data (defaults left out)."""
        out: dict[str, Any] = {
            "name": self.name,
            "columns": [c.to_dict() for c in self.columns.values()],
            "write_disposition": self.write_disposition,
        }
        if self.parent:
            out["parent"] = self.parent
        if self.path is not None:
            out["path"] = list(self.path)
        if self.resource:
            out["resource"] = self.resource
        if self.write_disposition == "merge":
            out["merge_strategy"] = self.merge_strategy
            if self.merge_key:
                out["merge_key"] = list(self.merge_key)
            if self.dedup_sort:
                out["dedup_sort"] = list(self.dedup_sort)
            if self.validity_columns:
                out["validity_columns"] = list(self.validity_columns)
        if self.partition_by:
            out["partition_by"] = list(self.partition_by)
        return out

    @property
    def primary_key(self) -> list[str]:
        """The names of the primary key columns, in order."""
        return [c.name for c in self.columns.values() if c.primary_key]

    @property
    def hard_delete_column(self) -> str | None:
        """The column marked ``hard_delete``, if any."""
        return next((c.name for c in self.columns.values() if c.hard_delete), None)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Table:
        """A table from the data :meth:`to_dict` made."""
        path = data.get("path")
        table = cls(
            name=data["name"],
            columns={c["name"]: Column.from_dict(c) for c in data.get("columns", [])},
            parent=data.get("parent"),
            path=tuple(path) if path is not None else None,
            resource=data.get("resource"),
            write_disposition=data.get("write_disposition", "append"),
            merge_strategy=data.get("merge_strategy"),
            merge_key=tuple(data.get("merge_key", ())),
            dedup_sort=tuple(data["dedup_sort"]) if data.get("dedup_sort") else None,
            partition_by=tuple(data.get("partition_by", ())),
            validity_columns=tuple(data["validity_columns"]) if data.get("validity_columns") else None,
        )
        return table


@dataclass
class ColumnChange:
    """A change to one column between two schema versions."""

    table: str
    column: str
    kind: str  # "add" or "widen"
    data_type: str
    previous_type: str | None = None


@dataclass
class SchemaDiff:
    """What changed between two versions of a schema."""

    new_tables: list[str] = field(default_factory=list)
    changes: list[ColumnChange] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.new_tables or self.changes)

    def new_columns(self, table: str) -> list[str]:
        """The columns added to ``table``."""
        return [c.column for c in self.changes if c.table == table and c.kind == "add"]


@dataclass
class Schema:
    """The tables of one source, with a version that increases whenever they change."""

    name: str
    tables: dict[str, Table] = field(default_factory=dict)
    version: int = 0
    version_hash: str = ""

    # -- tables ---------------------------------------------------------------------------------
    def children_of(self, name: str) -> list[Table]:
        """All descendants of ``name`` (children, grandchildren...), parents before children."""
        out: list[Table] = []
        frontier = [name]
        while frontier:
            parent = frontier.pop(0)
            for t in self.tables.values():
                if t.parent == parent:
                    out.append(t)
                    frontier.append(t.name)
        return out

    def root_of(self, name: str) -> Table:
        """The root table of a table (itself for a root table)."""
        table = self.tables[name]
        while table.parent is not None:
            table = self.tables[table.parent]
        return table

    def child_table_name(self, parent: str, path: tuple[str, ...]) -> str:
        """The name for the child table of ``parent`` made from the list at ``path``."""
        for t in self.tables.values():
            if t.parent == parent and t.path == path:
                return t.name
        return names.child_table_name(parent, path, self.tables.keys())

    # -- versions -------------------------------------------------------------------------------
    def content_hash(self) -> str:
        """A hash of the tables (sorted JSON), independent of the version."""
        body = orjson.dumps([t.to_dict() for t in self.tables.values()], option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(body).hexdigest()[:32]

    def bump_version(self) -> bool:
        """Recompute the hash; increase the version if the content changed. Returns whether it did."""
        new_hash = self.content_hash()
        if new_hash != self.version_hash:
            self.version_hash = new_hash
            self.version += 1
            return True
        return False

    def diff(self, previous: Schema | None) -> SchemaDiff:
        """What this schema adds to ``previous`` (new tables, new columns, widened columns)."""
        diff = SchemaDiff()
        for table in self.tables.values():
            old = previous.tables.get(table.name) if previous else None
            if old is None:
                diff.new_tables.append(table.name)
            for col in table.columns.values():
                old_col = old.columns.get(col.name) if old else None
                if old_col is None:
                    diff.changes.append(ColumnChange(table.name, col.name, "add", str(col.type)))
                elif old_col.type != col.type:
                    diff.changes.append(ColumnChange(table.name, col.name, "widen", str(col.type), str(old_col.type)))
        return diff

    # -- serialization --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The schema as JSON-ready data."""
        return {
            "name": self.name,
            "version": self.version,
            "version_hash": self.version_hash,
            "engine_version": SCHEMA_ENGINE_VERSION,
            "tables": [t.to_dict() for t in self.tables.values()],
        }

    def to_json(self, *, indent: bool = True) -> bytes:
        """The schema as JSON (indented unless ``indent`` is false)."""
        return orjson.dumps(self.to_dict(), option=orjson.OPT_INDENT_2 if indent else 0)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schema:
        """A schema from the data :meth:`to_dict` made."""
        return cls(
            name=data["name"],
            tables={t["name"]: Table.from_dict(t) for t in data.get("tables", [])},
            version=data.get("version", 0),
            version_hash=data.get("version_hash", ""),
        )

    @classmethod
    def from_json(cls, data: bytes | str) -> Schema:
        """A schema from the JSON :meth:`to_json` made."""
        return cls.from_dict(orjson.loads(data))

    def copy(self) -> Schema:
        """A deep copy of the schema."""
        clone = copy.deepcopy(self)
        for t in clone.tables.values():
            t._reindex()
        return clone
