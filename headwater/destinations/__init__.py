"""Destinations: where loads land. One folder per destination behind one small protocol.

Destinations are found by name through the ``headwater.destinations`` entry-point group, so a plugin
package adds one by declaring an entry point; the built-in ones are listed here too so that a source
checkout works without installation metadata.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

from headwater.destinations.protocol import Capabilities, Destination, DestinationClient, LoadResult
from headwater.errors import ConfigError, did_you_mean

__all__ = [
    "Capabilities",
    "Destination",
    "DestinationClient",
    "LoadResult",
    "available",
    "delta",
    "duckdb",
    "filesystem",
    "iceberg",
    "postgres",
    "resolve",
]

_BUILTIN = {
    "duckdb": "headwater.destinations.duckdb:DuckDBDestination",
    "postgres": "headwater.destinations.postgres:PostgresDestination",
    "postgresql": "headwater.destinations.postgres:PostgresDestination",
    "filesystem": "headwater.destinations.filesystem:FilesystemDestination",
    "iceberg": "headwater.destinations.iceberg:IcebergDestination",
    "delta": "headwater.destinations.delta:DeltaDestination",
}


def available() -> dict[str, str]:
    """Destination names and the classes that implement them."""
    found = dict(_BUILTIN)
    for ep in entry_points(group="headwater.destinations"):
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
        known = available()
        name, sep, _ = spec.partition(":")
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
    # destinations are subpackages; ``hw.destinations.duckdb(...)`` calls the (callable) module
    if name in ("duckdb", "postgres", "filesystem", "iceberg", "delta"):
        return importlib.import_module(f"headwater.destinations.{name}")
    raise AttributeError(f"module 'headwater.destinations' has no attribute {name!r}")
