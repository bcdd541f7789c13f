"""The SQL database source: tables and queries of any SQLAlchemy database as typed Arrow streams.

``hw.sources.sql_database(credentials, tables=None, schema=None, query=None, ...)`` returns a source
with one stream per table, reflected (column types, nullability, primary keys), read in chunks of
Arrow tables, through ADBC when the driver is installed (PostgreSQL, SQLite) and SQLAlchemy
otherwise, incrementally (the cursor is pushed into the SQL) and in parallel key ranges. See
:mod:`headwater.sources.sql_database.source` and docs/sql-database.md. Needs the ``sql`` extra
(``pip install 'headwater[sql]'``; ``'headwater[sql-fast]'`` adds the ADBC drivers).
"""

from __future__ import annotations

import sys
import types
from collections.abc import Mapping, Sequence
from typing import Any

from headwater.sources.sql_database.connection import import_sqlalchemy

import_sqlalchemy()  # a clear error with the install hint when SQLAlchemy is missing

from headwater.cursors.cursor import Incremental  # noqa: E402
from headwater.sources.sql_database.reflect import ColumnSpec, TableSpec  # noqa: E402
from headwater.sources.sql_database.source import SQLDatabaseSource, sql_database  # noqa: E402
from headwater.sources.sql_database.streams import SQLResource  # noqa: E402
from headwater.sources.sql_database.typemap import headwater_type  # noqa: E402

__all__ = ["ColumnSpec", "SQLDatabaseSource", "SQLResource", "TableSpec", "headwater_type", "sql_database"]


class _CallableModule(types.ModuleType):
    """Lets ``hw.sources.sql_database(url)`` build a source although ``sql_database`` is also this
    package's name (importing a subpackage rebinds the parent's attribute to the module)."""

    def __call__(
        self,
        credentials: Any,
        tables: Sequence[str] | None = None,
        schema: str | None = None,
        query: str | Mapping[str, str] | None = None,
        *,
        name: str = "sql_database",
        chunk_size: int = 50_000,
        backend: str = "auto",
        incremental: Mapping[str, Incremental] | None = None,
        table_hints: Mapping[str, Mapping[str, Any]] | None = None,
        partition: Mapping[str, Mapping[str, Any] | str] | None = None,
    ) -> SQLDatabaseSource:
        return sql_database(
            credentials,
            tables,
            schema,
            query,
            name=name,
            chunk_size=chunk_size,
            backend=backend,
            incremental=incremental,
            table_hints=table_hints,
            partition=partition,
        )


sys.modules[__name__].__class__ = _CallableModule
