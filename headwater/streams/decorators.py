"""The decorators users write: ``@hw.source``, ``@hw.resource`` and ``@hw.transformer``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Unpack

from headwater.errors import ConfigError
from headwater.schema.hints import HintArgs, check_arguments
from headwater.streams.resource import Resource, make_resource
from headwater.streams.source import SourceFactory, make_source


@check_arguments
def resource(
    data: Any = None,
    *,
    name: str | None = None,
    selected: bool = True,
    transform: Any = None,
    params: Mapping[str, Any] | None = None,
    partitions: Any = None,
    **hints: Unpack[HintArgs],
) -> Any:
    """Declare a resource: a named stream of items that lands in a table.

    Use it as a decorator on a generator function (sync or async) or call it on data::

        @hw.resource(table_name="events", write_disposition="merge", primary_key="id")
        def events(updated=hw.incremental("updated_at", initial_value="2024-01-01")):
            yield from fetch(since=updated.start_value)

        rows = hw.resource([{"id": 1}], name="numbers")

    Args:
        data: the function or iterable (omit it to get a decorator).
        name: the resource name (default: the function name).
        selected: whether the resource is loaded when its source runs.
        transform: SQL over ``records`` (the normalized rows; child tables ``records__<list>``), a
            ``pathlib.Path`` to a query file, a function of a DuckDB relation, or a table
            (``query``/``query_path``/``function``, ``params``, ``kwargs``): the rows that load are
            its result (docs/transform.md, "Transform (ETL)").
        params: values of the query's ``$name`` parameters (bound, never formatted into the SQL).
        partitions: the parts the resource is read in: a list of values (key ranges, days, regions,
            file sets) or a function returning them. The function takes a ``partition`` argument and
            reads that part; each part is extracted and normalized on its own, on the pipeline's
            executor, and all of them load in one commit (docs/scale.md).
        **hints: table hints: ``table_name``, ``write_disposition``, ``merge_strategy``,
            ``primary_key``, ``merge_key``, ``dedup_sort``, ``columns``, ``max_nesting``,
            ``schema_contract``, ``incremental`` (see :class:`~headwater.schema.hints.HintArgs`).
    """

    def wrap(fn: Any) -> Resource:
        return make_resource(
            fn, name=name, selected=selected, transform=transform, params=params, partitions=partitions, **hints
        )

    if data is None:
        return wrap
    return wrap(data)


@check_arguments
def transformer(
    fn: Callable[..., Any] | None = None,
    *,
    data_from: Resource | None = None,
    name: str | None = None,
    selected: bool = True,
    **hints: Unpack[HintArgs],
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
        return make_resource(f, name=name, selected=selected, parent=data_from, transformer=True, **hints)

    if fn is None:
        return wrap
    return wrap(fn)


@check_arguments
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
