"""The tables of a lake load as they would be after it, before anything is committed (for table checks).

Iceberg, Delta and plain files commit table by table, so their table checks cannot run inside a
transaction: they run before the first commit, with DuckDB, over each checked table as the load would
leave it, built from the committed table and the package's rows:

* ``replace`` (or a table that does not exist yet): the package's rows;
* ``append``: the committed rows and the package's;
* ``merge`` (``delete-insert``, ``upsert``): the committed rows whose key the package does not hold,
  and the package's rows (one per key; rows marked by the ``hard_delete`` column left out);
* ``scd2``: the committed rows (every version) and the package's;
* a table whose commit already carries the load (a rerun after a crash mid-load): the committed rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from headwater import names
from headwater.destinations.lake.arrow import read_package_table

if TYPE_CHECKING:
    from headwater.destinations.lake.client import LakeClient
    from headwater.packages.package import LoadPackage
    from headwater.schema.model import Schema


class StagedTables:
    """A DuckDB connection where each checked table is a view of itself after the load."""

    def __init__(self, client: LakeClient, package: LoadPackage, schema: Schema) -> None:
        import duckdb

        self.client, self.package, self.schema = client, package, schema
        self.con = duckdb.connect()
        self._existing = set(client.table_names())
        self._views = 0

    def source(self, table: str) -> str | None:
        """SQL selecting ``table`` as the load would leave it (None: it would not exist)."""
        spec = self.schema.tables.get(table)
        existing = table in self._existing
        done = existing and self.package.load_id in self.client.committed_load_ids(table)
        if spec is None or done:  # done: a rerun after a crash, this table already holds the load's rows
            return None if not existing else self._register(self.client.reader(table))
        new = self._register(read_package_table(self.package, table, self.client.arrow_schema(spec)))
        if not existing or table in self.package.manifest.replace_tables:
            return new
        old = self._register(self.client.reader(table))
        if spec.write_disposition != "merge" or spec.merge_strategy == "scd2":
            return f"{old} UNION ALL BY NAME {new}"
        keys = list(spec.merge_key) or spec.primary_key
        hard = next((c.name for c in spec.columns.values() if c.hard_delete), None)
        quoted = ", ".join(names.quote_identifier(k) for k in keys)
        fresh = f"SELECT * FROM ({new}) AS n"
        if spec.primary_key:
            pk = ", ".join(names.quote_identifier(k) for k in spec.primary_key)
            fresh += f" QUALIFY row_number() OVER (PARTITION BY {pk}) = 1"
        if hard is not None:
            fresh = f"SELECT * FROM ({fresh}) AS f WHERE {names.quote_identifier(hard)} IS NOT TRUE"
        kept = f"SELECT * FROM ({old}) AS o WHERE ({quoted}) NOT IN (SELECT ({quoted}) FROM ({new}) AS k)"
        return f"{kept} UNION ALL BY NAME {fresh}"

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Run SQL on the staged views."""
        return self.con.execute(sql).fetchall()

    def close(self) -> None:
        """Release the connection and the views."""
        self.con.close()

    def _register(self, data: Any) -> str:
        self._views += 1
        view = f"hw_staged_{self._views}"
        self.con.register(view, data)
        return f"SELECT * FROM {view}"
