"""The transform of a resource: what a user writes, checked once, at the edge, into a :class:`Transform`.

A transform is DuckDB SQL over ``records`` (the resource's root table after normalization; its child
tables are ``records__<list>``), given inline or as a file (``query_path``), with bound parameters
(``$name`` from ``params``, Hippo's ``{name}`` from ``kwargs``), or a Python function that takes the
records as a DuckDB relation and returns a relation, an Arrow table or reader, or a DataFrame::

    "select id, upper(name) as name from records where amount > $least"
    {"query": "...", "params": {"least": 10}}
    {"query_path": "queries/clean.sql", "kwargs": {"since": "2024-01-01"}}
    {"function": fn, "kwargs": {"key": "id"}}

The engine that runs it is :mod:`headwater.pipelines.transforming`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from headwater.errors import ConfigError, did_you_mean
from headwater.transform.params import bind_sql
from headwater.transform.rowwise import is_row_wise

#: the keys of a transform table
TRANSFORM_KEYS = ("query", "query_path", "function", "params", "kwargs", "memory_limit")
#: DuckDB's memory cap for the staging database of a transform that is not row-wise
DEFAULT_MEMORY_LIMIT = "256MB"


@dataclass(frozen=True)
class Transform:
    """A checked transform.

    Attributes:
        sql: the query with ``$name`` parameters only (None for a function).
        params: the values bound to the query's parameters.
        function: the Python function (None for a query).
        kwargs: keyword arguments of the function.
        row_wise: whether the query runs batch by batch (else over all the data, staged on disk).
        memory_limit: DuckDB's ``memory_limit`` for the staging database (it spills beyond it).
        text: the query as written, or the function's name, for messages.
    """

    sql: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    function: Callable[..., Any] | None = None
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    row_wise: bool = False
    memory_limit: str = DEFAULT_MEMORY_LIMIT
    text: str = ""


def make_transform(
    spec: Any,
    params: Mapping[str, Any] | None = None,
    *,
    base_dir: Path | None = None,
    resource: str | None = None,
) -> Transform:
    """The :class:`Transform` of what a user wrote.

    Args:
        spec: SQL text, a ``pathlib.Path`` to a query file, a function, a table (``query``,
            ``query_path`` or ``function`` with ``params``, ``kwargs``, ``memory_limit``), or a Transform.
        params: values of ``$name`` parameters (beside a table's own ``params``).
        base_dir: the folder a relative ``query_path`` is read from (default: the current folder).
        resource: the resource's name, for messages.

    Raises:
        ConfigError: an unknown key (with a "did you mean"), not exactly one of query, query_path and
            function, an unreadable file, text that is not one query, a placeholder without a value.
    """
    try:
        return _make(spec, params, base_dir)
    except ConfigError as exc:
        if not resource or exc.where.get("resource"):
            raise
        raise ConfigError(exc.message, hint=exc.hint, **{**exc.where, "resource": resource}) from exc


def _make(spec: Any, params: Mapping[str, Any] | None, base_dir: Path | None) -> Transform:
    if isinstance(spec, Transform):
        if params:
            raise ConfigError("params= goes with SQL text, not with a built Transform")
        return spec
    if isinstance(spec, str):
        table: Mapping[str, Any] = {"query": spec}
    elif isinstance(spec, PurePath):
        table = {"query_path": spec}
    elif isinstance(spec, Mapping):
        table = spec
    elif callable(spec):
        table = {"function": spec}
    else:
        raise ConfigError(
            f"transform= takes SQL text, a path, a function or a table, got {type(spec).__name__}",
            hint="for example transform='select id, name from records'",
        )
    for key in table:
        if key not in TRANSFORM_KEYS:
            raise ConfigError(
                f"the transform has an unknown key {key!r}", hint=did_you_mean(str(key), TRANSFORM_KEYS, listing="keys")
            )
    given = [k for k in ("query", "query_path", "function") if k in table]
    if len(given) != 1:
        raise ConfigError(
            "the transform needs one of 'query', 'query_path' or 'function'"
            + (f", got {' and '.join(given)}" if given else "")
        )
    for key in ("params", "kwargs"):
        if table.get(key) is not None and not isinstance(table[key], Mapping):
            raise ConfigError(f"the transform's {key} must be a table, got {type(table[key]).__name__}")
    if params is not None and not isinstance(params, Mapping):
        raise ConfigError(f"params must be a mapping of names to values, got {type(params).__name__}")
    if params and table.get("params"):
        raise ConfigError("params given twice: in the transform table and as params=", hint="give them in one place")
    limit = table.get("memory_limit", DEFAULT_MEMORY_LIMIT)
    if not isinstance(limit, str) or not limit.strip():
        raise ConfigError(f"the transform's memory_limit must be text such as '512MB', got {limit!r}")
    kwargs = table.get("kwargs")
    if "function" in table:
        fn = table["function"]
        if not callable(fn):
            raise ConfigError(
                f"the transform function {fn!r} is not callable",
                hint="give the function itself (flows files: 'package.module:function')",
            )
        if params or table.get("params"):
            raise ConfigError("a transform function takes kwargs, not params")
        name = getattr(fn, "__qualname__", None) or repr(fn)
        return Transform(function=fn, kwargs=dict(kwargs or {}), memory_limit=limit, text=name)
    text = _query_text(table, base_dir)
    values = dict(params or table.get("params") or {})
    sql, used = bind_sql(text, values, dict(kwargs) if kwargs is not None else None)
    return Transform(sql=sql, params=used, row_wise=is_row_wise(sql), memory_limit=limit, text=text)


def _query_text(table: Mapping[str, Any], base_dir: Path | None) -> str:
    if "query" in table:
        if not isinstance(table["query"], str) or not table["query"].strip():
            raise ConfigError("the transform's query must be SQL text")
        return table["query"]
    path = Path(table["query_path"]).expanduser()
    if not path.is_absolute():
        path = (base_dir or Path.cwd()) / path
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the transform query {str(path)!r}: {exc}") from exc
