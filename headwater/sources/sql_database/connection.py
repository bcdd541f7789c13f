"""Where the data is: a SQLAlchemy engine, the ADBC driver that can read it natively, and errors that
name the database without its password.

Passwords never reach a message: every error names the database by its URL rendered with the
password hidden, and the driver's own text is scrubbed of the password (plain and URL-encoded) in
case a driver echoes its connection string.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote

from headwater.errors import ConfigError, FatalSourceError, HeadwaterError, SourceError, did_you_mean
from headwater.normalize.pandas_gate import import_without_frames
from headwater.optional import require
from headwater.redact import redact, redact_url, register, url_secrets

log = logging.getLogger("headwater.sql_database")

BACKENDS: Final = ("auto", "connectorx", "adbc", "sqlalchemy")
#: dialect -> ADBC DB-API module that reads it
ADBC_DRIVERS: Final = {"postgresql": "adbc_driver_postgresql.dbapi", "sqlite": "adbc_driver_sqlite.dbapi"}
_ADBC_PACKAGES: Final = {"postgresql": "adbc-driver-postgresql", "sqlite": "adbc-driver-sqlite"}


@dataclass
class Database:
    """An engine, how to name it in messages, and the ADBC driver for it (None: SQLAlchemy only)."""

    engine: Any = field(repr=False)  # SQLAlchemy's repr hides the password, not ?password=...: safe_url is shown
    safe_url: str
    adbc_module: str | None = None
    adbc_uri: str | None = field(default=None, repr=False)
    secrets: tuple[str, ...] = field(default=(), repr=False)

    @property
    def dialect(self) -> str:
        """The SQLAlchemy dialect's name (``postgresql``, ``sqlite``, ``mysql``...)."""
        return str(self.engine.dialect.name)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its URL: a worker process (``executor="processes"``) opens an engine of its own."""
        url = self.engine.url.render_as_string(hide_password=False)
        return (_reopen, (url, self.safe_url, self.adbc_module, self.adbc_uri, self.secrets))

    def scrub(self, text: str) -> str:
        """``text`` with the password (in any encoding) and other secrets replaced by ``***``."""
        return redact(text, self.secrets)

    def adbc_connect(self) -> Any:
        """A new ADBC connection (one per reading thread)."""
        assert self.adbc_module is not None
        assert self.adbc_uri is not None
        module = import_without_frames(self.adbc_module)
        return module.connect(self.adbc_uri, autocommit=True)

    @contextlib.contextmanager
    def connect(self) -> Iterator[Any]:
        """A SQLAlchemy connection with the session set up for reading (see :func:`session_setup`)."""
        with self.engine.connect() as conn:
            session_setup(conn, self.dialect)
            yield conn

    @contextlib.contextmanager
    def errors(self, what: str, **where: Any) -> Iterator[None]:
        """Turn a driver's exception into a :class:`FatalSourceError` naming ``what`` and the database."""
        try:
            yield
        except HeadwaterError:
            raise
        except Exception as exc:
            raise FatalSourceError(
                f"{what} failed on {self.safe_url}: {type(exc).__name__}: {self.scrub(_first_lines(exc))}",
                hint="check the table, the query and the database; the error above is the database's own",
                **where,
            ) from None


def connect(credentials: Any, backend: str) -> Database:
    """Resolve ``credentials`` (a URL string, a SQLAlchemy ``URL`` or ``Engine``) into a :class:`Database`.

    Raises:
        ConfigError: an unparsable URL, a missing driver, an unknown backend or one that cannot read
            this database.
    """
    sa = require(
        "sqlalchemy",
        "the sql_database source",
        extra="sql",
        package="SQLAlchemy",
        also="or 'headwater[sql-fast]' for the ADBC drivers",
    )
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}", hint=did_you_mean(backend, BACKENDS, listing="backends"))
    if isinstance(credentials, sa.engine.Engine):
        engine = credentials
        url = engine.url
    else:
        if not isinstance(credentials, str | sa.engine.URL):
            raise ConfigError(
                f"credentials must be a database URL or a SQLAlchemy Engine, got {type(credentials).__name__}",
                hint="for example 'postgresql://user:password@host:5432/db' or 'sqlite:///path/to/file.db'",
            )
        try:
            url = sa.make_url(credentials)
        except Exception:
            raise ConfigError(
                "credentials is not a valid database URL",
                hint="for example 'postgresql://user:password@host:5432/db' or 'sqlite:///path/to/file.db'",
            ) from None
        try:
            engine = _engine(sa, url)
        except (ImportError, sa.exc.NoSuchModuleError) as exc:
            raise ConfigError(
                f"no SQLAlchemy driver for {redact_url(url.render_as_string(hide_password=True))}: {exc}",
                hint="install the dialect's driver (for example psycopg for postgresql, pymysql for mysql+pymysql)",
            ) from None
    rendered = url.render_as_string(hide_password=False)
    secrets = (*([str(url.password)] if url.password else []), *url_secrets(rendered))
    if isinstance(credentials, str):
        secrets += tuple(url_secrets(credentials))  # as written: a password with an unencoded "/" or "#"
    register(*secrets)
    safe_url = redact_url(url.render_as_string(hide_password=True))  # and ?password=... hidden too
    db = Database(engine, safe_url, secrets=tuple(dict.fromkeys(s for s in secrets if s)))
    if backend != "sqlalchemy":  # under backend="connectorx" too: queries read through ADBC
        db.adbc_module, db.adbc_uri = _adbc_target(url, db.dialect, backend == "adbc")
    return db


