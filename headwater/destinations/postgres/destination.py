"""The PostgreSQL destination and its client.

One ADBC connection (``adbc-driver-postgresql``) does everything, so a load is one transaction: DDL,
the data (binary ``COPY`` straight from the package's Arrow batches), merges through temporary
staging tables, ``_hw_loads``, ``_hw_schemas`` and ``_hw_state``.

Rules for what PostgreSQL cannot take as is:

* **identifiers** are limited to 63 bytes: a longer table or column name is shortened
  deterministically to its first bytes (whole characters), ``_`` and 8 hex characters of its SHA-1
  (``a_very_long_name...`` -> ``a_very_long_na_1f3a9c0d``); the schema keeps the full name;
* **NUL characters** cannot be stored in ``text``: a string holding one keeps its bytes in a binary
  (``bytea``) variant column, decided when the data is normalized (``text_holds_nul=False``);
* **JSON** columns are ``json``, which keeps the text exactly (``jsonb`` would turn ``-0.0`` into
  ``0.0``, ``1e308`` into 309 digits, and refuse ``\\u0000``); columns made ``jsonb`` by earlier
  versions or by others (system tables of older datasets too) are written as such.
  Text that would still hold NUL (never data: a quarantine reason, say) has it replaced by U+FFFD
  with a warning.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from headwater import names
from headwater._failpoints import failpoint
from headwater.destinations.common import numbered
from headwater.destinations.kept import Parking
from headwater.destinations.protocol import Capabilities
from headwater.destinations.sql import SqlClient
from headwater.errors import ConfigError, DestinationError
from headwater.normalize.pandas_gate import import_without_frames
from headwater.optional import require
from headwater.packages.files import read_file
from headwater.redact import redact_url, register_url, scrub_exception, strip_url
from headwater.schema.model import Table
from headwater.schema.types import DataType

log = logging.getLogger("headwater")

MAX_IDENTIFIER = 63
CAPABILITIES = Capabilities(
    name="postgres",
    transactional=True,
    max_identifier_length=MAX_IDENTIFIER,
    text_holds_nul=False,
    sql_models=True,
    run_history=True,
)
URL_ENV = "HEADWATER_POSTGRES_URL"
#: how long a run keeps a connection its client closed for its next client (the state read before the
#: extraction, then the load): no file lock to free here, so long enough for a small run's extraction
KEEP_SECONDS = 30.0

_TYPES = {
    "bigint": "BIGINT",
    "double": "DOUBLE PRECISION",
    "bool": "BOOLEAN",
    "text": "TEXT",
    "timestamp": "TIMESTAMP WITH TIME ZONE",
    "date": "DATE",
    "time": "TIME WITHOUT TIME ZONE",
    "binary": "BYTEA",
    "uuid": "UUID",
    "json": "JSON",  # exact text (jsonb normalizes numbers and refuses \u0000: see the module docs)
}
_DML = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b", re.I)
#: a quoted identifier, a string literal, or a ``?`` placeholder (only the last is rewritten)
_PLACEHOLDER = re.compile(r"\"(?:[^\"]|\"\")*\"|'(?:[^']|'')*'|\?")


def numbered_placeholders(sql: str) -> str:
    """``sql`` with each ``?`` placeholder as ``$1``, ``$2``...; a ``?`` inside a quoted identifier
    (a dataset or table name) or a string literal is left as it is."""
    counter = iter(range(1, sql.count("?") + 1))
    return _PLACEHOLDER.sub(lambda m: f"${next(counter)}" if m.group() == "?" else m.group(), sql)


def shorten(name: str, limit: int = MAX_IDENTIFIER) -> str:
    """``name``, or a deterministic shortening of it that fits in ``limit`` bytes (UTF-8)."""
    return names.shorten(name, limit)


def redact(url: str) -> str:
    """The URL as shown: ``***`` for its password and for secret parameters (``?password=...``)."""
    return redact_url(url)


def without_password(url: str) -> str:
    """The URL as written down: without its password and secret parameters (libpq then takes the
    password from PGPASSWORD or ~/.pgpass)."""
    return strip_url(url)


def import_adbc() -> Any:
    """The ADBC PostgreSQL driver's DB-API module, or a ConfigError saying how to install it."""
    return require(
        "adbc_driver_postgresql.dbapi",
        "the PostgreSQL destination",
        extra="postgres",
        package="adbc-driver-postgresql",
        importer=import_without_frames,
    )


