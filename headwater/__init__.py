"""Headwater: move data from where it lives into analytical stores, correctly and fast.

::

    import headwater as hw

    @hw.resource(table_name="events")
    def events():
        yield {"id": 1, "payload": {"ok": True}, "tags": ["a", "b"]}

    info = hw.pipeline("demo", destination="duckdb", dataset="raw").run(events())
    print(info)

Importing ``headwater`` is cheap: the data path (Arrow, DuckDB) is imported on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it; resolved on first attribute access (PEP 562)
_EXPORTS = {
    "resource": "headwater.streams.decorators",
    "source": "headwater.streams.decorators",
    "transformer": "headwater.streams.decorators",
    "Resource": "headwater.streams.resource",
    "Source": "headwater.streams.source",
    "pipeline": "headwater.pipelines.pipeline",
    "Pipeline": "headwater.pipelines.pipeline",
    "LoadInfo": "headwater.pipelines.info",
    "Schema": "headwater.schema.model",
    "incremental": "headwater.cursors.cursor",
    "Incremental": "headwater.cursors.cursor",
    "state": "headwater.schema.state",
    "flow": "headwater.flows",
    "with_hints": "headwater.streams.hinted",
    "configure_logging": "headwater.pipelines.logsetup",
}
_MODULES = {"destinations", "errors", "executors", "flows", "schema", "streams", "sources"}
# public module name -> the module it is
_ALIASES = {"checks": "headwater.schema.checks", "metrics": "headwater.observe.metrics"}

__all__ = [
    "Incremental",
    "LoadInfo",
    "Pipeline",
    "Resource",
    "Schema",
    "Source",
    "__version__",
    "checks",
    "configure_logging",
    "destinations",
    "errors",
    "executors",
    "flow",
    "flows",
    "incremental",
    "metrics",
    "pipeline",
    "resource",
    "schema",
    "source",
    "sources",
    "state",
    "streams",
    "transformer",
    "with_hints",
]

if TYPE_CHECKING:
    from headwater import destinations, errors, executors, flows, schema, sources, streams
    from headwater.cursors.cursor import Incremental, incremental
    from headwater.flows import flow
    from headwater.observe import metrics
    from headwater.pipelines.info import LoadInfo
    from headwater.pipelines.logsetup import configure_logging
    from headwater.pipelines.pipeline import Pipeline, pipeline
    from headwater.schema import checks
    from headwater.schema.model import Schema
    from headwater.schema.state import state
    from headwater.streams.decorators import resource, source, transformer
    from headwater.streams.hinted import with_hints
    from headwater.streams.resource import Resource
    from headwater.streams.source import Source


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
    elif name in _MODULES:
        value = importlib.import_module(f"headwater.{name}")
    elif name in _ALIASES:
        value = importlib.import_module(_ALIASES[name])
    else:
        raise AttributeError(f"module 'headwater' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
