"""TEMPORARY shim; the registry helper's module replaces it."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

from headwater.errors import ConfigError, did_you_mean

_BUILTIN = {
    "rest_api": "headwater.sources.registry:_rest_api",
    "sql_database": "headwater.sources.sql_database:sql_database",
    "filesystem": "headwater.sources.filesystem:filesystem",
}


def available() -> dict[str, str]:
    """Names."""
    return dict(_BUILTIN)


def factory(name: str) -> Callable[..., Any]:
    """Factory."""
    known = available()
    if name not in known:
        raise ConfigError(f"unknown source {name!r}", hint=did_you_mean(name, known))
    module, _, attr = known[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def make(name: str, config: Mapping[str, Any]) -> Any:
    """Make."""
    return factory(name)(**config)


def _rest_api(client: Any, resources: Any, resource_defaults: Any = None) -> Any:
    """Rest."""
    from headwater.sources.rest_api import rest_api

    config = {"client": client, "resources": resources}
    if resource_defaults is not None:
        config["resource_defaults"] = resource_defaults
    return rest_api(config)
