"""The Iceberg destination's configuration: the catalog, the warehouse, namespaces, partitions, URIs.

It opens the catalog and turns pyiceberg's and the catalog's errors into messages without secrets;
the client that writes the tables is :class:`~headwater.destinations.iceberg.client.IcebergClient`.
pyiceberg is imported inside functions: ``import headwater`` must not need it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import parse_qs, quote, unquote, urlsplit

from headwater import names
from headwater.destinations.iceberg.partitions import partition_specs
from headwater.destinations.lake.partitions import decode_partitions, encode_partitions
from headwater.destinations.protocol import Capabilities
from headwater.errors import ConfigError, DestinationError, HeadwaterError
from headwater.optional import require
from headwater.redact import is_secret_name, redact, register, strip_url, url_secrets
from headwater.schema.types import DECIMAL_PRECISION_ONLY

if TYPE_CHECKING:
    from headwater.destinations.iceberg.client import IcebergClient

CAPABILITIES = Capabilities(
    name="iceberg",
    transactional=False,  # one commit per table; the load is recorded last (see headwater.destinations.lake)
    write_dispositions=frozenset({"append", "replace", "merge"}),
    # Iceberg promotes int -> long, float -> double and decimal(p, s) -> decimal(p', s) with p' > p.
    # Headwater has no 32-bit types, so the first two never arise; a decimal's precision grows in
    # place while its scale stays; any other changed type becomes a variant column.
    type_widening=frozenset({DECIMAL_PRECISION_ONLY}),
    merge_strategies=frozenset({"delete-insert", "upsert"}),
    merge_key=False,
    needs_primary_key=True,
    run_history=True,
)

#: the catalog name Headwater gives catalogs it builds (the SQLite one, or one from properties)
CATALOG_NAME = "headwater"

INSTALL_HINT = "pip install 'headwater[iceberg]'"

# -- secrets ----------------------------------------------------------------------------------------


def redact_uri(uri: str) -> str:
    """A URI without its user information and query string (where credentials live)."""
    try:
        urlsplit(uri)
    except ValueError:
        return "<unreadable uri>"
    return strip_url(uri, keep_user=False, keep_query=False)


def _secret_values(properties: Mapping[str, str]) -> list[str]:
    """Values that must never be shown: secret-looking properties and the secrets inside URIs."""
    out = []
    for key, value in properties.items():
        if not value:
            continue
        if is_secret_name(key):
            out.append(value)
        out.extend(url_secrets(value))
    # longest first, so that a secret containing another one is replaced whole
    return sorted({v for v in out if len(v) >= 3}, key=len, reverse=True)


def _import_pyiceberg(sql: bool) -> None:
    """pyiceberg's catalogs (and SQLAlchemy for the built-in SQLite catalog), or a ConfigError."""
    require("pyiceberg.catalog", "the Iceberg destination", extra="iceberg")
    if sql:
        require("sqlalchemy", "the Iceberg destination's built-in SQLite catalog", extra="iceberg")
        require("pyiceberg.catalog.sql", "the Iceberg destination's built-in SQLite catalog", extra="iceberg")


# -- the destination -----------------------------------------------------------------------------------


