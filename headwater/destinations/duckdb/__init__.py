"""DuckDB: the embedded default destination.

``destination="duckdb"`` writes ``./<pipeline name>.duckdb``; ``duckdb:///abs/path.duckdb`` or
``duckdb:relative/path.duckdb`` pick a file; ``hw.destinations.duckdb(path, connection=..., config=...)``
builds one in code. The dataset is a DuckDB schema. Tables are loaded straight from the package's
memory-mapped Arrow files (``INSERT ... BY NAME SELECT * FROM <record batches>``), inside one
transaction with the load record and the schema version.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from headwater.destinations.duckdb.destination import DuckDBClient, DuckDBDestination

__all__ = ["DuckDBClient", "DuckDBDestination"]


class _CallableModule(types.ModuleType):
    """Lets ``hw.destinations.duckdb("x.duckdb")`` build a destination although ``duckdb`` is also
    this package's name (importing a subpackage rebinds the parent's attribute to the module)."""

    def __call__(
        self, path: str | None = None, *, connection: Any = None, config: dict[str, Any] | None = None
    ) -> DuckDBDestination:
        return DuckDBDestination(path, connection=connection, config=config)


sys.modules[__name__].__class__ = _CallableModule
