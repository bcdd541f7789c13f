"""The DuckDB destination and its client."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from headwater import names
from headwater.destinations.common import arrow_table, numbered
from headwater.destinations.kept import Parking
from headwater.destinations.protocol import Capabilities, LoadResult
from headwater.destinations.sql import SqlClient
from headwater.errors import ConfigError, DestinationError
from headwater.packages.files import read_runs
from headwater.packages.package import LoadPackage
from headwater.schema.model import Schema, Table

CAPABILITIES = Capabilities(name="duckdb", transactional=True, sql_models=True, run_history=True)

# Settings of the connections Headwater opens itself (never of a connection passed in):
# - DuckDB keeps the blocks a load writes in its buffer pool up to its memory limit (80% of RAM by
#   default), so a loader left at the default grows with the size of the load; 128MB caps it
#   (DuckDB spills beyond it). A load that needs more (huge values) runs out of memory; it is then
#   rolled back and run again once with DuckDB's default limit, from the package, logged;
# - not preserving insertion order lets DuckDB insert with less memory and about 30% faster;
#   row order in SQL tables is not guaranteed anyway (lists keep their order in _hw_list_idx).
# Pass config={...} to the destination to change either.
DEFAULT_CONFIG = {"memory_limit": "128MB", "preserve_insertion_order": "false"}

log = logging.getLogger("headwater")

_TYPES = {
    "bigint": "BIGINT",
    "double": "DOUBLE",
    "bool": "BOOLEAN",
    "text": "VARCHAR",
    "timestamp": "TIMESTAMP WITH TIME ZONE",
    "date": "DATE",
    "time": "TIME",
    "binary": "BLOB",
    "uuid": "UUID",
    "json": "JSON",
}


class DuckDBDestination:
    """A DuckDB database file (or an open connection).

    Args:
        path: the database file; default ``<pipeline name>.duckdb`` in the current folder.
        connection: an open ``duckdb`` connection to use instead of a file (it is not closed).
        config: DuckDB settings passed to ``duckdb.connect`` (``{"memory_limit": "4GB"}``).
    """

    name = "duckdb"
    capabilities = CAPABILITIES

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        connection: Any = None,
        config: dict[str, Any] | None = None,
    ) -> None:
        if path is not None and connection is not None:
            raise ConfigError("give the DuckDB destination a path or a connection, not both")
        self.path = Path(path) if path is not None and str(path) != ":memory:" else None
        self.memory = path is not None and str(path) == ":memory:"
        self.connection = connection
        self.config = {**DEFAULT_CONFIG, **(config or {})}
        self._parking = Parking()

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_parking"}  # a lock and a connection stay here

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._parking = Parking()

    def keep_connections(self) -> contextlib.AbstractContextManager[None]:
        """Inside the block, a connection a client closes stays open for a moment for the next client (see
        :mod:`headwater.destinations.kept`); all are closed when the block ends."""
        return self._parking.keeping()

    @classmethod
    def from_uri(cls, uri: str) -> DuckDBDestination:
        """``duckdb:///abs/file.duckdb``, ``duckdb:rel/file.duckdb`` or ``duckdb:///:memory:``."""
        rest = uri[len("duckdb:") :]
        if rest.startswith("//"):
            rest = rest[2:]
            if rest.startswith("//"):  # SQLAlchemy spelling of an absolute path: duckdb:////abs
                rest = rest[1:]
        if rest in ("/:memory:", ":memory:"):
            return cls(":memory:")
        if not rest or rest == "/":
            raise ConfigError(f"the DuckDB URI {uri!r} names no file", hint="e.g. duckdb:///data/warehouse.duckdb")
        return cls(rest)

    def for_pipeline(self, pipeline_name: str) -> DuckDBDestination:
        """This destination, or one on the file ``<pipeline_name>.duckdb`` when no path, connection or memory
        was given."""
        if self.path is None and self.connection is None and not self.memory:
            clone = DuckDBDestination(f"{pipeline_name}.duckdb", config=self.config)
            return clone
        return self

    def read_only(self) -> DuckDBDestination | None:
        """This destination opening its file read-only (``access_mode: READ_ONLY``), for a dry run.

        None when the file does not exist yet: there is nothing to read, and opening it would create
        it. A connection passed in and ``:memory:`` are returned as they are (reads change nothing).
        """
        if self.connection is not None or self.memory:
            return self
        if self.path is None or not self.path.exists():
            return None
        return DuckDBDestination(self.path, config={**self.config, "access_mode": "READ_ONLY"})

    def catalog_name(self) -> str | None:
        """The catalog DuckDB names after the file (``o'brien.duckdb`` -> ``o'brien``), ``memory``
        for ``:memory:``; None for a connection passed in (unknown before connecting)."""
        if self.connection is not None:
            return None
        if self.memory:
            return "memory"
        return self.path.stem if self.path is not None else None

    def to_uri(self) -> str | None:
        """A URI that reopens this destination (None for a connection passed in)."""
        if self.connection is not None:
            return None
        if self.memory:
            return "duckdb:///:memory:"
        return f"duckdb://{self.path.resolve()}" if self.path is not None else None

    def describe(self) -> str:
        """Where the data goes, for humans: the database file, ``:memory:`` or ``connection``."""
        if self.connection is not None:
            return "duckdb (connection)"
        if self.memory:
            return "duckdb (:memory:)"
        return f"duckdb ({self.path.resolve() if self.path else '?'})"

    def client(self, dataset: str) -> DuckDBClient:
        """Open a client on ``dataset``."""
        return DuckDBClient(self, dataset)

    def connect(self) -> tuple[Any, bool]:
        """An open connection and whether the client owns (closes) it."""
        import duckdb

        if self.connection is not None:
            return self.connection.cursor(), True
        kept = self._parking.take()
        if kept is not None:
            return _reset(kept, self.config), True
        target = ":memory:" if self.memory else str(self.path)
        if self.path is not None and str(self.config.get("access_mode", "")).upper() != "READ_ONLY":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            try:
                return duckdb.connect(target, config=self.config), True
            except duckdb.ConnectionException as exc:
                if "different configuration" not in str(exc):
                    raise
                # this process already has the file open with other settings: share them
                return duckdb.connect(target), True
        except duckdb.IOException as exc:
            raise DestinationError(
                f"cannot open the DuckDB file {target}: {exc}",
                hint="another process may hold it open (DuckDB allows one writer); close it and retry",
            ) from exc
        except duckdb.Error as exc:
            raise DestinationError(f"cannot open the DuckDB file {target}: {exc}") from exc

    def __repr__(self) -> str:
        return f"<DuckDBDestination {self.describe()}>"


