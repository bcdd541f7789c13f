"""Reading what landed: ``pipeline.dataset()``, on every destination.

::

    ds = pipeline.dataset()
    ds.tables()                      # ['events', 'events__labels']
    ds.table("events").arrow()       # also .df(), .pl(), .relation(), .count(), .columns
    ds.query("SELECT count(*) FROM events")
    ds.ibis()                        # an Ibis backend on the dataset

Reading never writes: every client is opened as a dry run opens it (:class:`ReadOnlyDestination`: a
DuckDB file read-only and never created, PostgreSQL in read-only sessions). Table names are checked
against the dataset's tables and quoted in SQL. ``ibis()`` connects Ibis to the destination itself
(DuckDB, PostgreSQL, with the dataset's schema selected); the table formats and files get an in-memory
DuckDB backend whose views read their data: plain Parquet files through DuckDB's own reader, Delta
tables as pyarrow datasets (scanned lazily), Iceberg tables read into Arrow through pyiceberg (DuckDB's
``iceberg_scan`` and ``delta_scan`` need extensions that may not be installable).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from headwater import names
from headwater.errors import ConfigError, DestinationError, did_you_mean
from headwater.optional import require
from headwater.pipelines.plan import EmptyClient, ReadOnlyDestination
from headwater.redact import scrub_exception
from headwater.schema.system import SYSTEM_PREFIX

if TYPE_CHECKING:
    import pyarrow as pa

    from headwater.pipelines.pipeline import Pipeline


class Dataset:
    """The dataset a pipeline loads into, read back. Made by :meth:`Pipeline.dataset`."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.name = pipeline.dataset_name

    def __repr__(self) -> str:
        return f"<Dataset {self.name!r} of {self.pipeline.destination.describe()}>"

    def _client(self) -> Any:
        # made anew each time: a DuckDB file that did not exist a moment ago may exist now
        return ReadOnlyDestination(self.pipeline.destination).client(self.name)

    def tables(self, *, system: bool = False) -> list[str]:
        """The dataset's tables, sorted: root and child tables; Headwater's own (``_hw_loads``...) only
        with ``system=True``."""
        with self._client() as client:
            found = _table_names(client)
        return sorted(t for t in found if system or not t.startswith(SYSTEM_PREFIX))

    def table(self, name: str) -> TableRef:
        """Table ``name`` of the dataset (system tables too), to read.

        Raises:
            ConfigError: the dataset has no such table (with the closest name).
        """
        known = self.tables(system=True)
        if name not in known:
            data = [t for t in known if not t.startswith(SYSTEM_PREFIX)]
            raise ConfigError(
                f"dataset {self.name!r} has no table {name!r}", hint=did_you_mean(name, data, listing="tables")
            )
        return TableRef(self, name)

    def query(self, sql: str) -> pa.Table:
        """Run SQL on the dataset and return an Arrow table; unqualified names are the dataset's tables
        (DuckDB's SQL on DuckDB, the files and table formats; PostgreSQL's on PostgreSQL).

        Raises:
            DestinationError: the destination refused the query, or holds nothing yet.
        """
        with self._client() as client:
            return client.query_arrow(sql)

    def ibis(self, *, read_only: bool = True) -> Any:
        """An Ibis backend connected to the destination, the dataset's schema selected.

        DuckDB: the file, the dataset the current schema (call the backend's ``disconnect()`` before
        loading into the file again in the same process: DuckDB opens a file either read-only or
        read-write in a process); PostgreSQL: a session whose ``search_path`` is the dataset; Iceberg,
        Delta and files: an in-memory DuckDB with one view per table (system tables included) reading
        the table's data (see the module docstring).

        Args:
            read_only: open the DuckDB file read-only and PostgreSQL sessions read-only (default). Ibis
                keeps ``ibis.memtable`` data in temporary tables on PostgreSQL, which a read-only
                session refuses: pass False to join local data there.

        Raises:
            ConfigError: Ibis is not installed (``pip install 'headwater[ibis]'``).
            DestinationError: the destination holds nothing yet, or cannot be reached.
        """
        ibis = require("ibis", "pipeline.dataset().ibis()", extra="ibis", package="ibis-framework")
        real = self.pipeline.destination
        reading = ReadOnlyDestination(real).inner
        if reading is None:
            raise DestinationError(f"{real.describe()} does not exist yet; nothing to read", hint="run the pipeline")
        if real.name == "duckdb":
            return _duckdb_backend(ibis, reading if read_only else real, self.name)
        if real.name == "postgres":
            return _postgres_backend(ibis, real, self.name, read_only=read_only)
        return _lake_backend(ibis, self)


