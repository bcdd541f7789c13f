"""DuckDB: the embedded default destination.

``destination="duckdb"`` writes ``./<pipeline name>.duckdb``; ``duckdb:///abs/path.duckdb`` or
``duckdb:relative/path.duckdb`` pick a file; ``hw.destinations.duckdb(path, connection=..., config=...)``
builds one in code. The dataset is a DuckDB schema. Tables are loaded straight from the package's
memory-mapped Arrow files (``INSERT ... BY NAME SELECT * FROM <record batches>``), inside one
transaction with the load record and the schema version.
"""

from __future__ import annotations

from headwater._callable_module import make_callable
from headwater.destinations.duckdb.destination import DuckDBClient, DuckDBDestination

__all__ = ["DuckDBClient", "DuckDBDestination"]


make_callable(__name__, DuckDBDestination)  # hw.<package>(...) calls DuckDBDestination
