"""Hippo's pipeline shape: an extractor, an optional transformer and a loader, as Hippo writes them.

::

    'my_pipeline': {
        'extractor': {'class': LocalFileExtractor, 'format': 'csv', 'filepath': './raw.csv'},
        'transformer': {'query_path': 'queries/clean.sql', 'kwargs': {'since': '2024-01-01'}},
        'loader': {'class': LocalFileLoader, 'format': 'parquet', 'filepath': './out.parquet'},
    }

Each ``class`` is constructed with its own table as the sole argument (a class, or a
``"package.module:Class"`` string). An extractor's ``extract()`` returns a DuckDB relation, an Arrow
table or reader, a pandas or polars DataFrame, or an iterable of records (dicts);
:func:`extractor_resource` makes it a Headwater resource. A loader is a Headwater destination or any
object with ``load(records)`` taking a DuckDB relation (:func:`make_loader`,
:class:`~headwater.destinations.loader.LoaderDestination`). A transformer is a DuckDB query over
``records`` with bound parameters, or a function: the resource's ``transform``, run by the pipeline's
transform step (:mod:`headwater.pipelines.transforming`) on the extracted data normalized;
:func:`transform_relation` applies one to data in memory as it is. See docs/hippo.md.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from headwater.destinations import available
from headwater.destinations.loader import LoaderDestination
from headwater.destinations.protocol import Destination
from headwater.errors import ConfigError, did_you_mean
from headwater.streams.resource import Resource, make_resource

#: rows per Arrow record batch read from a DuckDB relation
DEFAULT_BATCH_SIZE = 100_000
#: what ``extract()`` (and a function transformer) may return, for error messages
ACCEPTED = (
    "a DuckDB relation, an Arrow table or RecordBatchReader, a pandas or polars DataFrame, "
    "or an iterable (a list, a generator) of dicts"
)


class Extractor(ABC):
    """The base of an extractor (optional: any object with ``extract()`` works).

    Args:
        config: the extractor's table in the pipeline configuration (``class`` included).
    """

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config

    @abstractmethod
    def extract(self) -> Any:
        """The data: a DuckDB relation, an Arrow table or reader, a DataFrame or an iterable of dicts."""


class Loader(ABC):
    """The base of a loader (optional: any object with ``load(records)`` works).

    Give ``load`` a ``table`` keyword argument to receive child tables too (one call per table).

    Args:
        config: the loader's table in the pipeline configuration (``class`` included).
    """

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config

    @abstractmethod
    def load(self, records: Any) -> None:
        """Write ``records``, a DuckDB relation valid for the length of the call."""


# -- construction ----------------------------------------------------------------------------------
def resolve_object(spec: Any, what: str) -> Any:
    """A class or function given as itself or as ``"package.module:attr"`` (``package.module.attr`` too).

    Raises:
        ConfigError: the module cannot be imported or has no such attribute (with a "did you mean").
    """
    if not isinstance(spec, str):
        return spec
    module_name, sep, attr = spec.partition(":")
    if not sep:
        module_name, _, attr = spec.rpartition(".")
    if not module_name or not attr:
        raise ConfigError(f"{what} {spec!r} is not an importable name", hint="write 'package.module:attribute'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"{what} {spec!r}: cannot import {module_name!r}: {exc}") from exc
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            known = [n for n in dir(target) if not n.startswith("_")]
            raise ConfigError(
                f"{what} {spec!r}: {module_name!r} has no attribute {attr!r}",
                hint=did_you_mean(part, known, listing="it has"),
            )
        target = getattr(target, part)
    return target


def _construct(table: Mapping[str, Any], what: str) -> Any:
    if not isinstance(table, Mapping):
        raise ConfigError(f"the {what} must be a table (a dict), got {type(table).__name__}")
    if "class" not in table:
        raise ConfigError(f"the {what} table has no 'class'", hint=f"keys given: {', '.join(map(str, table))}")
    cls = resolve_object(table["class"], f"{what} class")
    if not callable(cls):
        raise ConfigError(f"the {what} class {cls!r} is not a class")
    try:
        return cls(table if isinstance(table, dict) else dict(table))
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(f"constructing the {what} {getattr(cls, '__name__', cls)!r} failed: {exc!r}") from exc


def make_extractor(table: Mapping[str, Any]) -> Any:
    """The extractor of an ``extractor`` table: its ``class`` constructed with the table as sole argument.

    Raises:
        ConfigError: no ``class``, an unimportable one, a failing constructor, or an object without
            ``extract()``.
    """
    extractor = _construct(table, "extractor")
    if not callable(getattr(extractor, "extract", None)):
        raise ConfigError(
            f"the extractor {type(extractor).__name__} has no extract() method",
            hint=f"extract() returns {ACCEPTED}",
        )
    return extractor


def _is_destination_class(cls: Any) -> bool:
    """Whether ``cls`` is the class of a known destination (built-in or entry point), told by its
    module and name, without importing any destination."""
    if not isinstance(cls, type):
        return False
    for target in available().values():
        module, _, attr = target.partition(":")
        if cls.__qualname__ == attr and (cls.__module__ == module or cls.__module__.startswith(module + ".")):
            return True
    return False


def make_loader(table: Mapping[str, Any]) -> Destination:
    """The destination of a ``loader`` table.

    * ``{'class': C, ...}``: ``C`` is constructed with the table as sole argument; a Headwater
      destination is used as it is, an object with ``load(records)`` is wrapped in a
      :class:`~headwater.destinations.loader.LoaderDestination`. A known Headwater destination class
      (``DuckDBDestination``) is constructed with the table's ``config`` as keyword arguments instead.
    * ``{'destination': 'duckdb', 'config': {'path': 'x.duckdb'}}``: a destination by name (or URI,
      or a destination object), ``config`` its keyword arguments (``hw.destinations.duckdb(**config)``).

    Raises:
        ConfigError: neither key, both, an unknown destination, or an object that is neither a
            destination nor has ``load``.
    """
    if not isinstance(table, Mapping):
        raise ConfigError(f"the loader must be a table (a dict), got {type(table).__name__}")
    if ("class" in table) == ("destination" in table):
        raise ConfigError(
            "the loader table needs a 'class' or a 'destination' (one of them)",
            hint=f"keys given: {', '.join(map(str, table)) or 'none'}",
        )
    config = table.get("config") or {}
    if not isinstance(config, Mapping):
        raise ConfigError(f"the loader's config must be a table, got {type(config).__name__}")
    if "destination" in table:
        return _named_destination(table["destination"], dict(config))
    cls = resolve_object(table["class"], "loader class")
    if _is_destination_class(cls):
        return _built(cls, dict(config))
    made = _construct(table, "loader")
    if isinstance(made, Destination):
        return made
    if callable(getattr(made, "load", None)):
        return LoaderDestination(made)
    raise ConfigError(
        f"the loader {type(made).__name__} is neither a Headwater destination nor has a load(records) method"
    )


def _named_destination(spec: Any, config: dict[str, Any]) -> Destination:
    if isinstance(spec, Destination):
        if config:
            raise ConfigError("a destination object takes no 'config'", hint="configure the object itself")
        return spec
    if not isinstance(spec, str):
        raise ConfigError(f"the loader's destination must be a name, a URI or a destination, got {spec!r}")
    known = available()
    name, sep, _ = spec.partition(":")
    if name not in known:
        raise ConfigError(f"unknown destination {spec!r}", hint=did_you_mean(name, known, listing="known destinations"))
    cls = resolve_object(known[name], "destination")
    if sep:
        if config:
            raise ConfigError(f"the destination URI {spec!r} takes no 'config'", hint="put the settings in the URI")
        return cls.from_uri(spec)
    return _built(cls, config)


def _built(cls: Any, config: dict[str, Any]) -> Destination:
    try:
        made = cls(**config)
    except TypeError as exc:
        raise ConfigError(f"the destination {cls.__name__} does not take this config: {exc}") from exc
    if not isinstance(made, Destination):
        raise ConfigError(f"{cls.__name__} did not make a destination")
    return made


# -- transformers ----------------------------------------------------------------------------------
def transform_relation(relation: Any, spec: Mapping[str, Any], *, base_dir: Path | None = None) -> Any:
    """Apply a transform to data in memory, as it is (no normalization): for a quick look or a test.

    A pipeline runs transforms with :mod:`headwater.pipelines.transforming` instead (``records``
    normalized, row-wise queries per batch, the others staged on disk); both check and bind the
    spec with :func:`headwater.transform.make_transform`.

    Args:
        relation: the data (a DuckDB relation, Arrow, a DataFrame, dicts).
        spec: ``{'query_path': 'q.sql'}`` or ``{'query': 'SELECT ...'}`` (a DuckDB query over
            ``records``) with ``params`` (``$name``) and/or Hippo's ``kwargs`` (``{name}``), both bound,
            never formatted into the SQL; or ``{'function': fn_or_'pkg.mod:fn', 'kwargs': {...}}``,
            called as ``fn(relation, **kwargs)`` with a DuckDB relation.
        base_dir: the folder ``query_path`` is relative to (default: the current folder).

    Returns:
        A DuckDB relation (its in-memory connection closes when the relation is garbage collected), or
        what the function returned.

    Raises:
        ConfigError: a malformed spec, an unreadable query file, a placeholder without a value.
    """
    import duckdb

    from headwater.flows.transforms import checked_transform

    transform = checked_transform(_checked_table(spec), base_dir)
    if transform.function is not None:
        # other data becomes a relation on DuckDB's default connection, as Hippo's extractors make theirs
        data = relation if _is_relation(relation) else duckdb.from_arrow(_as_arrow(relation, "extract()"))
        return transform.function(data, **dict(transform.kwargs))
    assert transform.sql is not None
    con = duckdb.connect()
    con.register("records", _Rescan(relation) if _is_relation(relation) else _as_arrow(relation, "extract()"))
    params = dict(transform.params)
    try:
        return con.sql(transform.sql, params=params) if params else con.sql(transform.sql)
    except duckdb.Error as exc:
        raise ConfigError(f"the transformer query failed: {exc}") from exc


def _checked_table(spec: Any) -> Mapping[str, Any]:
    if not isinstance(spec, Mapping):
        raise ConfigError(f"the transformer must be a table (a dict), got {type(spec).__name__}")
    return spec


class _Rescan:
    """A DuckDB relation of another connection as an Arrow stream that can be scanned again (each
    scan runs the relation again, batch by batch), so a query may read ``records`` twice."""

    def __init__(self, relation: Any, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        self.relation = relation
        self.batch_size = batch_size

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        return _reader(self.relation, self.batch_size).__arrow_c_stream__(requested_schema)


def _is_relation(obj: Any) -> bool:
    return type(obj).__name__ == "DuckDBPyRelation"


def _reader(relation: Any, batch_size: int) -> Any:
    """A relation's rows as a ``pyarrow.RecordBatchReader`` (whatever the DuckDB version calls it)."""
    if hasattr(relation, "to_arrow_reader"):
        return relation.to_arrow_reader(batch_size)
    return relation.fetch_record_batch(batch_size)


