"""What loading packages would do to the destination's rows, computed without writing: the dry run's counts.

A :class:`Simulation` keeps, in a private in-memory DuckDB, a *mirror* of the few destination columns the
loads compare with (row ids, primary and merge keys, scd2 row hashes of open versions, child rows per
root row), read once per table with a read-only query. Each package is then applied to the mirror in
load order (the packages waiting first, as a run loads them), with the same rules as
:mod:`headwater.destinations.sql.merge`:

* **delete-insert**: the package's rows are deduplicated by primary key (the last, or by
  ``dedup_sort``); destination rows with the same key, or in a ``merge_key`` partition of the load, are
  removed with their child rows; the rows not marked by the ``hard_delete`` column are inserted.
* **upsert**: the same by primary key; a row that existed keeps its ``_hw_id``.
* **scd2**: a row whose hash matches no open version opens a new one; an open version whose hash is not
  in the load (within its ``merge_key`` partitions, if any) is retired.

Counts per root table: ``inserted`` (new keys), ``updated`` (keys whose rows are replaced; in scd2 a
retired version and a new one), ``deleted`` (destination rows removed, or versions retired, without a
replacement). They always satisfy ``rows after = rows before + inserted - deleted`` (scd2: open versions).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from headwater.destinations.common import SEQ, dedup_order, numbered
from headwater.names import quote_identifier as q
from headwater.packages.files import read_file
from headwater.packages.package import LoadPackage
from headwater.schema.model import ROOT_ID, ROW_HASH, ROW_ID, Schema, Table
from headwater.schema.stored import StoredTables


@dataclass
class MergeCounts:
    """What one merge does to its root table and children.

    Attributes:
        rows: rows written per table (root and children), as the load reports them.
        inserted: root rows with a key the destination does not hold.
        updated: root rows replacing rows with the same key (scd2: a changed row, one version retired).
        deleted: destination root rows removed (scd2: versions retired) without a replacement.
        child_deleted: child rows removed with their root rows, per child table.
    """

    rows: dict[str, int]
    inserted: int
    updated: int
    deleted: int
    child_deleted: dict[str, int]


class Simulation:
    """The destination's merge keys mirrored locally, and packages applied to them in load order.

    Args:
        client: an open destination client; only ``query_arrow`` (SELECTs) is called.
        stored: the destination's tables as they were before the dry run.
        path: a DuckDB file for the mirrored keys (in the dry run's temporary folder), so that the keys
            of a table larger than memory spill to disk; default: in memory.
    """

    def __init__(self, client: Any, stored: StoredTables, *, path: Path | None = None) -> None:
        import duckdb

        self.client = client
        self.stored = stored
        self.con = duckdb.connect(str(path) if path is not None else ":memory:")
        self._mirrors: dict[str, str] = {}
        self._counts: dict[str, int] = {}
        self._n = 0

    def close(self) -> None:
        """Close the local database."""
        self.con.close()

    # -- helpers ---------------------------------------------------------------------------------
    def _local(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}_{self._n}"

    def _rq(self, name: str) -> str:
        quote = getattr(self.client, "quote", None)
        return quote(name) if callable(quote) else q(name)

    def _one(self, sql: str) -> int:
        rows = self._exec(sql)
        return int(rows[0][0]) if rows and rows[0][0] is not None else 0

    def _exec(self, sql: str) -> list[Any]:
        return self.con.execute(sql).fetchall()

    def _remote(self, table: str, columns: list[str], where: str = "") -> Any:
        """Columns of a destination table as an Arrow table named by schema names (NULL where missing)."""
        stored = self.stored.table(table) or {}
        ident = getattr(self.client, "ident", lambda n: n)
        select = [self._rq(c) if ident(c) in stored else "NULL" for c in columns]
        result = self.client.query_arrow(f"SELECT {', '.join(select)} FROM {self._rq(table)}{where}")
        return result.rename_columns(columns)

    def _register(self, prefix: str, arrow: Any) -> str:
        name = self._local(prefix)
        self.con.register("_hw_arrow", arrow)
        # row ids as text: a package holds Arrow uuids, a destination returns uuids or text
        ids = [f"CAST({q(c)} AS VARCHAR) AS {q(c)}" for c in (ROW_ID, ROOT_ID) if c in arrow.column_names]
        select = f"* REPLACE ({', '.join(ids)})" if ids else "*"
        try:
            self._exec(f"CREATE TABLE {q(name)} AS SELECT {select} FROM _hw_arrow")
        finally:
            self.con.unregister("_hw_arrow")
        return name

    def _staged(self, package: LoadPackage, table: Table, columns: list[str]) -> str:
        """The package's rows of ``table`` (``columns`` and ``_hw_seq``, numbered in arrival order)."""
        import pyarrow as pa

        seq = [0]
        paths = package.file_paths(table.name) if table.name in package.manifest.tables else []
        parts = [pa.Table.from_batches(list(numbered(read_file(path), seq))) for path in paths]
        wanted = [*columns, SEQ]
        if parts:
            data = pa.concat_tables(parts, promote_options="default")
            data = pa.table({c: data.column(c) if c in data.column_names else pa.nulls(len(data)) for c in wanted})
        else:
            data = pa.table({c: pa.array([], pa.int64()) for c in wanted})
        return self._register("staged", data)

    # -- row counts (replace) --------------------------------------------------------------------
    def count(self, table: str) -> int:
        """The rows ``table`` holds now (the destination's, then as the packages applied so far left it)."""
        if table not in self._counts:
            if self.stored.table(table) is None:
                self._counts[table] = 0
            else:
                result = self.client.query_arrow(f"SELECT count(*) AS n FROM {self._rq(table)}")
                self._counts[table] = int(result.column(0)[0].as_py())
        return self._counts[table]

    def replace(self, table: str) -> int:
        """Empty ``table`` (a replace); returns the rows removed."""
        removed = self.count(table)
        self._counts[table] = 0
        self._forget(table)
        return removed

    def added(self, table: str, rows: int) -> None:
        """Note ``rows`` more rows in ``table`` (an append, a replace's new rows, a merge's balance)."""
        self._counts[table] = self.count(table) + rows

    def _forget(self, table: str) -> None:
        mirror = self._mirrors.get(table)
        if mirror is not None:
            self._exec(f"DELETE FROM {q(mirror)}")

    # -- mirrors ---------------------------------------------------------------------------------
    def _root_columns(self, root: Table) -> list[str]:
        cols = [ROW_ID, *root.primary_key, *root.merge_key]
        if root.merge_strategy == "scd2":
            cols.append(ROW_HASH)
        return list(dict.fromkeys(cols))

    def _mirror(self, root: Table, staged: str) -> str:
        """The mirror of a merge root table (scd2: its open versions), read from the destination once."""
        if root.name in self._mirrors:
            return self._mirrors[root.name]
        cols = self._root_columns(root)
        if self.stored.table(root.name) is None:
            name = self._local("mirror")
            self._exec(f"CREATE TABLE {q(name)} AS SELECT {', '.join(q(c) for c in cols)} FROM {q(staged)} LIMIT 0")
        else:
            where = ""
            if root.merge_strategy == "scd2" and root.validity_columns:
                where = f" WHERE {self._rq(root.validity_columns[1])} IS NULL"
            name = self._register("mirror", self._remote(root.name, cols, where))
        self._mirrors[root.name] = name
        return name

    def _child_mirror(self, child: Table) -> str:
        """Child rows per root row id (``r``, ``n``), read from the destination once."""
        key = f"child:{child.name}"
        if key in self._mirrors:
            return self._mirrors[key]
        if self.stored.table(child.name) is None:
            name = self._local("children")
            self._exec(f"CREATE TABLE {q(name)} (r VARCHAR, n BIGINT)")
        else:
            arrow = self.client.query_arrow(
                f"SELECT {self._rq(ROOT_ID)} AS r, count(*) AS n FROM {self._rq(child.name)} GROUP BY 1"
            )
            name = self._register("children", arrow.rename_columns(["r", "n"]))
        self._mirrors[key] = name
        return name

    # -- the merge -------------------------------------------------------------------------------
    def merge(self, schema: Schema, root: Table, package: LoadPackage) -> MergeCounts:
        """Apply one package's merge of ``root`` (and its children) to the mirror; what it does."""
        pk = root.primary_key
        strategy = root.merge_strategy or "delete-insert"
        extra = [c for c in (root.hard_delete_column, root.dedup_sort[0] if root.dedup_sort else None) if c]
        staged = self._staged(package, root, list(dict.fromkeys([*self._root_columns(root), *extra])))
        mirror = self._mirror(root, staged)
        cols = ", ".join(q(c) for c in self._root_columns(root))
        if pk:
            order = ", ".join(dedup_order(root, q))
            dedup = self._temp(
                f"SELECT * EXCLUDE (_hw_rn) FROM (SELECT *, row_number() OVER (PARTITION BY "
                f"{', '.join(q(c) for c in pk)} ORDER BY {order}) AS _hw_rn FROM {q(staged)}) WHERE _hw_rn = 1"
            )
        elif strategy == "scd2":  # identical rows are one version
            dedup = self._temp(
                f"SELECT * EXCLUDE (_hw_rn) FROM (SELECT *, row_number() OVER (PARTITION BY {q(ROW_HASH)} "
                f"ORDER BY {q(SEQ)}) AS _hw_rn FROM {q(staged)}) WHERE _hw_rn = 1"
            )
        else:
            dedup = staged
        kept = self._temp(f"SELECT * FROM {q(dedup)} s WHERE NOT {self._deleted(root, 's')}")
        children = [c for c in schema.children_of(root.name)]
        if strategy == "scd2":
            return self._scd2(root, children, package, staged, mirror, kept, cols)
        if strategy == "upsert":
            return self._upsert(root, children, package, mirror, dedup, kept, cols)
        return self._delete_insert(root, children, package, staged, mirror, dedup, kept, cols)

    def _temp(self, select: str) -> str:
        name = self._local("t")
        self._exec(f"CREATE TABLE {q(name)} AS {select}")
        return name

    @staticmethod
    def _match(a: str, b: str, columns: list[str], *, null_safe: bool = False) -> str:
        op = "IS NOT DISTINCT FROM" if null_safe else "="
        return " AND ".join(f"{a}.{q(c)} {op} {b}.{q(c)}" for c in columns)

    @staticmethod
    def _deleted(root: Table, alias: str) -> str:
        column = root.hard_delete_column
        if not column:
            return "FALSE"
        ref = f"{alias}.{q(column)}"
        return f"COALESCE({ref}, FALSE)" if root.columns[column].data_type == "bool" else f"({ref} IS NOT NULL)"

    def _children_rows(
        self, children: list[Table], package: LoadPackage, roots: str, remap: str | None
    ) -> dict[str, int]:
        """Child rows the load writes (those of inserted root rows), noted in the child mirrors."""
        out: dict[str, int] = {}
        for child in children:
            files = package.manifest.tables.get(child.name)
            if not files or not files.files:
                continue
            staged = self._staged(package, child, [ROOT_ID])
            join = f" LEFT JOIN {q(remap)} m ON m.new_id = c.{q(ROOT_ID)}" if remap else ""
            root_id = f"COALESCE(m.old_id, c.{q(ROOT_ID)})" if remap else f"c.{q(ROOT_ID)}"
            written = self._temp(
                f"SELECT {root_id} AS r FROM {q(staged)} c{join} "
                f"WHERE c.{q(ROOT_ID)} IN (SELECT {q(ROW_ID)} FROM {q(roots)})"
            )
            out[child.name] = self._one(f"SELECT count(*) FROM {q(written)}")
            if out[child.name]:
                mirror = self._child_mirror(child)
                self._exec(f"INSERT INTO {q(mirror)} SELECT CAST(r AS VARCHAR), count(*) FROM {q(written)} GROUP BY 1")
            self.added(child.name, out[child.name])
        return out

    def _children_removed(self, children: list[Table], removed_ids: str) -> dict[str, int]:
        """Child rows removed with their root rows (``removed_ids``: a SELECT of root row ids)."""
        out: dict[str, int] = {}
        for child in children:
            mirror = self._child_mirror(child)
            where = f"WHERE CAST(r AS VARCHAR) IN (SELECT CAST(id AS VARCHAR) FROM ({removed_ids}) ids(id))"
            n = self._one(f"SELECT sum(n) FROM {q(mirror)} {where}")
            if n:
                self._exec(f"DELETE FROM {q(mirror)} {where}")
                out[child.name] = n
                self.added(child.name, -n)
        return out

    def _delete_insert(
        self,
        root: Table,
        children: list[Table],
        package: LoadPackage,
        staged: str,
        mirror: str,
        dedup: str,
        kept: str,
        cols: str,
    ) -> MergeCounts:
        pk, mk = root.primary_key, list(root.merge_key)
        conditions = []
        if pk:
            conditions.append(f"EXISTS (SELECT 1 FROM {q(dedup)} s WHERE {self._match('s', 't', pk)})")
        if mk:
            conditions.append(f"EXISTS (SELECT 1 FROM {q(staged)} s WHERE {self._match('s', 't', mk, null_safe=True)})")
        removed = self._temp(f"SELECT * FROM {q(mirror)} t WHERE {' OR '.join(conditions)}")
        updated = 0
        if pk:
            updated = self._one(
                f"SELECT count(*) FROM {q(kept)} k WHERE EXISTS (SELECT 1 FROM {q(removed)} r "
                f"WHERE {self._match('k', 'r', pk)})"
            )
        n_removed, n_kept = (
            self._one(f"SELECT count(*) FROM {q(removed)}"),
            self._one(f"SELECT count(*) FROM {q(kept)}"),
        )
        child_deleted = self._children_removed(children, f"SELECT {q(ROW_ID)} FROM {q(removed)}")
        self._exec(f"DELETE FROM {q(mirror)} WHERE {q(ROW_ID)} IN (SELECT {q(ROW_ID)} FROM {q(removed)})")
        self._exec(f"INSERT INTO {q(mirror)} SELECT {cols} FROM {q(kept)}")
        rows = {root.name: n_kept, **self._children_rows(children, package, kept, None)}
        self.added(root.name, n_kept - n_removed)
        return MergeCounts(rows, n_kept - updated, updated, n_removed - updated, child_deleted)

    def _upsert(
        self, root: Table, children: list[Table], package: LoadPackage, mirror: str, dedup: str, kept: str, cols: str
    ) -> MergeCounts:
        pk = root.primary_key
        mapping = self._temp(
            f"SELECT s.{q(ROW_ID)} AS new_id, t.{q(ROW_ID)} AS old_id FROM {q(dedup)} s "
            f"JOIN {q(mirror)} t ON {self._match('s', 't', pk)}"
        )
        old_ids = f"SELECT old_id FROM {q(mapping)}"
        n_removed = self._one(f"SELECT count(*) FROM {q(mirror)} WHERE {q(ROW_ID)} IN ({old_ids})")
        written = self._temp(
            f"SELECT k.* REPLACE (COALESCE(m.old_id, k.{q(ROW_ID)}) AS {q(ROW_ID)}), m.old_id AS _hw_old "
            f"FROM {q(kept)} k LEFT JOIN {q(mapping)} m ON m.new_id = k.{q(ROW_ID)}"
        )
        n_written = self._one(f"SELECT count(*) FROM {q(written)}")
        updated = self._one(f"SELECT count(*) FROM {q(written)} WHERE _hw_old IS NOT NULL")
        child_deleted = self._children_removed(children, old_ids)
        self._exec(f"DELETE FROM {q(mirror)} WHERE {q(ROW_ID)} IN ({old_ids})")
        self._exec(f"INSERT INTO {q(mirror)} SELECT {cols} FROM {q(written)}")
        rows = {root.name: n_written, **self._children_rows(children, package, kept, mapping)}
        self.added(root.name, n_written - n_removed)
        return MergeCounts(rows, n_written - updated, updated, n_removed - updated, child_deleted)

    def _scd2(
        self, root: Table, children: list[Table], package: LoadPackage, staged: str, mirror: str, live: str, cols: str
    ) -> MergeCounts:
        pk, mk = root.primary_key, list(root.merge_key)
        new = self._temp(
            f"SELECT * FROM {q(live)} s WHERE NOT EXISTS (SELECT 1 FROM {q(mirror)} t "
            f"WHERE t.{q(ROW_HASH)} = s.{q(ROW_HASH)})"
        )
        scope = ""
        if mk:
            scope = f" AND EXISTS (SELECT 1 FROM {q(staged)} s WHERE {self._match('s', 't', mk, null_safe=True)})"
        retired = self._temp(
            f"SELECT * FROM {q(mirror)} t WHERE NOT EXISTS (SELECT 1 FROM {q(live)} s "
            f"WHERE s.{q(ROW_HASH)} = t.{q(ROW_HASH)}){scope}"
        )
        n_new, n_retired = self._one(f"SELECT count(*) FROM {q(new)}"), self._one(f"SELECT count(*) FROM {q(retired)}")
        updated = 0
        if pk:
            updated = self._one(
                f"SELECT count(*) FROM {q(new)} n WHERE EXISTS (SELECT 1 FROM {q(retired)} r "
                f"WHERE {self._match('n', 'r', pk)})"
            )
        self._exec(f"DELETE FROM {q(mirror)} WHERE {q(ROW_ID)} IN (SELECT {q(ROW_ID)} FROM {q(retired)})")
        self._exec(f"INSERT INTO {q(mirror)} SELECT {cols} FROM {q(new)}")
        rows = {root.name: n_new, **self._children_rows(children, package, new, None)}
        self.added(root.name, n_new)  # retired versions stay in the table
        return MergeCounts(rows, n_new - updated, updated, n_retired - updated, {})
