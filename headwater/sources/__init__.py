"""Built-in sources, one folder each (rest_api, sql_database, filesystem), and the registry of sources.

Any Python iterable, generator or async generator is a source too: wrap it with ``@hw.resource``.
Sources load lazily: ``hw.sources.rest_api(config)`` imports httpx only when called.

The registry (:mod:`headwater.sources.registry`) names every source, built-in or added by a package's
``headwater.sources`` entry point: ``hw.sources.available()``, ``hw.sources.options(name)``,
``hw.sources.make(name, config)``. See docs/sources.md.
"""

from __future__ import annotations

import importlib
from typing import Any

_SOURCES = ("rest_api", "sql_database", "filesystem", "singer", "airbyte")
#: the registry's functions, served from headwater.sources.registry when first used
_REGISTRY = ("SourceOption", "available", "describe", "factory", "make", "options")


def __getattr__(name: str) -> Any:
    if name in _SOURCES:
        return importlib.import_module(f"headwater.sources.{name}")
    if name in _REGISTRY:
        return getattr(importlib.import_module("headwater.sources.registry"), name)
    raise AttributeError(f"module 'headwater.sources' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted((*globals(), *_SOURCES, *_REGISTRY))
