"""The Iceberg destination and its client (through pyiceberg).

The load algorithm, the ``_hw_loads`` bookkeeping and the merge planning live in
:class:`~headwater.destinations.lake.LakeClient`; this module maps its hooks onto an Iceberg catalog:

* the dataset is a namespace (or ``namespace=`` if given), created on the first write;
* a table is created from the Arrow schema (every field optional) with the partition spec asked for
  in ``partition_by``; new columns are added with ``union_by_name``;
* every ``write`` is one catalog commit: one pyiceberg transaction holding the delete (replace,
  merge) and the appends, every snapshot of it carrying the load id in its summary
  (``headwater.load_id``), which is how a rerun after a crash recognises tables it already wrote.

pyiceberg is imported inside functions: ``import headwater`` must not need it.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, cast
from urllib.parse import parse_qs, quote, unquote, urlsplit

from headwater import names
from headwater._failpoints import failpoint
from headwater.destinations.lake import (
    LOAD_ID_PROPERTY,
    STATE_PROPERTY,
    Delete,
    LakeClient,
    decode_partitions,
    encode_partitions,
)
from headwater.destinations.protocol import Capabilities
from headwater.errors import ConfigError, DestinationError, HeadwaterError
from headwater.redact import is_secret_name, redact, register, strip_url, url_secrets
from headwater.schema.types import DECIMAL_PRECISION_ONLY

if TYPE_CHECKING:
    import pyarrow as pa

CAPABILITIES = Capabilities(
    name="iceberg",
    transactional=False,  # one commit per table; the load is recorded last (see lake.py)
    write_dispositions=frozenset({"append", "replace", "merge"}),
    # Iceberg promotes int -> long, float -> double and decimal(p, s) -> decimal(p', s) with p' > p.
    # Headwater has no 32-bit types, so the first two never arise; a decimal's precision grows in
    # place while its scale stays; any other changed type becomes a variant column.
    type_widening=frozenset({DECIMAL_PRECISION_ONLY}),
    merge_strategies=frozenset({"delete-insert", "upsert"}),
    merge_key=False,
    needs_primary_key=True,
)

log = logging.getLogger("headwater")

#: the catalog name Headwater gives catalogs it builds (the SQLite one, or one from properties)
CATALOG_NAME = "headwater"
#: a load is appended in pieces of about this many bytes of Arrow data (see IcebergClient._append);
#: each piece is a snapshot of the same commit
PIECE_BYTES = 64 * 1024 * 1024

INSTALL_HINT = "pip install 'headwater[iceberg]'"

# -- partition specs ----------------------------------------------------------------------------------

_TRANSFORMS = {
    "identity": "identity",
    "year": "year",
    "years": "year",
    "month": "month",
    "months": "month",
    "day": "day",
    "days": "day",
    "date": "day",
    "hour": "hour",
    "hours": "hour",
    "bucket": "bucket",
    "truncate": "truncate",
}
_CALL = re.compile(r"^(?P<fn>[A-Za-z_]+)\s*\(\s*(?:(?P<n>\d+)\s*,\s*)?(?P<col>[^(),\s][^(),]*?)\s*\)$")


@dataclass(frozen=True)
class PartitionField:
    """One field of a partition spec: ``column`` through ``transform`` (``bucket``/``truncate`` take ``width``)."""

    column: str
    transform: str = "identity"
    width: int | None = None

    def __str__(self) -> str:
        if self.transform == "identity":
            return self.column
        if self.width is not None:
            return f"{self.transform}({self.width}, {self.column})"
        return f"{self.transform}({self.column})"

    def to_pyiceberg(self) -> Any:
        from pyiceberg import transforms

        if self.transform == "bucket":
            return transforms.BucketTransform(self.width or 1)
        if self.transform == "truncate":
            return transforms.TruncateTransform(self.width or 1)
        kinds = {
            "identity": transforms.IdentityTransform,
            "year": transforms.YearTransform,
            "month": transforms.MonthTransform,
            "day": transforms.DayTransform,
            "hour": transforms.HourTransform,
        }
        return kinds[self.transform]()


def parse_partition(spec: str) -> PartitionField:
    """``"col"``, ``"day(col)"``, ``"bucket(16, col)"``, ``"truncate(4, col)"``... as a :class:`PartitionField`."""
    text = spec.strip()
    call = _CALL.match(text)
    if call is None:
        if not text or any(c in text for c in "(), "):
            raise ConfigError(
                f"cannot read the partition spec {spec!r}",
                hint="a column name, or identity/year/month/day/hour(col), bucket(n, col), truncate(width, col)",
            )
        return PartitionField(text)
    fn, width, column = call.group("fn").lower(), call.group("n"), call.group("col")
    transform = _TRANSFORMS.get(fn)
    if transform is None:
        raise ConfigError(
            f"unknown partition transform {fn!r} in {spec!r}",
            hint="use identity, year, month, day, hour, bucket(n, col) or truncate(width, col)",
        )
    if transform in ("bucket", "truncate"):
        if width is None or int(width) < 1:
            raise ConfigError(f"{transform} needs a positive number first: {transform}(16, {column})")
        return PartitionField(column, transform, int(width))
    if width is not None:
        raise ConfigError(f"{transform}() takes only a column: {transform}({column})")
    return PartitionField(column, transform)


def _partition_specs(partition_by: Mapping[str, str | Sequence[str]] | None) -> dict[str, tuple[PartitionField, ...]]:
    out: dict[str, tuple[PartitionField, ...]] = {}
    for table, specs in (partition_by or {}).items():
        items = [specs] if isinstance(specs, str) else list(specs)
        out[str(table)] = tuple(parse_partition(s) for s in items)
    return out


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
    try:
        import pyiceberg.catalog

        if sql:
            import pyiceberg.catalog.sql  # noqa: F401  (needs sqlalchemy)
    except ImportError as exc:
        raise ConfigError(
            f"the Iceberg destination needs pyiceberg{' and sqlalchemy' if sql else ''}: {exc}", hint=INSTALL_HINT
        ) from exc


def _has_pyiceberg_core() -> bool:
    import importlib.util

    return importlib.util.find_spec("pyiceberg_core") is not None


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
        self.partition_by = _partition_specs(partition_by)
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
        return f"iceberg ({self._where()})"

    def _where(self) -> str:
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
        return _secret_values(self.catalog_properties)

    def clean(self, text: str) -> str:
        """``text`` with every secret of the configuration replaced by ``***``."""
        return redact(text, self.secrets())

    def client(self, dataset: str) -> IcebergClient:
        return IcebergClient(self, dataset)

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
            f"Iceberg could not {action}{where} in {self._where()}: {text.splitlines()[0] if text else raw}",
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


# -- the client ------------------------------------------------------------------------------------------


class IcebergClient(LakeClient):
    """An open catalog, on the namespace of one dataset."""

    capabilities = CAPABILITIES
    partition_transforms = True

    def __init__(self, destination: IcebergDestination, dataset: str) -> None:
        super().__init__(dataset, {t: [str(f) for f in fs] for t, fs in destination.partition_by.items()})
        self.destination = destination
        self.namespace: tuple[str, ...] = destination.namespace or (dataset,)
        self.catalog, self._owned = destination.open_catalog()

    def _ident(self, name: str) -> tuple[str, ...]:
        return (*self.namespace, name)

    def _qualified(self, name: str) -> str:
        return ".".join(self._ident(name))

    @contextmanager
    def _errors(self, action: str, table: str | None = None) -> Iterator[None]:
        try:
            yield
        except HeadwaterError:
            raise
        except Exception as exc:
            self.destination.fail(exc, action, self._qualified(table) if table else None)

    def _table(self, name: str) -> Any:
        """The pyiceberg table ``name``, or None."""
        from pyiceberg.exceptions import NoSuchTableError

        with self._errors("load table", name):
            try:
                return self.catalog.load_table(self._ident(name))
            except NoSuchTableError:
                return None

    def _require(self, name: str) -> Any:
        table = self._table(name)
        if table is None:
            raise DestinationError(
                f"Iceberg table {self._qualified(name)} does not exist in {self.destination._where()}",
                hint="it was dropped while loading; run again to recreate it",
                table=name,
            )
        return table

    # -- hooks -----------------------------------------------------------------------------------
    def table_schema(self, name: str) -> pa.Schema | None:
        table = self._table(name)
        return None if table is None else table.schema().as_arrow()

    def table_names(self) -> list[str]:
        from pyiceberg.exceptions import NoSuchNamespaceError

        with self._errors(f"list the tables of namespace {'.'.join(self.namespace)}"):
            try:
                return [ident[-1] for ident in self.catalog.list_tables(self.namespace)]
            except NoSuchNamespaceError:
                return []

    def committed_load_ids(self, name: str) -> set[str]:
        table = self._table(name)
        if table is None:
            return set()
        out = set()
        for snapshot in table.metadata.snapshots:
            summary = snapshot.summary
            load_id = summary[LOAD_ID_PROPERTY] if summary is not None else None
            if load_id:
                out.add(str(load_id))
        return out

    def evolve(self, name: str, schema: pa.Schema, partition_by: list[str]) -> None:
        import pyarrow as pa

        table = self._table(name)
        if table is None:
            if self._create(name, schema, partition_by):
                return
            table = self._require(name)  # created by another process in the meantime
        if partition_by:
            self._check_spec(name, table, partition_by)
        from pyiceberg.types import DecimalType

        existing = {f.name: f.field_type for f in table.schema().fields}
        missing = [f for f in schema if f.name not in existing]
        wider = [  # Iceberg's safe promotion: a decimal's precision grows, its scale stays
            f
            for f in schema
            if pa.types.is_decimal(f.type)
            and isinstance(existing.get(f.name), DecimalType)
            and f.type.scale == existing[f.name].scale
            and f.type.precision > existing[f.name].precision
        ]
        if missing or wider:
            changed = [f"add {f.name}" for f in missing] + [f"widen {f.name} to {f.type}" for f in wider]
            with self._errors(f"evolve ({', '.join(changed)})", name), table.update_schema() as update:
                if missing:
                    update.union_by_name(pa.schema(missing))
                for f in wider:
                    update.update_column(f.name, field_type=DecimalType(f.type.precision, f.type.scale))

    def _check_spec(self, name: str, table: Any, partition_by: list[str]) -> None:
        """Warn when an existing table is partitioned otherwise than ``partition_by`` asks."""
        schema = table.schema()
        have = {(schema.find_column_name(f.source_id), str(f.transform)) for f in table.spec().fields}
        want = {(f.column, str(f.to_pyiceberg())) for f in map(parse_partition, partition_by)}
        if have != want:
            log.warning(
                "Iceberg table %s exists with partition spec %s; partition_by=%s applies only when a table is "
                "created (evolve the spec with pyiceberg's update_spec() if you want it changed)",
                self._qualified(name),
                table.spec(),
                partition_by,
            )

    def _create(self, name: str, schema: pa.Schema, partition_by: list[str]) -> bool:
        """Create table ``name``; False if it appeared meanwhile (another writer)."""
        from pyiceberg.exceptions import TableAlreadyExistsError

        fields = [parse_partition(s) for s in partition_by]
        for f in fields:
            if f.column not in schema.names:
                raise ConfigError(
                    f"partition_by of table {name!r} names column {f.column!r}, which the table does not have",
                    hint=f"its columns: {', '.join(n for n in schema.names if not n.startswith('_hw_'))}",
                    table=name,
                )
        if any(f.transform != "identity" for f in fields) and not _has_pyiceberg_core():
            raise ConfigError(
                f"partition transforms ({', '.join(str(f) for f in fields if f.transform != 'identity')}) need "
                "the pyiceberg-core package to write",
                hint="pip install pyiceberg-core (or partition by plain columns)",
                table=name,
            )
        self._ensure_namespace()
        with self._errors("create table", name):
            try:
                tx = self.catalog.create_table_transaction(self._ident(name), schema=schema)
                if fields:
                    with tx.update_spec() as spec:
                        for f in fields:
                            try:
                                spec.add_field(f.column, f.to_pyiceberg())
                            except (ValueError, TypeError) as exc:
                                raise ConfigError(
                                    f"cannot partition table {name!r} by {f}: {exc}",
                                    hint="time transforms need a date or timestamp column; bucket and truncate a "
                                    "number, text or binary one",
                                    table=name,
                                ) from exc
                tx.commit_transaction()
            except TableAlreadyExistsError:
                return False
        return True

    def _ensure_namespace(self) -> None:
        from pyiceberg.exceptions import NamespaceAlreadyExistsError

        for depth in range(1, len(self.namespace) + 1):
            ns = self.namespace[:depth]
            with self._errors(f"create namespace {'.'.join(ns)}"):
                if self.catalog.namespace_exists(ns):
                    continue
                try:
                    self.catalog.create_namespace(ns)
                except NamespaceAlreadyExistsError:
                    pass

    def write(
        self,
        name: str,
        chunks: Iterable[pa.Table],
        schema: pa.Schema,
        *,
        mode: str,
        delete: Delete | None,
        properties: dict[str, str],
    ) -> None:
        from pyiceberg.expressions import AlwaysTrue

        if mode not in ("append", "overwrite", "merge"):
            raise ValueError(f"unknown write mode {mode!r}")
        # The state is already a column of the _hw_loads row; in a snapshot summary it would be copied
        # into every later metadata.json of the table (they list all snapshots), growing each commit.
        props = {k: v for k, v in properties.items() if k != STATE_PROPERTY}
        table = self._require(name)
        with self._errors(f"{'replace' if mode == 'overwrite' else mode} into table", name), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Delete operation did not match any records")
            tx = table.transaction()
            if mode == "overwrite":
                tx.delete(AlwaysTrue(), snapshot_properties=props)
            elif mode == "merge" and delete is not None:
                values = _values(delete.values)
                if values:
                    tx.delete(_in(delete.column, values), snapshot_properties=props)
            self._append(tx, chunks, schema, props)
            tx.commit_transaction()  # the one catalog commit
        failpoint("iceberg.table_committed")

    def _append(self, tx: Any, chunks: Iterable[pa.Table], schema: pa.Schema, props: dict[str, str]) -> None:
        """Append the chunks to the transaction in pieces of about :data:`PIECE_BYTES` of Arrow
        data, each a snapshot of the same catalog commit. Not one streamed append: pyiceberg 0.12
        hands every file-sized batch of a stream to its thread pool at once (``executor.map``), so a
        stream is held in memory whole (peak 306 MB for 1M narrow rows, 843 MB for 6M; in pieces, 289
        MB and 382 MB); and it cannot stream into partitioned tables at all."""
        import pyarrow as pa

        piece: list[pa.Table] = []
        size, appended = 0, False
        for chunk in chunks:
            piece.append(_cast(chunk, schema))
            size += chunk.nbytes
            if size >= PIECE_BYTES:
                tx.append(pa.concat_tables(piece), snapshot_properties=props)
                piece, size, appended = [], 0, True
        if piece or not appended:
            tx.append(pa.concat_tables(piece) if piece else schema.empty_table(), snapshot_properties=props)

    def scan(self, name: str, columns: list[str], where: Delete | None = None) -> pa.Table:
        from pyiceberg.expressions import AlwaysFalse, AlwaysTrue, BooleanExpression

        table = self._require(name)
        row_filter: BooleanExpression = AlwaysTrue()
        if where is not None:
            values = _values(where.values)
            row_filter = _in(where.column, values) if values else AlwaysFalse()
        with self._errors("read table", name):
            return table.scan(row_filter=row_filter, selected_fields=tuple(columns)).to_arrow()

    def reader(self, name: str) -> Any:
        # materialized: a query may scan a table twice (a self-join), which a one-shot reader cannot
        table = self._require(name)
        with self._errors("read table", name):
            return table.scan().to_arrow()

    def drop_table(self, name: str) -> None:
        from pyiceberg.exceptions import NoSuchTableError

        with self._errors("drop table", name):
            try:
                try:
                    self.catalog.purge_table(self._ident(name))  # the data files too
                except NotImplementedError:
                    self.catalog.drop_table(self._ident(name))
            except NoSuchTableError:
                pass

    def close(self) -> None:
        if self._owned:
            close = getattr(self.catalog, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:
                    pass


def _values(array: Any) -> set[Any]:
    """The distinct non-null values of an Arrow array, as Python objects for an ``In`` filter."""
    return {v for v in array.to_pylist() if v is not None}


def _in(column: str, values: set[Any]) -> Any:
    """pyiceberg's ``In(column, values)`` (its ``__new__`` takes them; mypy sees the model's ``__init__``)."""
    from pyiceberg.expressions import In

    return cast(Any, In)(column, values)


def _cast(chunk: pa.Table, schema: pa.Schema) -> pa.Table:
    return chunk if chunk.schema.equals(schema) else chunk.select(schema.names).cast(schema)