def _kind(obj: Any) -> str | None:
    """``arrow``, ``reader``, ``pandas``, ``polars`` or ``stream`` for data a query can read, else None."""
    import pyarrow as pa

    if isinstance(obj, pa.Table | pa.RecordBatch):
        return "arrow"
    if isinstance(obj, pa.RecordBatchReader):
        return "reader"
    module = type(obj).__module__.partition(".")[0]
    if module in ("pandas", "polars") and type(obj).__name__ == "DataFrame":
        return module
    if hasattr(obj, "__arrow_c_stream__"):
        return "stream"
    return None


def _as_arrow(data: Any, what: str) -> Any:
    """Data a DuckDB connection can scan: Arrow as it is, a DataFrame as Arrow, dicts as a table."""
    import pyarrow as pa

    kind = _kind(data)
    if kind == "polars":
        return data.to_arrow()
    if kind == "pandas":
        return pa.Table.from_pandas(data, preserve_index=False)
    if kind is not None:
        return data
    if isinstance(data, Mapping):
        return pa.Table.from_pylist([dict(data)])
    if isinstance(data, Iterable) and not isinstance(data, str | bytes):
        rows = list(data)
        if not all(isinstance(r, Mapping) for r in rows):
            raise ConfigError(f"{what} returned an iterable holding something else than dicts", hint=ACCEPTED)
        return pa.Table.from_pylist([dict(r) for r in rows])
    raise ConfigError(f"{what} returned {type(data).__name__}, which cannot be loaded", hint=f"return {ACCEPTED}")