class TableRef:
    """One table of a dataset, read on demand (every call reads the table as it is then)."""

    def __init__(self, dataset: Dataset, name: str) -> None:
        self.dataset = dataset
        self.name = name

    def __repr__(self) -> str:
        return f"<TableRef {self.name!r} of dataset {self.dataset.name!r}>"

    def _select(self, what: str) -> pa.Table:
        return self.dataset.query(f"SELECT {what} FROM {names.quote_identifier(self.name)}")

    def arrow(self) -> pa.Table:
        """The table's rows as a ``pyarrow.Table``."""
        return self._select("*")

    def df(self) -> Any:
        """The table's rows as a pandas DataFrame."""
        require("pandas", "TableRef.df()", extra="pandas")
        return self.arrow().to_pandas()

    def pl(self) -> Any:
        """The table's rows as a polars DataFrame."""
        polars = require("polars", "TableRef.pl()", extra="polars")
        return polars.from_arrow(self.arrow())

    def relation(self) -> Any:
        """The table as a DuckDB relation on a connection of its own. On files and table formats it reads
        the data as ``ibis()`` does (Parquet files through DuckDB's reader, Delta lazily); on DuckDB and
        PostgreSQL it holds the rows read now, in memory (no database stays open: a later load is not
        blocked)."""
        import duckdb

        con = duckdb.connect()
        if self.dataset.pipeline.destination.name in ("duckdb", "postgres"):
            return con.from_arrow(self.arrow())
        with self.dataset._client() as client:
            _view(con, client, self.name)
        return con.table(names.quote_identifier(self.name))

    def count(self) -> int:
        """The number of rows."""
        return int(self._select("count(*)").column(0)[0].as_py())

    @property
    def columns(self) -> list[str]:
        """The table's column names, in order."""
        return list(self.dataset.query(f"SELECT * FROM {names.quote_identifier(self.name)} LIMIT 0").schema.names)


def _table_names(client: Any) -> list[str]:
    """The tables a client sees (system tables included)."""
    if isinstance(client, EmptyClient):
        return []
    lister = getattr(client, "table_names", None)  # the lake destinations
    if callable(lister):
        return list(lister())
    existing = getattr(client, "existing_columns", None)  # the SQL destinations
    if callable(existing):
        return list(existing())
    return list(client.stored_tables().columns)


# -- Ibis backends -------------------------------------------------------------------------------------


def _duckdb_compat() -> None:
    """Ibis (12 and older) reads results with the DB-API names DuckDB 2 dropped: give them back."""
    import duckdb

    connection: Any = duckdb.DuckDBPyConnection
    if hasattr(connection, "fetch_arrow_table"):
        return

    def fetch_arrow_table(self: Any) -> Any:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Arrow output on a DB-API result")
            return self.to_arrow_table()

    def fetch_record_batch(self: Any, rows_per_batch: int = 1_000_000) -> Any:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Arrow output on a DB-API result")
            return self.to_arrow_reader(rows_per_batch)

    connection.fetch_arrow_table = fetch_arrow_table
    connection.fetch_record_batch = fetch_record_batch


def _duckdb_backend(ibis: Any, destination: Any, dataset: str) -> Any:
    """Ibis on the DuckDB file, opened read-only, ``USE catalog.dataset``."""
    _duckdb_compat()
    con, _owned = destination.connect()
    if destination.connection is None:
        con.execute("RESET memory_limit")  # the loader's cap is not for queries
    catalog = con.execute("SELECT current_database()").fetchall()[0][0]
    con.execute(f"USE {names.quote_identifier(catalog)}.{names.quote_identifier(dataset)}")
    return ibis.duckdb.from_connection(con)


def _postgres_backend(ibis: Any, destination: Any, dataset: str, *, read_only: bool) -> Any:
    """Ibis on PostgreSQL: a session (read-only if asked) whose ``search_path`` is the dataset."""
    psycopg = require("psycopg", "pipeline.dataset().ibis()", extra="ibis", package="psycopg")
    try:
        con = psycopg.connect(destination.url, autocommit=True)
    except Exception as exc:
        scrub_exception(exc)  # the driver may echo the connection string: keep the password out of tracebacks
        raise DestinationError(f"cannot connect to {destination.describe()}: {type(exc).__name__}") from exc
    from psycopg.types.string import TextLoader

    con.adapters.register_loader("uuid", TextLoader)  # Ibis reads uuid columns as strings, not UUID objects
    if read_only:
        con.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
    con.execute("SELECT set_config('search_path', %s, false)", (names.quote_identifier(dataset),))
    return ibis.postgres.from_connection(con)


def _lake_backend(ibis: Any, dataset: Dataset) -> Any:
    """An in-memory DuckDB backend with one view per table of a lake destination."""
    import duckdb

    _duckdb_compat()
    con = duckdb.connect()
    with dataset._client() as client:
        for name in _table_names(client):
            _view(con, client, name)
    return ibis.duckdb.from_connection(con)


def _view(con: Any, client: Any, name: str) -> None:
    """View ``name`` on DuckDB connection ``con``, reading table ``name`` of a lake ``client``: local
    Parquet files through DuckDB's reader, other tables through the client's reader (a lazy pyarrow
    dataset for Delta, an Arrow table for Iceberg and other files)."""
    files = getattr(client, "select_files", None)
    if callable(files) and not name.startswith(SYSTEM_PREFIX) and _local_parquet(client):
        con.execute(f"CREATE VIEW {names.quote_identifier(name)} AS {files(name)}")
    else:
        con.register(name, client.reader(name))


def _local_parquet(client: Any) -> bool:
    destination = getattr(client, "destination", None)
    return bool(getattr(destination, "is_local", False)) and getattr(destination, "format", None) == "parquet"