class PostgresDestination:
    """A PostgreSQL database; the dataset is a schema in it.

    Args:
        url: ``postgresql://user:password@host:port/database`` (default: the ``HEADWATER_POSTGRES_URL``
            environment variable).
    """

    name = "postgres"
    capabilities = CAPABILITIES

    def __init__(self, url: str | None = None) -> None:
        url = url or os.environ.get(URL_ENV)
        if not url:
            raise ConfigError(
                "the PostgreSQL destination needs a URL",
                hint=f"pass destination='postgresql://user:password@host:5432/db' or set {URL_ENV}",
            )
        if not url.startswith(("postgresql://", "postgres://")):
            raise ConfigError(f"not a PostgreSQL URL: {redact(url)!r}", hint="postgresql://user:password@host/db")
        register_url(url)  # its password never shows, in any message or log record
        self.url = "postgresql://" + url.split("://", 1)[1]
        self._parking = Parking(KEEP_SECONDS)

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_parking"}  # a lock and a connection stay here

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._parking = Parking(KEEP_SECONDS)

    def keep_connections(self) -> contextlib.AbstractContextManager[None]:
        """Inside the block, a connection a client closes stays open for the run's next client (see
        :mod:`headwater.destinations.kept`; read-only sessions excepted); all are closed when it ends."""
        return self._parking.keeping()

    @classmethod
    def from_uri(cls, uri: str) -> PostgresDestination:
        """A destination on the PostgreSQL URL ``uri``."""
        return cls(uri)

    def for_pipeline(self, pipeline_name: str) -> PostgresDestination:
        """This destination: the URL names the database already."""
        return self

    #: clients open read-only sessions (a dry run): PostgreSQL refuses any write
    read_only_session = False

    def read_only(self) -> PostgresDestination:
        """This destination with read-only sessions (``SET SESSION CHARACTERISTICS AS TRANSACTION READ
        ONLY``), for a dry run."""
        clone = PostgresDestination(self.url)
        clone.read_only_session = True
        return clone

    def to_uri(self) -> str | None:
        """The URL without its password (it is written to the working folder): reopening the pipeline
        elsewhere (``hw.attach``, the CLI) takes the password from PGPASSWORD or ~/.pgpass, as libpq does."""
        return without_password(self.url)

    def describe(self) -> str:
        """Where the data goes, for humans: the URL without its password."""
        return f"postgres ({redact(self.url)})"

    def client(self, dataset: str) -> PostgresClient:
        """Open a client on ``dataset``."""
        return PostgresClient(self, dataset)

    def take_connection(self) -> Any:
        """A connection a client of this run closed a moment ago, if it still answers, else a new one."""
        con = self._parking.take()
        if con is not None:
            try:
                with contextlib.closing(con.cursor()) as cur:
                    cur.execute("SELECT 1")
                    cur.fetchall()
                return con
            except Exception:
                with contextlib.suppress(Exception):
                    con.close()
        return self.connect()

    def park(self, con: Any) -> bool:
        """Keep ``con`` for the run's next client (False: the caller closes it): its transaction rolled
        back and its session settings reset, so the next client starts as on a new connection."""
        if self.read_only_session:
            return False
        try:
            con.rollback()
            with contextlib.closing(con.cursor()) as cur:
                cur.execute("RESET ALL")
            con.commit()
        except Exception:
            return False
        return self._parking.park(con)

    def connect(self) -> Any:
        """A new ADBC connection to the database.

        Raises:
            DestinationError: the connection failed (the message keeps the password out).
        """
        dbapi = import_adbc()
        try:
            return dbapi.connect(self.url)
        except Exception as exc:
            scrub_exception(exc)  # the driver may echo the connection string: keep it out of tracebacks
            raise DestinationError(
                f"cannot connect to PostgreSQL at {redact(self.url)}: {_first_line(exc)}",
                hint="check that the server runs and the URL (host, port, database, user, password)",
            ) from exc

    def __repr__(self) -> str:
        return f"<PostgresDestination {self.describe()}>"


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


