"""Destinations: where loads land. One folder per destination behind one small protocol.

The built-in destinations are the lines of :data:`_BUILTIN`: adding one is its folder under
``headwater/destinations/`` and one line there (``hw.destinations.<folder>(...)``, ``__all__`` and
name lookup all derive from it). Other packages add destinations by declaring an entry point in the
``headwater.destinations`` group (``mydb = "my_package.mydb:MyDestination"``); a built-in name
cannot be taken by one.
"""

from __future__ import annotations

import importlib
from typing import Any

from headwater.destinations.protocol import Capabilities, Destination, DestinationClient, LoadResult
from headwater.errors import ConfigError, did_you_mean

#: The built-in destinations: a name (what ``destination="..."`` and URIs start with) and the class
#: that implements it, in the folder ``headwater/destinations/<folder>/``. The one list to extend.
_BUILTIN: dict[str, str] = {
    "duckdb": "headwater.destinations.duckdb:DuckDBDestination",
    "postgres": "headwater.destinations.postgres:PostgresDestination",
    "postgresql": "headwater.destinations.postgres:PostgresDestination",
    "filesystem": "headwater.destinations.filesystem:FilesystemDestination",
    "iceberg": "headwater.destinations.iceberg:IcebergDestination",
    "delta": "headwater.destinations.delta:DeltaDestination",
}
#: the folders of the built-in destinations: ``hw.destinations.<folder>`` is that (callable) package
_FOLDERS = tuple(sorted({target.partition(":")[0].rsplit(".", 1)[1] for target in _BUILTIN.values()}))
#: entry points of other packages name their destinations in this group
_ENTRY_POINT_GROUP = "headwater.destinations"

__all__ = [
    "Capabilities",
    "Destination",
    "DestinationClient",
    "LoadResult",
    "available",
    "resolve",
    *_FOLDERS,
]


def available() -> dict[str, str]:
    """Destination names and the classes that implement them (``module:Class``): the built-in ones,
    then those of the ``headwater.destinations`` entry points (a built-in name stays built-in)."""
    from importlib.metadata import entry_points  # reads every installed package's metadata: only when asked

    found = dict(_BUILTIN)
    for ep in entry_points(group=_ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep.value)
    return found


def _load(target: str) -> Any:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def resolve(spec: Any, pipeline_name: str) -> Destination:
    """A destination from a name (``"duckdb"``), a URI (``"duckdb:///data/x.duckdb"``) or an object."""
    if spec is None:
        spec = "duckdb"
    if isinstance(spec, str):
        name, sep, _ = spec.partition(":")
        known = _BUILTIN if name in _BUILTIN else available()  # a built-in name is never an entry point's
        if name not in known:
            raise ConfigError(
                f"unknown destination {spec!r}", hint=did_you_mean(name, known, listing="known destinations")
            )
        cls = _load(known[name])
        destination = cls.from_uri(spec) if sep else cls()
    elif isinstance(spec, type):
        destination = spec()
    else:
        destination = spec
    if not isinstance(destination, Destination):
        raise ConfigError(
            f"{spec!r} is not a destination",
            hint="pass a name such as 'duckdb', a URI, or an object implementing the Destination protocol",
        )
    return destination.for_pipeline(pipeline_name)


def __getattr__(name: str) -> Any:
    # destinations are subpackages, imported when first used; ``hw.destinations.duckdb(...)`` calls
    # the (callable) package
    if name in _FOLDERS:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_FOLDERS})
