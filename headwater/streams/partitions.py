"""Partitions of a resource: the values it is read in, each read (and normalized) on its own.

``@hw.resource(partitions=[...])`` (or a function returning the values) declares them; the resource's
function takes a ``partition`` argument and reads that part only (a key range, a day, a file set, a
region). Each value has a key: the text that names it in the state, the working folder and messages
(a string is its own key; a number, a date or a datetime its ISO or decimal text; anything else its
canonical JSON). See :mod:`headwater.pipelines.parts` for how partitions run.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import inspect
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from headwater.errors import ConfigError, did_you_mean

if TYPE_CHECKING:
    from headwater.streams.resource import Resource

#: the longest partition key (a key names a state entry and, hashed, a folder)
MAX_KEY = 200


def partition_key(value: Any) -> str:
    """The key of a partition value (see the module docstring).

    Raises:
        ConfigError: a value JSON cannot hold (an object, a set...), or a key longer than :data:`MAX_KEY`.
    """
    if isinstance(value, str):
        key = value
    elif isinstance(value, bool) or value is None:
        key = orjson.dumps(value).decode()
    elif isinstance(value, int | float | decimal.Decimal):
        key = str(value)
    elif isinstance(value, dt.date | dt.datetime | dt.time):
        key = value.isoformat()
    else:
        try:
            key = orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=_plain).decode()
        except TypeError as exc:
            raise ConfigError(
                f"partition {value!r:.80} cannot be named: {exc}",
                hint="give partitions as strings, numbers, dates, or lists/dicts of them",
            ) from exc
    if not key or len(key) > MAX_KEY:
        raise ConfigError(
            f"partition {value!r:.80} has {'an empty' if not key else 'a too long'} key ({len(key)} characters)",
            hint=f"partition keys are 1 to {MAX_KEY} characters: give a shorter value (a date, a range as 'lo-hi')",
        )
    return key


def _plain(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, tuple | frozenset):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def folder_name(key: str) -> str:
    """A folder name for a partition key: a readable prefix and a hash (any key, no path tricks)."""
    readable = "".join(c if c.isalnum() or c in "-_" else "_" for c in key[:32])
    return f"{readable}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def check_partitions(fn: Any, partitions: Any, resource: str) -> Sequence[Any] | Callable[[], Iterable[Any]]:
    """``partitions=`` checked when the resource is declared: a list (or tuple) of values, or a
    function of no arguments; and the resource's function takes a ``partition`` argument.

    Raises:
        ConfigError: anything else, with what to write instead.
    """
    if isinstance(partitions, str | bytes) or not (isinstance(partitions, list | tuple) or callable(partitions)):
        raise ConfigError(
            f"partitions= takes a list of values or a function returning them, got {type(partitions).__name__}",
            hint="for example partitions=['2026-01', '2026-02'] or partitions=lambda: list_regions()",
            resource=resource,
        )
    if not callable(fn):
        raise ConfigError(
            "partitions= needs a resource function that reads one partition, not data",
            hint="def rows(partition): ... yields the rows of that partition",
            resource=resource,
        )
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        params = None
    if params is not None and "partition" not in params and not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        raise ConfigError(
            f"resource {resource!r} declares partitions but its function takes no 'partition' argument",
            hint=f"add it: def {getattr(fn, '__name__', resource)}(partition): ... (one partition value per call)",
            resource=resource,
        )
    if isinstance(partitions, list | tuple):
        partition_keys(list(partitions), resource)
    return partitions


def partition_keys(values: list[Any], resource: str) -> list[str]:
    """The keys of ``values``, checked to be distinct.

    Raises:
        ConfigError: two values with one key, or a value without a key.
    """
    keys = [partition_key(v) for v in values]
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            raise ConfigError(
                f"resource {resource!r} has partition {key!r} twice",
                hint="each partition is read once per run: give each value once",
                resource=resource,
            )
        seen.add(key)
    return keys


def partition_values(resource: Resource) -> list[Any]:
    """The partition values of ``resource`` now (a function of partitions is called)."""
    declared = resource.partitions
    if declared is None:
        raise ConfigError(f"resource {resource!r} has no partitions", resource=resource.name)
    if callable(declared):
        try:
            made = declared()
        except Exception as exc:
            raise ConfigError(
                f"the partitions function of resource {resource.name!r} failed: {type(exc).__name__}: {exc}",
                resource=resource.name,
            ) from exc
        if isinstance(made, str | bytes) or not isinstance(made, Iterable):
            raise ConfigError(
                f"the partitions function of resource {resource.name!r} returned {type(made).__name__}, not a list",
                resource=resource.name,
            )
        values = list(made)
    else:
        values = list(declared)
    keys = partition_keys(values, resource.name)
    chosen = resource.partition_keys
    if chosen is None:
        return values
    unknown = [k for k in chosen if k not in keys]
    if unknown:
        raise ConfigError(
            f"resource {resource.name!r} has no partition {unknown[0]!r}",
            hint=did_you_mean(unknown[0], keys, listing="partitions"),
            resource=resource.name,
        )
    return [v for v, k in zip(values, keys, strict=True) if k in chosen]


def only_partitions(data: Any, keys: Iterable[str]) -> Any:
    """``data`` (a source or a resource) reading only the partitions ``keys`` of its partitioned
    resources (a source's other resources are read whole, as always)."""
    from headwater.streams.resource import Resource
    from headwater.streams.source import Source

    keys = [str(k) for k in keys]
    if isinstance(data, Resource):
        return data.only_partitions(keys)
    if isinstance(data, Source):
        chosen = [r for r in data.resources.values() if r.partitions is not None and r.selected]
        if not chosen:
            raise ConfigError(f"source {data.name!r} has no partitioned resource to choose partitions of")
        for r in chosen:
            data.resources[r.name] = r.only_partitions(keys)
        return data
    raise ConfigError(f"partitions are chosen of a source or a resource, got {type(data).__name__}")