class IcebergDestination:
    """Apache Iceberg tables in a catalog; the dataset is a namespace (unless ``namespace`` is given).

    Args:
        warehouse: where the data files go. Without ``catalog``/``catalog_properties`` a local folder
            holding a SQLite catalog (``catalog.db``) and the tables: default ``<pipeline>.iceberg`` in
            the current folder. With a catalog it is passed as the catalog's ``warehouse`` property
            (unless that is set), so it may be a URI such as ``s3://bucket/path``.
        catalog: a pyiceberg catalog object to use as it is (it is not closed), or the name of a
            catalog configured in ``~/.pyiceberg.yaml`` or ``PYICEBERG_CATALOG__<NAME>__*`` variables.
        catalog_properties: pyiceberg catalog properties (``{"type": "rest", "uri": ..., "credential":
            ...}``) passed to ``pyiceberg.catalog.load_catalog``. Never shown: messages and
            ``describe()`` give only the type and the URI without credentials.
        partition_by: ``{table: [spec, ...]}``, each spec a column (identity) or ``year(col)``,
            ``month(col)``, ``day(col)``, ``hour(col)``, ``bucket(n, col)``, ``truncate(width, col)``.
            Applied when the table is created.
        namespace: the namespace to load into instead of one named after the dataset (``"a.b"`` is a
            nested namespace, for catalogs that have them: REST catalogs mostly, not the SQL one).
    """

    name = "iceberg"
    capabilities = CAPABILITIES

    def __init__(
        self,
        warehouse: str | os.PathLike[str] | None = None,
        *,
        catalog: Any = None,
        catalog_properties: Mapping[str, Any] | None = None,
        partition_by: Mapping[str, str | Sequence[str]] | None = None,
        namespace: str | Sequence[str] | None = None,
    ) -> None:
        if catalog is not None and not isinstance(catalog, str) and catalog_properties:
            raise ConfigError(
                "give the Iceberg destination a catalog object or catalog_properties, not both",
                hint="set the properties on the catalog you build, or pass only catalog_properties",
            )
        self.catalog = catalog
        self.catalog_properties = {str(k): str(v) for k, v in (catalog_properties or {}).items() if v is not None}
        self.warehouse = os.fspath(warehouse) if warehouse is not None else None
        register(*_secret_values({**self.catalog_properties, "warehouse": self.warehouse or ""}))
        self.partition_by = partition_specs(partition_by)
        if isinstance(namespace, str):
            parts: tuple[str, ...] = tuple(p for p in namespace.split(".") if p)
        else:
            parts = tuple(namespace or ())
        # each level names a folder of the warehouse (``<level>.db``) and a catalog key
        self.namespace: tuple[str, ...] = tuple(names.dataset_name(p, what="namespace") for p in parts)
        if self.builtin and self.warehouse is not None and _scheme(self.warehouse) not in ("", "file"):
            raise ConfigError(
                f"the built-in SQLite catalog keeps its warehouse in a local folder, not {redact_uri(self.warehouse)}",
                hint="for object storage configure a catalog: catalog_properties={'type': 'rest', 'uri': ...} "
                "or {'type': 'sql', 'uri': 'postgresql://...', 'warehouse': 's3://...'}",
            )

    @property
    def builtin(self) -> bool:
        """Whether this is the built-in SQLite catalog in a local warehouse folder."""
        return self.catalog is None and not self.catalog_properties

    @classmethod
    def from_uri(cls, uri: str) -> IcebergDestination:
        """``iceberg:///abs/warehouse``, ``iceberg:rel/warehouse`` (``?namespace=lake`` optional), or
        ``iceberg:?catalog=NAME`` for a catalog configured in ``~/.pyiceberg.yaml`` or the environment."""
        rest = uri[len("iceberg:") :] if uri.startswith("iceberg:") else uri
        path, _, query = rest.partition("?")
        if path.startswith("//"):
            path = path[2:]
        options = parse_qs(query, keep_blank_values=True)
        unknown = set(options) - {"namespace", "catalog", "partition_by"}
        if unknown:
            raise ConfigError(
                f"unknown option(s) {', '.join(sorted(unknown))} in the Iceberg URI {uri!r}",
                hint="the URI takes ?namespace=..., ?catalog=... and ?partition_by=table:spec,spec;table2:spec; "
                "configure other things with hw.destinations.iceberg(...)",
            )
        namespace = options.get("namespace", [None])[-1] or None
        catalog = options.get("catalog", [None])[-1] or None
        spec = options.get("partition_by", [None])[-1]
        partition_by = decode_partitions(spec) if spec else None
        if catalog is not None:
            return cls(unquote(path) if path else None, catalog=catalog, namespace=namespace, partition_by=partition_by)
        if not path or path == "/":
            raise ConfigError(f"the Iceberg URI {uri!r} names no warehouse folder", hint="e.g. iceberg:///data/lake")
        return cls(unquote(path), namespace=namespace, partition_by=partition_by)

    def for_pipeline(self, pipeline_name: str) -> IcebergDestination:
        """This destination, or (built-in catalog, no warehouse given) one whose warehouse is the folder
        ``<pipeline_name>.iceberg``."""
        if self.builtin and self.warehouse is None:
            return IcebergDestination(
                f"{pipeline_name}.iceberg",
                partition_by={t: [str(f) for f in fs] for t, fs in self.partition_by.items()},
                namespace=self.namespace,
            )
        return self

    def local_warehouse(self) -> Path:
        """The warehouse folder of the built-in catalog, absolute."""
        value = self.warehouse or "."
        if _scheme(value) == "file":
            from urllib.request import url2pathname

            value = url2pathname(urlsplit(value).path)
        return Path(value).expanduser().resolve()

    def to_uri(self) -> str | None:
        """``iceberg:///abs/warehouse`` for the built-in catalog, ``iceberg:?catalog=NAME`` for a named
        one; None for catalog properties or objects (properties may hold secrets, and the URI is written
        to the working folder)."""
        query = {"namespace": ".".join(self.namespace)} if self.namespace else {}
        if self.partition_by:
            query["partition_by"] = encode_partitions({t: [str(f) for f in fs] for t, fs in self.partition_by.items()})
        if self.builtin:
            uri = f"iceberg://{quote(str(self.local_warehouse()), safe='/')}"
        elif isinstance(self.catalog, str) and not self.catalog_properties:
            uri = "iceberg:"
            if self.warehouse is not None:
                if redact_uri(self.warehouse) != self.warehouse:
                    return None
                uri += quote(self.warehouse, safe="/:")
            query = {"catalog": self.catalog, **query}
        else:
            return None
        if query:
            uri += "?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())
        return uri

    def describe(self) -> str:
        """Where the data goes, for humans, without secrets."""
        return f"iceberg ({self.where()})"

    def where(self) -> str:
        """The catalog and warehouse, for messages (no credentials)."""
        ns = f", namespace {'.'.join(self.namespace)}" if self.namespace else ""
        if self.builtin:
            return f"{self.local_warehouse()}{ns}"
        if isinstance(self.catalog, str):
            return f"catalog {self.catalog!r}{ns}"
        if self.catalog is not None:
            return f"{type(self.catalog).__name__} {getattr(self.catalog, 'name', '?')!r}{ns}"
        props = self.catalog_properties
        parts = [f"{props.get('type', 'configured')} catalog"]
        if props.get("uri"):
            parts.append(redact_uri(props["uri"]))
        warehouse = props.get("warehouse") or self.warehouse
        if warehouse:
            parts.append(f"warehouse {redact_uri(warehouse)}")
        return " ".join(parts) + ns

    def secrets(self) -> list[str]:
        """The secret values of the catalog properties, to redact from messages."""
        return _secret_values(self.catalog_properties)

    def clean(self, text: str) -> str:
        """``text`` with every secret of the configuration replaced by ``***``."""
        return redact(text, self.secrets())

    def client(self, dataset: str) -> IcebergClient:
        """Open a client on ``dataset``."""
        from headwater.destinations.iceberg.client import IcebergClient

        return IcebergClient(self, dataset)

    def read_only(self) -> IcebergDestination | None:
        """This destination for a dry run: None when the built-in catalog does not exist yet (opening it
        would create the warehouse folder and ``catalog.db``); otherwise itself (reading writes nothing)."""
        if self.builtin and self.catalog is None and not (self.local_warehouse() / "catalog.db").exists():
            return None
        return self

    def open_catalog(self) -> tuple[Any, bool]:
        """The catalog and whether the client owns (closes) it."""
        _import_pyiceberg(sql=self.builtin)
        if self.catalog is not None and not isinstance(self.catalog, str):
            return self.catalog, False
        try:
            if self.builtin:
                from pyiceberg.catalog.sql import SqlCatalog
                from sqlalchemy.engine import URL

                folder = self.local_warehouse()
                folder.mkdir(parents=True, exist_ok=True)
                uri = URL.create("sqlite", database=str(folder / "catalog.db")).render_as_string(hide_password=False)
                return SqlCatalog(CATALOG_NAME, uri=uri, warehouse=folder.as_uri()), True
            from pyiceberg.catalog import load_catalog

            props = dict(self.catalog_properties)
            if self.warehouse is not None:
                props.setdefault("warehouse", _warehouse_uri(self.warehouse))
            name = self.catalog if isinstance(self.catalog, str) else CATALOG_NAME
            return load_catalog(name, **props), True
        except HeadwaterError:
            raise
        except Exception as exc:
            self.fail(exc, "open the catalog")

    def fail(self, exc: BaseException, action: str, table: str | None = None) -> NoReturn:
        """Raise a :class:`DestinationError` for ``exc`` (raised while trying to ``action``), secrets removed."""
        raw = f"{type(exc).__name__}: {exc}".strip()
        text = self.clean(raw)
        where = f" {table}" if table else ""
        error = DestinationError(
            f"Iceberg could not {action}{where} in {self.where()}: {text.splitlines()[0] if text else raw}",
            hint=_hint(exc, self),
            table=table.rsplit(".", 1)[-1] if table else None,
        )
        if text != raw:  # the original message holds a secret: do not chain it into tracebacks
            raise error from None
        raise error from exc

    def __repr__(self) -> str:
        return f"<IcebergDestination {self.describe()}>"


