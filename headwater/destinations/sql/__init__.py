"""What SQL destinations share (DuckDB and PostgreSQL): the one-transaction load and the merge SQL.

* :mod:`~headwater.destinations.sql.client`: :class:`SqlClient`, the base class: hooks for the
  connection, the system tables and the state, the load algorithm;
* :mod:`~headwater.destinations.sql.migrate`: create tables and columns, widen columns;
* :mod:`~headwater.destinations.sql.merge`: :class:`SqlMerge`, delete-insert, upsert and scd2
  through staging tables;
* :mod:`~headwater.destinations.sql.types`: SQL type spellings and the Headwater types they store.
"""

from __future__ import annotations

from headwater.destinations.sql.client import KEEP_STATE_VERSIONS, SqlClient
from headwater.destinations.sql.merge import SqlMerge

__all__ = ["KEEP_STATE_VERSIONS", "SqlClient", "SqlMerge"]
