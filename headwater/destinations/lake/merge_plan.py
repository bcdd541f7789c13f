"""Merges into table formats, planned in an in-memory DuckDB.

Only ``delete-insert`` and ``upsert`` by primary key: the package's rows of the merge root are
deduplicated (the last row wins, or by ``dedup_sort``), matched against the target's keys and row
ids, rows flagged by a ``hard_delete`` column are dropped, and each table (children first, the root
last) is written with one delete-and-insert commit keyed by row ids, so every format only needs
"delete the rows whose ``<column>`` is in this set, then append" as one commit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from headwater import names
from headwater.destinations.common import SEQ, arrow_table, dedup_order
from headwater.destinations.lake.arrow import read_package_table
from headwater.destinations.lake.hooks import Delete
from headwater.destinations.lake.loads import LOAD_ID_PROPERTY
from headwater.errors import ConfigError
from headwater.packages.package import LoadPackage
from headwater.schema.model import PARENT_ID, ROOT_ID, ROW_ID, Schema, Table

if TYPE_CHECKING:
    import pyarrow as pa

    from headwater.destinations.lake.client import LakeClient


class LakeMergePlanner:
    """The merge of a merge root table and its children into a table format, planned in an in-memory
    DuckDB and written through the client's hooks (see the module docstring)."""

    def __init__(
        self, client: LakeClient, schema: Schema, root: Table, package: LoadPackage, properties: dict[str, str]
    ) -> None:
        self.client = client
        self.schema = schema
        self.root = root
        self.package = package
        self.properties = properties
        self.children = schema.children_of(root.name)
        self.pk = root.primary_key
        strategy = root.merge_strategy or "delete-insert"
        name = client.capabilities.name
        if strategy not in ("delete-insert", "upsert"):
            raise ConfigError(
                f"table {root.name!r}: merge strategy {strategy!r} is not supported on {name}",
                hint="use delete-insert or upsert (by primary key) here, or load into DuckDB or PostgreSQL",
            )
        if root.merge_key:
            raise ConfigError(
                f"table {root.name!r}: merge_key (partition replacement) is not supported on {name}",
                hint="merge by primary key here, or use write_disposition='replace'",
            )
        if not self.pk:
            raise ConfigError(
                f"table {root.name!r}: a merge into {name} needs a primary key",
                hint="give the resource primary_key=...",
            )
        self.upsert = strategy == "upsert"

    def _q(self, name: str) -> str:
        return names.quote_identifier(name)

    def run(self) -> dict[str, int]:
        """Merge the staged package rows into the root table and its child tables; return the rows written per table."""
        import duckdb
        import pyarrow as pa

        load_id = self.properties[LOAD_ID_PROPERTY]
        schemas = {t.name: self.client.prepare(t) for t in [self.root, *self.children]}
        con = duckdb.connect()
        try:
            staged = read_package_table(self.package, self.root.name, schemas[self.root.name])
            staged = staged.append_column(SEQ, pa.array(range(staged.num_rows), pa.int64()))
            con.register("staged", staged)
            order = dedup_order(self.root, self._q)
            partition = ", ".join(self._q(c) for c in self.pk)
            con.execute(
                "CREATE TABLE dedup AS SELECT * EXCLUDE (_hw_rn) FROM (SELECT *, row_number() OVER "
                f"(PARTITION BY {partition} ORDER BY {', '.join(order)}) AS _hw_rn FROM staged) WHERE _hw_rn = 1"
            )
            existing = self._existing(con)
            con.register("existing", existing)
            match = " AND ".join(f"s.{self._q(c)} = t.{self._q(c)}" for c in self.pk)
            con.execute(
                f"CREATE TABLE pairs AS SELECT s.{ROW_ID} AS new_id, t.{ROW_ID} AS old_id "
                f"FROM dedup s JOIN existing t ON {match}"
            )
            old_ids = _column(con, "SELECT DISTINCT old_id FROM pairs")
            # one old id per new row: a key the target holds twice (appended before it was merged)
            # must not duplicate the row that replaces both
            con.execute("CREATE TABLE matched AS SELECT new_id, min(old_id) AS old_id FROM pairs GROUP BY new_id")
            deleted = self._deleted()
            con.execute(f"CREATE TABLE kept AS SELECT * FROM dedup s WHERE NOT {deleted}")
            out: dict[str, int] = {}
            for child in self.children:
                if load_id in self.client.committed_load_ids(child.name):
                    continue
                rows = read_package_table(self.package, child.name, schemas[child.name])
                con.register("child_rows", rows)
                cols = []
                for c in schemas[child.name].names:
                    ref = f"c.{self._q(c)}"
                    if self.upsert and c == ROOT_ID:
                        ref = f"COALESCE(m.old_id, c.{ROOT_ID}) AS {ROOT_ID}"
                    elif self.upsert and c == PARENT_ID:
                        ref = (
                            f"CASE WHEN c.{PARENT_ID} = c.{ROOT_ID} THEN COALESCE(m.old_id, c.{PARENT_ID}) "
                            f"ELSE c.{PARENT_ID} END AS {PARENT_ID}"
                        )
                    cols.append(ref)
                insert = _arrow(
                    con,
                    f"SELECT {', '.join(cols)} FROM child_rows c LEFT JOIN matched m ON m.new_id = c.{ROOT_ID} "
                    f"WHERE c.{ROOT_ID} IN (SELECT {ROW_ID} FROM kept)",
                ).cast(schemas[child.name])
                con.unregister("child_rows")
                self.client.write(
                    child.name,
                    [insert],
                    schemas[child.name],
                    mode="merge",
                    delete=Delete(ROOT_ID, old_ids),
                    properties=self.properties,
                )
                out[child.name] = insert.num_rows
            root_cols = ", ".join(
                f"COALESCE(m.old_id, s.{ROW_ID}) AS {ROW_ID}" if self.upsert and c == ROW_ID else f"s.{self._q(c)}"
                for c in schemas[self.root.name].names
            )
            insert = _arrow(
                con, f"SELECT {root_cols} FROM kept s LEFT JOIN matched m ON m.new_id = s.{ROW_ID} ORDER BY s.{SEQ}"
            ).cast(schemas[self.root.name])
            if load_id not in self.client.committed_load_ids(self.root.name):
                self.client.write(
                    self.root.name,
                    [insert],
                    schemas[self.root.name],
                    mode="merge",
                    delete=Delete(ROW_ID, old_ids),
                    properties=self.properties,
                )
            out[self.root.name] = insert.num_rows
            return out
        finally:
            con.close()

    def _existing(self, con: Any) -> pa.Table:
        """The target's primary keys and row ids for the keys in the load (empty for a new table)."""
        cols = [*self.pk, ROW_ID]
        if self.root.name not in self.client.table_names():
            return _arrow(con, f"SELECT {', '.join(self._q(c) for c in cols)} FROM dedup WHERE FALSE")
        first = _column(con, f"SELECT DISTINCT {self._q(self.pk[0])} FROM dedup")
        return self.client.scan(self.root.name, cols, Delete(self.pk[0], first))

    def _deleted(self) -> str:
        column = self.root.hard_delete_column
        if not column:
            return "FALSE"
        ref = f"s.{self._q(column)}"
        return f"COALESCE({ref}, FALSE)" if self.root.columns[column].data_type == "bool" else f"({ref} IS NOT NULL)"


def _arrow(con: Any, sql: str) -> pa.Table:
    return arrow_table(con.sql(sql))


def _column(con: Any, sql: str) -> pa.Array:
    table = _arrow(con, sql)
    column = table.column(0)
    return column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
