"""Merge write dispositions in SQL: delete-insert, upsert and scd2, through staging tables.

A merge root table and its child tables are first loaded into temporary staging tables (each row
numbered ``_hw_seq`` in arrival order), then merged into their targets by plain SQL, inside the load's
transaction:

* **delete-insert** (default): rows with the same primary key, and rows whose ``merge_key`` values
  appear in the load (partition replacement), are deleted from the target with their child rows;
  the load's rows are inserted.
* **upsert**: like delete-insert by primary key, but a row that existed keeps its ``_hw_id`` (child
  rows are re-linked to it), so ids are stable across updates.
* **scd2**: a row is a version; versions are compared by ``_hw_row_hash`` (the whole source row,
  children included). A new or changed row opens a version (``valid_from`` = load time); an open
  version absent from the load (within the load's ``merge_key`` partitions, if any) is closed
  (``valid_to`` = load time); unchanged rows are left alone, children of closed versions too.

Duplicates within one load (same primary key) are resolved before merging: the last one wins, or
the one with the highest (``dedup_sort`` desc) or lowest (asc) value. A ``hard_delete`` column
(true, or any value for a non-boolean column) deletes the target row (scd2: closes its version)
instead of inserting it. The SQL is portable between DuckDB and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from headwater.destinations.common import SEQ, dedup_order
from headwater.packages.package import LoadPackage
from headwater.schema.model import PARENT_ID, ROOT_ID, ROW_HASH, ROW_ID, Schema, Table

if TYPE_CHECKING:
    from headwater.destinations.sql.client import SqlClient


class SqlMerge:
    """The merge of one merge root table (with its children) of one package, run in SQL through
    staging tables (see the module docstring)."""

    def __init__(self, client: SqlClient, schema: Schema, root: Table, package: LoadPackage, load_time: float) -> None:
        self.client = client
        self.schema = schema
        self.root = root
        self.package = package
        self.load_time = load_time
        self.q = client.quote
        self.children = schema.children_of(root.name)
        self.pk = root.primary_key
        self.merge_key = list(root.merge_key)
        self.hard_delete = root.hard_delete_column
        self._temps: list[str] = []

    # -- helpers ---------------------------------------------------------------------------------
    def _t(self, name: str) -> str:
        return self.client.qualified(name)

    def _cols(self, table: Table) -> list[str]:
        return list(table.columns)

    def _exec(self, sql: str) -> list[tuple[Any, ...]]:
        return self.client.execute(sql)

    def _temp(self, name: str, select: str) -> str:
        temp = f"_hw_tmp_{len(self._temps)}_{name}"[:60]
        self._exec(f"CREATE TEMPORARY TABLE {self.q(temp)} AS {select}")
        self._temps.append(temp)
        return temp

    def _match(self, a: str, b: str, columns: list[str], *, null_safe: bool = False) -> str:
        op = "IS NOT DISTINCT FROM" if null_safe else "="
        return " AND ".join(f"{a}.{self.q(c)} {op} {b}.{self.q(c)}" for c in columns)

    def _deleted(self, alias: str) -> str:
        """SQL true for staged rows that ask for a hard delete."""
        if not self.hard_delete:
            return "FALSE"
        col = self.root.columns[self.hard_delete]
        ref = f"{alias}.{self.q(self.hard_delete)}"
        return f"COALESCE({ref}, FALSE)" if col.data_type == "bool" else f"({ref} IS NOT NULL)"

    def _load_time(self) -> str:
        # a literal of whole microseconds: to_timestamp(<double>) truncates 1763914667.408659 (stored as
        # ...408658999) to .408658 in DuckDB and PostgreSQL, where Python rounds it to .408659
        when = dt.datetime.fromtimestamp(float(self.load_time), dt.UTC).isoformat(sep=" ")
        return f"CAST('{when}' AS TIMESTAMP WITH TIME ZONE)"

    # -- staging ---------------------------------------------------------------------------------
    def stage(self, tables: list[Table] | None = None) -> dict[str, str]:
        """Staging tables for ``tables`` (default: the root and its children) with their package rows."""
        staged: dict[str, str] = {}
        for table in [self.root, *self.children] if tables is None else tables:
            files = self.package.manifest.tables.get(table.name)
            temp = self._temp(table.name, f"SELECT * FROM {self._t(table.name)} WHERE 1 = 0")
            self._exec(f"ALTER TABLE {self.q(temp)} ADD COLUMN {self.q(SEQ)} BIGINT")
            if files and files.files:
                self.client.insert_files(table, self.package.file_paths(table.name), target=temp, with_seq=True)
            staged[table.name] = temp
        return staged

    def deduplicated(self, staged_root: str) -> str:
        """The staged root rows, one per primary key (the last, or by ``dedup_sort``)."""
        if not self.pk:
            return staged_root
        partition = ", ".join(self.q(c) for c in self.pk)
        if not self._exec(f"SELECT 1 FROM {self.q(staged_root)} GROUP BY {partition} HAVING count(*) > 1 LIMIT 1"):
            return staged_root  # every key once (the usual case): no copy to make
        order = dedup_order(self.root, self.q)
        cols = ", ".join(self.q(c) for c in [*self._cols(self.root), SEQ])
        return self._temp(
            "dedup",
            f"SELECT {cols} FROM (SELECT *, row_number() OVER (PARTITION BY {partition} ORDER BY {', '.join(order)}) "
            f"AS _hw_rn FROM {self.q(staged_root)}) ranked WHERE _hw_rn = 1",
        )

    def run(self) -> dict[str, int]:
        """Stage the rows and merge them with the table's strategy (delete-insert, upsert or scd2); return the rows
        written per table."""
        strategy = self.root.merge_strategy or "delete-insert"
        if strategy == "scd2":
            out = self._scd2(self.stage())
        elif strategy == "upsert":
            out = self._upsert(self.stage())
        else:
            out = self._delete_insert(self.stage([self.root]))
        # on failure the rollback removes the staging tables with everything else
        for temp in self._temps:
            self._exec(f"DROP TABLE IF EXISTS {self.q(temp)}")
        return out

    def _kept(self, dedup: str) -> str:
        """The deduplicated rows that are not hard deletes (``dedup`` itself without a hard-delete column)."""
        if not self.hard_delete:
            return dedup
        return self._temp("kept", f"SELECT * FROM {self.q(dedup)} s WHERE NOT {self._deleted('s')}")

    def _insert_children(self, staged: dict[str, str], roots: str, remap: str | None = None) -> dict[str, int]:
        """Child rows whose root row was inserted (their ids re-linked through ``remap`` for upsert)."""
        out: dict[str, int] = {}
        for child in self.children:
            temp = staged.get(child.name)
            files = self.package.manifest.tables.get(child.name)
            if temp is None or not files or not files.files:
                continue
            cols = self._cols(child)
            select = []
            for c in cols:
                ref = f"c.{self.q(c)}"
                if remap and c == ROOT_ID:
                    ref = "COALESCE(m.old_id, c._hw_root_id)"
                elif remap and c == PARENT_ID:
                    ref = (
                        "CASE WHEN c._hw_parent_id = c._hw_root_id "
                        "THEN COALESCE(m.old_id, c._hw_parent_id) ELSE c._hw_parent_id END"
                    )
                select.append(ref)
            join = f" LEFT JOIN {self.q(remap)} m ON m.new_id = c.{self.q(ROOT_ID)}" if remap else ""
            rows = self._exec(
                f"INSERT INTO {self._t(child.name)} ({', '.join(self.q(c) for c in cols)}) "
                f"SELECT {', '.join(select)} FROM {self.q(temp)} c{join} "
                f"WHERE c.{self.q(ROOT_ID)} IN (SELECT {self.q(ROW_ID)} FROM {self.q(roots)})"
            )
            out[child.name] = int(rows[0][0]) if rows else 0
        return out

    def _delete_children_of(self, root_ids_select: str) -> None:
        for child in self.children:
            self._exec(f"DELETE FROM {self._t(child.name)} WHERE {self.q(ROOT_ID)} IN ({root_ids_select})")

    # -- strategies ------------------------------------------------------------------------------
    def _delete_insert(self, staged: dict[str, str]) -> dict[str, int]:
        root, target = self.root, self._t(self.root.name)
        dedup = self.deduplicated(staged[root.name])
        conditions = []
        if self.pk:
            conditions.append(f"EXISTS (SELECT 1 FROM {self.q(dedup)} s WHERE {self._match('s', 't', self.pk)})")
        if self.merge_key:
            conditions.append(
                f"EXISTS (SELECT 1 FROM {self.q(staged[root.name])} s "
                f"WHERE {self._match('s', 't', self.merge_key, null_safe=True)})"
            )
        replaced = " OR ".join(conditions)
        self._delete_children_of(f"SELECT t.{self.q(ROW_ID)} FROM {target} t WHERE {replaced}")
        self._exec(f"DELETE FROM {target} t WHERE {replaced}")
        kept = self._kept(dedup)
        cols = ", ".join(self.q(c) for c in self._cols(root))
        rows = self._exec(f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {self.q(kept)}")
        out = {root.name: int(rows[0][0]) if rows else 0}
        if kept == staged[root.name]:
            # every root row of the package landed: so do all its child rows, straight from its files
            for child in self.children:
                if self.package.manifest.tables.get(child.name) and self.package.manifest.tables[child.name].files:
                    out[child.name] = self.client.insert_files(child, self.package.file_paths(child.name))
            return out
        staged.update(self.stage(self.children))
        out.update(self._insert_children(staged, kept))
        return out

    def _upsert(self, staged: dict[str, str]) -> dict[str, int]:
        root, target = self.root, self._t(self.root.name)
        dedup = self.deduplicated(staged[root.name])
        mapping = self._temp(
            "map",
            f"SELECT s.{self.q(ROW_ID)} AS new_id, t.{self.q(ROW_ID)} AS old_id "
            f"FROM {self.q(dedup)} s JOIN {target} t ON {self._match('s', 't', self.pk)}",
        )
        old_ids = f"SELECT old_id FROM {self.q(mapping)}"
        self._delete_children_of(old_ids)
        self._exec(f"DELETE FROM {target} WHERE {self.q(ROW_ID)} IN ({old_ids})")
        kept = self._kept(dedup)
        names = self._cols(root)
        select = ", ".join(
            f"COALESCE(m.old_id, s.{self.q(ROW_ID)})" if c == ROW_ID else f"s.{self.q(c)}" for c in names
        )
        rows = self._exec(
            f"INSERT INTO {target} ({', '.join(self.q(c) for c in names)}) SELECT {select} "
            f"FROM {self.q(kept)} s LEFT JOIN {self.q(mapping)} m ON m.new_id = s.{self.q(ROW_ID)}"
        )
        out = {root.name: int(rows[0][0]) if rows else 0}
        out.update(self._insert_children(staged, kept, remap=mapping))
        return out

    def _scd2(self, staged: dict[str, str]) -> dict[str, int]:
        root, target = self.root, self._t(self.root.name)
        assert root.validity_columns is not None
        valid_from, valid_to = (self.q(c) for c in root.validity_columns)
        staged_root = staged[root.name]
        if self.pk:
            dedup = self.deduplicated(staged_root)
        else:  # identical rows are one version
            cols = ", ".join(self.q(c) for c in [*self._cols(root), SEQ])
            dedup = self._temp(
                "dedup",
                f"SELECT {cols} FROM (SELECT *, row_number() OVER (PARTITION BY {self.q(ROW_HASH)} "
                f"ORDER BY {self.q(SEQ)}) AS _hw_rn FROM {self.q(staged_root)}) ranked WHERE _hw_rn = 1",
            )
        live = f"SELECT * FROM {self.q(dedup)} s WHERE NOT {self._deleted('s')}"
        new_versions = self._temp(
            "new",
            f"SELECT * FROM ({live}) s WHERE NOT EXISTS (SELECT 1 FROM {target} t WHERE t.{valid_to} IS NULL "
            f"AND t.{self.q(ROW_HASH)} = s.{self.q(ROW_HASH)})",
        )
        scope = ""
        if self.merge_key:  # only the partitions present in the load are complete
            scope = (
                f" AND EXISTS (SELECT 1 FROM {self.q(staged_root)} s "
                f"WHERE {self._match('s', 't', self.merge_key, null_safe=True)})"
            )
        self._exec(
            f"UPDATE {target} AS t SET {valid_to} = {self._load_time()} WHERE t.{valid_to} IS NULL "
            f"AND NOT EXISTS (SELECT 1 FROM ({live}) s WHERE s.{self.q(ROW_HASH)} = t.{self.q(ROW_HASH)}){scope}"
        )
        names = self._cols(root)
        select = []
        for c in names:
            if self.q(c) == valid_from:
                select.append(self._load_time())
            elif self.q(c) == valid_to:
                select.append("CAST(NULL AS TIMESTAMP WITH TIME ZONE)")
            else:
                select.append(self.q(c))
        rows = self._exec(
            f"INSERT INTO {target} ({', '.join(self.q(c) for c in names)}) "
            f"SELECT {', '.join(select)} FROM {self.q(new_versions)}"
        )
        out = {root.name: int(rows[0][0]) if rows else 0}
        out.update(self._insert_children(staged, new_versions))
        return out
