"""The SQL database source: tables and queries of any SQLAlchemy database as typed Arrow streams.

``hw.sources.sql_database(credentials, tables=None, schema=None, query=None, ...)`` returns a source
with one stream per table, reflected (column types, nullability, primary keys), read in chunks of
Arrow tables, through ADBC when the driver is installed (PostgreSQL, SQLite) and SQLAlchemy
otherwise, incrementally (the cursor is pushed into the SQL) and in parallel key ranges. See
:mod:`headwater.sources.sql_database.source` and docs/sql-database.md. Needs the ``sql`` extra
(``pip install 'headwater[sql]'``; ``'headwater[sql-fast]'`` adds the ADBC drivers).
"""

from __future__ import annotations

from headwater._callable_module import make_callable
from headwater.optional import require

# a clear error with the install hint when SQLAlchemy is missing
require(
    "sqlalchemy",
    "the sql_database source",
    extra="sql",
    package="SQLAlchemy",
    also="or 'headwater[sql-fast]' for the ADBC drivers",
)

from headwater.sources.sql_database.reflect import ColumnSpec, TableSpec  # noqa: E402
from headwater.sources.sql_database.source import SQLDatabaseSource, sql_database  # noqa: E402
from headwater.sources.sql_database.streams import SQLResource  # noqa: E402
from headwater.sources.sql_database.typemap import headwater_type  # noqa: E402

__all__ = ["ColumnSpec", "SQLDatabaseSource", "SQLResource", "TableSpec", "headwater_type", "sql_database"]


make_callable(__name__, sql_database)  # hw.<package>(...) calls sql_database