class DuckDBClient(SqlClient):
    """A connection to one dataset (a DuckDB schema)."""

    capabilities = CAPABILITIES
    type_map = _TYPES

    def __init__(self, destination: DuckDBDestination, dataset: str) -> None:
        super().__init__(dataset)
        self.destination = destination
        self.con, self._owned = destination.connect()
        self._lock = threading.Lock()
        self._limit_raised = False
        # only connections Headwater opened itself carry its settings; a connection passed in is the user's
        self._ours = destination.connection is None
        self.catalog = self.execute("SELECT current_database()")[0][0]

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run one statement and return its rows.

        Raises:
            DestinationError: DuckDB failed.
        """
        import duckdb

        with self._lock:
            try:
                self.con.execute(sql, params) if params is not None else self.con.execute(sql)
                return self.con.fetchall()
            except duckdb.Error as exc:
                raise DestinationError(f"DuckDB failed: {exc}", hint=None, statement=sql[:200]) from exc

    def load(self, package: LoadPackage, schema: Schema) -> LoadResult:
        """Load a package atomically; if DuckDB runs out of memory on a connection the client opened (under
        Headwater's memory limit), once more with DuckDB's default limit."""
        try:
            return super().load(package, schema)
        except DestinationError as exc:
            if self._limit_raised or not self._ours or not _out_of_memory(exc):
                raise
        # rolled back: run the whole load again with DuckDB's default limit (80% of RAM)
        log.warning(
            "loading %s ran out of DuckDB memory (limit %s); retrying once with DuckDB's default limit",
            package.load_id,
            self.destination.config.get("memory_limit"),
        )
        self._limit_raised = True
        self.execute("RESET memory_limit")
        result = super().load(package, schema)
        # write the WAL out now, under the raised limit: the next commit (the run's _hw_runs row) or the
        # next open (replaying the WAL) would otherwise checkpoint these big rows under the loader's cap
        self.execute("CHECKPOINT")
        return result

    def begin(self) -> None:
        """Begin a transaction."""
        self.execute("BEGIN TRANSACTION")

    def commit(self) -> None:
        """Commit the transaction."""
        self.execute("COMMIT")

    def rollback(self) -> None:
        """Roll the transaction back."""
        self.execute("ROLLBACK")

    def close(self) -> None:
        """Close the connection if the client opened it (a connection passed in stays open)."""
        if self._owned:
            if self._ours and not self.destination.memory and self.destination._parking.park(self.con):
                return
            try:
                self.con.close()
            except Exception:
                pass

    def read_columns(self) -> dict[str, dict[str, str]]:
        """``{table: {column: sql type}}`` for the tables of the dataset, read from ``duckdb_columns()``."""
        rows = self.execute(
            "SELECT table_name, column_name, data_type FROM duckdb_columns() "
            # DuckDB matches schema names ignoring case: "Raw" is the schema "raw" made earlier
            "WHERE database_name = ? AND lower(schema_name) = lower(?) ORDER BY table_name, column_index",
            [self.catalog, self.dataset],
        )
        out: dict[str, dict[str, str]] = {}
        for table, column, data_type in rows:
            out.setdefault(table, {})[column] = data_type
        return out

    def insert_files(
        self, table: Table, files: list[Path], *, target: str | None = None, with_seq: bool = False
    ) -> int:
        """Insert the package files of ``table`` by column name, a statement per run of files with one
        schema (:func:`~headwater.packages.files.read_runs`); return the rows inserted."""
        total = 0
        into = self.qualified(table.name) if target is None else self.quote(target)
        seq = [0]
        for batches in read_runs(files):
            if with_seq:
                batches = numbered(batches, seq)
            self.con.register("_hw_package_file", batches)
            try:
                rows = self.execute(f"INSERT INTO {into} BY NAME SELECT * FROM _hw_package_file")
            finally:
                with contextlib.suppress(Exception):  # an aborted transaction refuses it; the cause matters
                    self.con.unregister("_hw_package_file")
            total += int(rows[0][0]) if rows else 0
        return total

    def record_run(self, row: dict[str, Any]) -> None:
        """Append a run's row to ``_hw_runs`` under DuckDB's own memory limit: the loader's cap is for loads,
        and the connection this row goes through is the run's last, whose closing checkpoint writes the
        run's data (a large load's, too)."""
        if self._ours:
            self.execute("RESET memory_limit")
        super().record_run(row)

    def use_dataset(self) -> None:
        """Unqualified names resolve to the dataset's tables; DuckDB's own memory limit (the loader's cap
        is not for SQL models)."""
        if self._ours:
            self.execute("RESET memory_limit")
        path = f"{names.quote_identifier(self.catalog or 'memory')}.{names.quote_identifier(self.dataset)}"
        self.execute(f"SET search_path = {names.quote_literal(path)}")

    def replace_table_as(self, table: str, sql: str) -> None:
        """Make ``table`` the result of the query ``sql`` (``CREATE OR REPLACE TABLE ... AS``)."""
        self.execute(f"CREATE OR REPLACE TABLE {self.qualified(table)} AS {sql}\n")

    def query_arrow(self, sql: str) -> Any:
        """Run a query and return an Arrow table (used by tools and tests)."""
        if self._ours:
            self.execute("RESET memory_limit")  # the loader's cap is not for queries
        # catalog and dataset are identifiers inside a string literal: quoted, then escaped
        path = f"{names.quote_identifier(self.catalog or 'memory')}.{names.quote_identifier(self.dataset)}"
        self.execute(f"SET search_path = {names.quote_literal(path)}")
        import duckdb

        with self._lock:
            try:
                return arrow_table(self.con.sql(sql))
            except duckdb.Error as exc:
                raise DestinationError(f"DuckDB failed: {exc}", statement=sql[:200]) from exc


def _out_of_memory(exc: BaseException) -> bool:
    """Whether DuckDB's out-of-memory error is somewhere in the chain of ``exc``."""
    seen: BaseException | None = exc
    while seen is not None:
        if type(seen).__name__ == "OutOfMemoryException":
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _reset(con: Any, config: dict[str, Any]) -> Any:
    """A parked connection with the settings of a new one (a client may have changed them for queries)."""
    con.execute("RESET search_path")
    if config.get("memory_limit") is not None:
        con.execute(f"SET memory_limit = {names.quote_literal(str(config['memory_limit']))}")
    return con