def _reopen(
    url: str, safe_url: str, adbc_module: str | None, adbc_uri: str | None, secrets: tuple[str, ...]
) -> Database:
    """A :class:`Database` unpickled in another process: a new engine on the same URL."""
    import sqlalchemy as sa

    register(*secrets)
    return Database(_engine(sa, sa.make_url(url)), safe_url, adbc_module, adbc_uri, secrets)


def _engine(sa: Any, url: Any) -> Any:
    """An engine without a pool: every read (a table, a key range) opens its connection and closes it
    when done, so nothing stays open between runs or after the source is gone.

    A plain ``postgresql://`` URL means psycopg2 to SQLAlchemy 2.0 (psycopg 3 from 2.1 on); psycopg 3
    serves when only it is installed.
    """
    try:
        return sa.create_engine(url, poolclass=sa.pool.NullPool)
    except ImportError:
        if url.drivername != "postgresql":
            raise
        require(
            "psycopg",
            f"the PostgreSQL database {redact_url(url.render_as_string(hide_password=True))}",
            package="psycopg[binary]",
            also="or psycopg2, SQLAlchemy's default driver for postgresql://",
        )
        return sa.create_engine(url.set(drivername="postgresql+psycopg"), poolclass=sa.pool.NullPool)


def _adbc_target(url: Any, dialect: str, forced: bool) -> tuple[str | None, str | None]:
    """The ADBC module and URI for ``url``; (None, None) when ADBC cannot read it (an error if forced)."""
    module = ADBC_DRIVERS.get(dialect)
    if module is None:
        if forced:
            raise ConfigError(
                f"backend='adbc' reads {', '.join(ADBC_DRIVERS)} databases, not {dialect}",
                hint="use backend='auto' or 'sqlalchemy'",
            )
        return None, None
    if forced:
        require(
            module,
            f"backend='adbc' on {dialect}",
            package=_ADBC_PACKAGES[dialect],
            also="or 'headwater[sql-fast]'",
            importer=import_without_frames,
        )
    else:
        try:
            import_without_frames(module)
        except ImportError:
            return None, None
    if dialect == "sqlite":
        database = url.database
        if not database or database == ":memory:" or database.startswith("file:"):
            if forced:
                raise ConfigError(
                    "backend='adbc' reads SQLite files, not an in-memory database or a URI filename",
                    hint="use backend='sqlalchemy'",
                )
            return None, None
        return module, f"file:{quote(os.path.abspath(database))}?mode=ro"  # read-only: never writes the file
    return module, libpq_uri(url)


def libpq_uri(url: Any) -> str:
    """``url`` as a libpq connection URI. SQLAlchemy writes a query parameter's spaces as ``+``, which libpq
    reads literally (``options=-c+timezone=UTC`` is refused); libpq decodes ``%20``."""
    base = url.set(drivername="postgresql", query={}).render_as_string(hide_password=False)
    pairs = [
        f"{quote(str(key), safe='')}={quote(str(one), safe='')}"
        for key, value in url.query.items()
        for one in (value if isinstance(value, tuple) else (value,))
    ]
    return base + ("?" + "&".join(pairs) if pairs else "")


#: dialects that speak MySQL (SQLAlchemy names MariaDB ``mariadb`` when the URL says so)
MYSQL_DIALECTS: Final = frozenset({"mysql", "mariadb"})


def session_setup(conn: Any, dialect: str) -> None:
    """Make a connection's session read values as they are stored.

    MySQL converts ``TIMESTAMP`` values (stored in UTC) to the session's time zone, which is the
    server's unless set: the session is set to UTC, so that they are read as the instants they are.
    """
    if dialect in MYSQL_DIALECTS:
        conn.exec_driver_sql("SET time_zone = '+00:00'")


def check_connection(db: Database) -> None:
    """Connect once, so that a wrong URL fails here, naming the database, not in the middle of a run.

    A SQLite file that does not exist is refused before connecting: SQLite would create an empty one.
    """
    if db.dialect == "sqlite":
        _check_sqlite_file(db)
    try:
        with db.engine.connect():
            pass
    except Exception as exc:
        if db.dialect == "sqlite":
            hint = "check the file's path: its folder must exist, and the file be readable"
        else:
            hint = "check the host, port, database name, user and password (and that the server runs)"
        raise SourceError(
            f"cannot connect to {db.safe_url}: {type(exc).__name__}: {db.scrub(_first_lines(exc))}", hint=hint
        ) from None


def _check_sqlite_file(db: Database) -> None:
    database = db.engine.url.database
    uri = str(db.engine.url.query.get("uri", "")).lower() in ("true", "1")
    if not database or database == ":memory:" or database.startswith("file:") or uri:
        return  # in memory, or a URI filename whose mode= says whether it may be created
    if not os.path.isfile(database):
        where = os.path.abspath(database)
        folder = os.path.dirname(where)
        hint = f"check the file's path (a relative path is relative to the working directory, {os.getcwd()})" + (
            "" if os.path.isdir(folder) else f"; its folder {folder} does not exist either"
        )
        what = "is a folder, not a file" if os.path.isdir(where) else "does not exist"
        raise FatalSourceError(
            f"cannot connect to {db.safe_url}: the SQLite database file {where} {what}; nothing was created",
            hint=hint,
        )


def _first_lines(exc: BaseException, limit: int = 3) -> str:
    """The useful head of a driver error (SQLAlchemy appends its documentation links)."""
    text = str(getattr(exc, "orig", None) or exc)
    lines = [line for line in text.strip().splitlines() if line.strip() and "sqlalche.me" not in line]
    return " ".join(line.strip() for line in lines[:limit])
