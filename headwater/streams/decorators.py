"""The decorators users write: ``@hw.source``, ``@hw.resource`` and ``@hw.transformer``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from headwater.errors import ConfigError
from headwater.streams.resource import Resource, make_resource
from headwater.streams.source import SourceFactory, make_source

ColumnsHint = Mapping[str, Any] | Sequence[Mapping[str, Any]]


def resource(
    data: Any = None,
    *,
    name: str | None = None,
    table_name: str | Callable[[Any], str] | None = None,
    write_disposition: str | None = None,
    primary_key: str | Sequence[str] | None = None,
    columns: ColumnsHint | None = None,
    max_nesting: int | None = None,
    selected: bool = True,
) -> Any:
    """Declare a resource: a named stream of items that lands in a table.

    Use it as a decorator on a generator function (sync or async) or call it on data::

        @hw.resource(table_name="events", write_disposition="append", primary_key="id")
        def events(since: str = "2024-01-01"):
            yield from fetch(since)

        rows = hw.resource([{"id": 1}], name="numbers")

    Args:
        data: the function or iterable (omit it to get a decorator).
        name: the resource name (default: the function name).
        table_name: the table, static or a function of each item (default: the resource name).
        write_disposition: ``append`` (default) or ``replace``.
        primary_key: a column name or names.
        columns: column hints, e.g. ``{"price": "decimal(18,2)", "payload": "json"}``.
        max_nesting: how deep nested objects and lists are unpacked before being stored as JSON.
        selected: whether the resource is loaded when its source runs.
    """

    def wrap(fn: Any) -> Resource:
        return make_resource(
            fn,
            name=name,
            table_name=table_name,
            write_disposition=write_disposition,
            primary_key=primary_key,
            columns=columns,
            max_nesting=max_nesting,
            selected=selected,
        )

    if data is None:
        return wrap
    return wrap(data)


def transformer(
    fn: Callable[..., Any] | None = None,
    *,
    data_from: Resource | None = None,
    name: str | None = None,
    table_name: str | Callable[[Any], str] | None = None,
    write_disposition: str | None = None,
    primary_key: str | Sequence[str] | None = None,
    columns: ColumnsHint | None = None,
    max_nesting: int | None = None,
    selected: bool = True,
) -> Any:
    """Declare a transformer: a resource fed by the items of a parent resource.

    The function receives each item of the parent (a row, a page of rows or an Arrow table) as its
    first argument and yields items of its own::

        @hw.transformer(data_from=repos)
        def issues(repo):
            yield from fetch_issues(repo["full_name"])

    Without ``data_from`` the parent is given later with ``repos | issues``.
    """
    if data_from is not None and not isinstance(data_from, Resource):
        raise ConfigError(f"data_from must be a resource, got {type(data_from).__name__}")

    def wrap(f: Callable[..., Any]) -> Resource:
        if not callable(f):
            raise ConfigError(f"@hw.transformer decorates a function, got {f!r}")
        return make_resource(
            f,
            name=name,
            table_name=table_name,
            write_disposition=write_disposition,
            primary_key=primary_key,
            columns=columns,
            max_nesting=max_nesting,
            selected=selected,
            parent=data_from,
            transformer=True,
        )

    if fn is None:
        return wrap
    return wrap(fn)


def source(fn: Callable[..., Any] | None = None, *, name: str | None = None, max_nesting: int | None = None) -> Any:
    """Declare a source: a function that returns the resources of one schema.

    ::

        @hw.source
        def github(token: str):
            return [events, issues]

        pipeline.run(github(token))
    """

    def wrap(f: Callable[..., Any]) -> SourceFactory:
        return make_source(f, name=name, max_nesting=max_nesting)

    if fn is None:
        return wrap
    return wrap(fn)