class PostgresClient(SqlClient):
    """A connection to one dataset (a PostgreSQL schema)."""

    capabilities = CAPABILITIES
    type_map = _TYPES
    row_json = "row_to_json"

    def __init__(self, destination: PostgresDestination, dataset: str) -> None:
        super().__init__(dataset)
        self.destination = destination
        self.con = destination.take_connection()
        self.cur = self.con.cursor()
        if destination.read_only_session:
            self.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            self.commit()  # the transaction already open ends; every later one is read-only

    def ident(self, name: str) -> str:
        """The physical identifier of a schema name, shortened to PostgreSQL's 63 bytes if longer."""
        return shorten(name)

    def ident_function(self) -> Any:
        """:meth:`ident` as a plain function (it travels to worker processes)."""
        return shorten

    def sql_type(self, column: Any) -> str:
        """The PostgreSQL type of ``column`` (``NUMERIC(p,s)`` for decimals)."""
        if column.data_type == "decimal":
            return f"NUMERIC({column.precision},{column.scale})"
        return self.type_map[column.data_type]

    def data_type(self, sql_type: str) -> DataType | None:
        """The Headwater type an existing column type stores exactly (``jsonb`` holds JSON)."""
        if sql_type.strip().upper() == "JSONB":
            return DataType("json")  # a column earlier versions (or others) made: written as jsonb
        return super().data_type(sql_type)

    # -- statements ------------------------------------------------------------------------------
    def execute(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run one statement. ``?`` placeholders become ``$n``; INSERT/UPDATE/DELETE return their row
        count as ``[(n,)]`` (counted by the server: ADBC reports no row counts)."""
        if params is not None:
            sql = numbered_placeholders(sql)
        if _DML.match(sql) and " RETURNING " not in sql.upper():
            sql = f"WITH _hw_dml AS ({sql} RETURNING 1) SELECT count(*) FROM _hw_dml"
        try:
            self.cur.execute(sql, tuple(params) if params is not None else None)
            return self.cur.fetchall() if self.cur.description is not None else []
        except Exception as exc:
            raise DestinationError(f"PostgreSQL failed: {_first_line(exc)}", statement=sql[:200]) from exc

    def begin(self) -> None:
        """Nothing to do: the ADBC connection is not in autocommit mode, so a transaction is always open."""

    def commit(self) -> None:
        """Commit the transaction.

        Raises:
            DestinationError: PostgreSQL refused the commit.
        """
        try:
            self.con.commit()
        except Exception as exc:
            raise DestinationError(f"PostgreSQL failed to commit: {_first_line(exc)}") from exc

    def rollback(self) -> None:
        """Roll the transaction back."""
        self.con.rollback()

    def close(self) -> None:
        """Close the cursor, and the connection unless the run keeps it for its next client; ignoring errors."""
        with contextlib.suppress(Exception):
            self.cur.close()
        if not self.destination.park(self.con):
            with contextlib.suppress(Exception):
                self.con.close()

    def read_columns(self) -> dict[str, dict[str, str]]:
        """``{table: {column: sql type}}`` for the tables of the dataset, read from ``pg_attribute``."""
        rows = self.execute(
            "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod) "
            "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = ? AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped "
            "ORDER BY c.relname, a.attnum",
            [self.dataset],
        )
        out: dict[str, dict[str, str]] = {}
        for table, column, data_type in rows:
            out.setdefault(table, {})[column] = data_type
        return out

    # -- data ------------------------------------------------------------------------------------
    def insert_files(
        self, table: Table, files: list[Path], *, target: str | None = None, with_seq: bool = False
    ) -> int:
        """Binary COPY of the package's Arrow batches (adapted for PostgreSQL, see the module docs)."""
        total = 0
        seq = [0]
        stored = self.existing_columns().get(self.ident(table.name), {})  # staging tables copy its types
        jsonb = {
            c.name
            for c in table.columns.values()
            if c.data_type == "json" and stored.get(self.ident(c.name), "").lower() == "jsonb"
        }
        for path in files:
            reader = read_file(path)
            if with_seq:
                reader = numbered(reader, seq)
            adapted = _adapt(reader, jsonb, self.ident, table.name)
            try:
                if target is None:
                    n = self.cur.adbc_ingest(
                        self.ident(table.name), adapted, mode="append", db_schema_name=self.dataset
                    )
                else:
                    n = self.cur.adbc_ingest(self.ident(target), adapted, mode="append", temporary=True)
            except DestinationError:
                raise
            except Exception as exc:
                raise DestinationError(
                    f"PostgreSQL refused the rows of {table.name!r}: {_first_line(exc)}", table=table.name
                ) from exc
            total += n if n >= 0 else 0
        return total

    def query_arrow(self, sql: str) -> Any:
        """Run a query in the dataset's schema and return an Arrow table (used by tools and tests)."""
        self.execute(f"SET search_path TO {self.quote(self.dataset)}, public")
        try:
            self.cur.execute(sql)
            return _with_decimals(self.cur.fetch_arrow_table())
        except Exception as exc:
            self.rollback()
            raise DestinationError(f"PostgreSQL failed: {_first_line(exc)}", statement=sql[:200]) from exc


def _adapt(reader: Any, json_columns: set[str], ident: Any, table: str) -> Any:
    """The batches as PostgreSQL's binary COPY takes them: physical column names, NUL characters
    replaced in text (never data: see the module docs), ``jsonb`` columns (``json_columns``) sent in
    ``jsonb``'s binary form (a version byte, then the text); ``json`` columns take the text as it is."""
    import pyarrow as pa
    import pyarrow.compute as pc

    fields = []
    for f in reader.schema:
        if f.name in json_columns:
            fields.append(pa.field(ident(f.name), pa.binary()))
        else:
            fields.append(f.with_name(ident(f.name)))
    schema = pa.schema(fields)
    text_columns = [
        i for i, f in enumerate(reader.schema) if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
    ]
    json_positions = {i for i, f in enumerate(reader.schema) if f.name in json_columns}

    def batches() -> Iterator[Any]:
        replaced = 0
        for n, batch in enumerate(reader):
            columns = list(batch.columns)
            for i in text_columns:
                col = columns[i]
                nul = pc.match_substring(col, "\x00")
                if pc.any(nul).as_py():
                    replaced += pc.sum(nul).as_py()
                    col = pc.replace_substring(col, "\x00", "\ufffd")
                if i in json_positions:
                    escaped = pc.match_substring(col, "\\u0000")
                    if pc.any(escaped).as_py():
                        replaced += pc.sum(escaped).as_py()
                        col = pc.replace_substring(col, "\\u0000", "\\ufffd")
                    prefix = pa.scalar(b"\x01", pa.binary())
                    col = pc.binary_join_element_wise(prefix, col.cast(pa.binary()), pa.scalar(b"", pa.binary()))
                columns[i] = col
            yield pa.RecordBatch.from_arrays(columns, schema=schema)
            if n == 0:
                failpoint("load.mid_copy")
        if replaced:
            log.warning(
                "%s: %d text value(s) held NUL characters, which PostgreSQL cannot store; replaced by U+FFFD",
                table,
                replaced,
            )

    return pa.RecordBatchReader.from_batches(schema, batches())


def _with_decimals(table: Any) -> Any:
    """``numeric`` columns as Arrow decimals: ADBC hands them over as text (an opaque extension type).
    A declared ``numeric(p,s)`` keeps its precision and scale; an unconstrained one (``sum(price)``)
    gets the largest scale among its values; values beyond 38 digits, NaN or infinities stay text."""
    import pyarrow as pa
    import pyarrow.compute as pc

    columns, fields = list(table.columns), list(table.schema)
    changed = False
    for i, f in enumerate(fields):
        meta = f.metadata or {}
        if meta.get(b"POSTGRESQL:type") != b"numeric":
            continue
        text = columns[i]
        storage = pa.chunked_array([c.storage if hasattr(c, "storage") else c for c in text.chunks], pa.string())
        typmod = int(meta.get(b"POSTGRESQL:typmod", b"-1"))
        if typmod >= 4:
            precision, scale = ((typmod - 4) >> 16) & 0xFFFF, (typmod - 4) & 0xFFFF
        else:
            digits = pc.struct_field(pc.extract_regex(storage, r"\.(?P<digits>\d*)$"), "digits")
            scale = pc.max(pc.utf8_length(digits)).as_py() or 0
            precision = 38
        if precision > 38 or scale > precision:
            continue
        try:
            columns[i] = storage.cast(pa.decimal128(precision, scale))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue  # NaN, infinities or too many digits: the text says it exactly
        fields[i] = pa.field(f.name, pa.decimal128(precision, scale), f.nullable)
        changed = True
    return pa.Table.from_arrays(columns, schema=pa.schema(fields)) if changed else table
