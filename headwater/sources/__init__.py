"""Built-in sources, one folder each (rest_api, sql_database, filesystem, singer, airbyte).

Any Python iterable, generator or async generator is a source too: wrap it with ``@hw.resource``.
Sources load lazily: ``hw.sources.rest_api(config)`` imports httpx only when called.
"""

from __future__ import annotations

import importlib
from typing import Any

_SOURCES = ("rest_api", "sql_database", "filesystem")


def __getattr__(name: str) -> Any:
    if name in _SOURCES:
        return importlib.import_module(f"headwater.sources.{name}")
    raise AttributeError(f"module 'headwater.sources' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted((*globals(), *_SOURCES))
