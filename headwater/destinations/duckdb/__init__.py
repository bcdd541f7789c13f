"""DuckDB: the embedded default destination.

``destination="duckdb"`` writes ``./<pipeline name>.duckdb``; ``duckdb:///abs/path.duckdb`` or
``duckdb:relative/path.duckdb`` pick a file; :class:`DuckDBDestination` also takes an open
connection. The dataset is a DuckDB schema. Tables are loaded straight from the package's Parquet
files (``INSERT ... BY NAME SELECT * FROM read_parquet(...)``), inside one transaction with the load
record and the schema version.
"""

from __future__ import annotations

from headwater.destinations.duckdb.destination import DuckDBClient, DuckDBDestination

__all__ = ["DuckDBClient", "DuckDBDestination"]