def _scheme(value: str) -> str:
    if re.match(r"^[A-Za-z]:[\\/]", value):  # a Windows drive, not a scheme
        return ""
    return urlsplit(value).scheme.lower() if "://" in value or value.startswith("file:") else ""


def _warehouse_uri(value: str) -> str:
    return value if _scheme(value) else Path(value).expanduser().resolve().as_uri()


def _hint(exc: BaseException, destination: IcebergDestination) -> str:
    names = {c.__name__ for c in type(exc).__mro__}
    if names & {"CommitFailedException", "CommitStateUnknownException"}:
        return (
            "another writer changed the table at the same time (or the commit's outcome is unknown); run again: "
            "tables this load already committed are skipped"
        )
    if names & {"UnauthorizedError", "ForbiddenError", "OAuthError", "AuthorizationExpiredError"}:
        return "the catalog refused the credentials: check the token or credential in catalog_properties"
    if names & {"ServiceUnavailableError", "ServerError", "TooManyRequestsError", "ConnectionError", "Timeout"}:
        return "the catalog is unreachable or overloaded; run again later (the package is kept)"
    if names & {"NoSuchNamespaceError", "NoSuchTableError"}:
        return "the namespace or table was dropped while loading; run again to recreate it"
    if names & {"NotInstalledError", "ModuleNotFoundError", "ImportError"}:
        return f"a package is missing: {INSTALL_HINT} (plus pyiceberg-core for partition transforms)"
    if "OperationalError" in names and destination.builtin:
        return f"the SQLite catalog {destination.local_warehouse() / 'catalog.db'} is locked or unreadable; run again"
    if names & {"PermissionError", "FileNotFoundError", "IsADirectoryError"}:
        return "check that the warehouse location exists and is writable"
    if names & {"NoSuchPropertyException", "ValueError"} and not destination.builtin:
        return "check catalog_properties (type, uri, warehouse): see the pyiceberg catalog documentation"
    return "check the catalog configuration and that the warehouse is reachable; the package is kept for the next run"