# -- the resource ----------------------------------------------------------------------------------
def extractor_resource(
    extractor: Any,
    *,
    name: str,
    hints: Mapping[str, Any] | None = None,
    transformer: Mapping[str, Any] | None = None,
    base_dir: Path | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> Resource:
    """A Headwater resource whose items come from ``extractor.extract()``, called when it is extracted.

    A DuckDB relation is streamed as Arrow record batches of ``batch_size`` rows (its connection is
    kept alive while they are read); Arrow tables and readers, pandas and polars frames go as they
    are; an iterable of dicts row by row. Afterwards the extractor's ``close()`` is called if it has one.

    Args:
        extractor: an object with ``extract()`` (see :func:`make_extractor`).
        name: the resource name (and table name unless ``hints`` give one).
        hints: table hints (``write_disposition``, ``primary_key``, ``max_nesting``...).
        transformer: a Hippo transformer, the resource's ``transform`` (:func:`headwater.transform.make_transform`).
        base_dir: the folder a transformer's ``query_path`` is relative to.
        batch_size: rows per record batch read from a relation.

    Raises:
        ConfigError: (when extracted) ``extract()`` returned something that cannot be loaded; the
            message says what it returned and what is accepted.
    """
    if not callable(getattr(extractor, "extract", None)):
        raise ConfigError(f"{type(extractor).__name__} has no extract() method", hint=f"extract() returns {ACCEPTED}")
    transform = None
    if transformer is not None:
        from headwater.flows.transforms import checked_transform

        transform = checked_transform(_checked_table(transformer), base_dir)

    def items() -> Iterator[Any]:
        try:
            yield from _items(extractor.extract(), f"{type(extractor).__name__}.extract()", batch_size)
        finally:
            close: Callable[[], Any] | None = getattr(extractor, "close", None)
            if callable(close):
                close()

    return make_resource(items, name=name, transform=transform, **dict(hints or {}))


def _items(data: Any, what: str, batch_size: int) -> Iterator[Any]:
    """The items of what ``extract()`` (or a transformer) returned."""
    import pyarrow as pa

    if _is_relation(data):
        relation = data  # held (and its connection with it) until the last batch is read
        yield from _reader(relation, batch_size)
        return
    kind = _kind(data)
    if kind == "reader":
        yield from data
        return
    if kind is not None:
        yield data
        return
    if isinstance(data, Mapping):
        yield dict(data)
        return
    if data is None or isinstance(data, str | bytes) or not isinstance(data, Iterable):
        raise ConfigError(f"{what} returned {type(data).__name__}, which cannot be loaded", hint=f"return {ACCEPTED}")
    for item in data:
        if isinstance(item, Mapping):
            yield item if type(item) is dict else dict(item)
        elif isinstance(item, pa.RecordBatch) or _kind(item) is not None:
            yield item
        else:
            raise ConfigError(
                f"{what} returned an iterable holding a {type(item).__name__}, which cannot be loaded",
                hint=f"return {ACCEPTED}",
            )
