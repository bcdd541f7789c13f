"""Resources: named streams of items with hints about the table they write.

A resource wraps a generator function (sync or async), an iterable, or a transformer function fed by
a parent resource. Items flow through the resource's steps (maps, filters, a limit) in the order they
were added. The decorator :func:`resource` and :func:`transformer` build them; calling a decorated
resource binds arguments and returns a new resource, so one definition serves many configurations.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Unpack

from headwater import names
from headwater.errors import ConfigError, DataError
from headwater.schema.hints import HintArgs, TableHints, build_hints, check_arguments
from headwater.transform import Transform, make_transform

StepKind = Literal["map", "filter", "limit"]


@dataclass(frozen=True)
class Step:
    """One transformation applied to the items of a resource."""

    kind: StepKind
    fn: Callable[[Any], Any] | None = None
    max_items: int | None = None


def _is_row_list(item: Any) -> bool:
    return isinstance(item, list | tuple)


class Resource:
    """A named stream of items and the hints for the table(s) it writes.

    Do not build it directly: use :func:`headwater.resource` or :func:`headwater.transformer`.
    """

    def __init__(
        self,
        data: Any,
        *,
        name: str,
        hints: TableHints,
        parent: Resource | None = None,
        selected: bool = True,
        transformer: bool = False,
        bound: bool = False,
        args: tuple[Any, ...] = (),
        kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        self.name = names.resource_name(name)
        self.hints = hints
        self.parent = parent
        self.selected = selected
        self._transformer = transformer or parent is not None
        self._data = data
        self._bound = bound
        self._args = args
        self._kwargs = dict(kwargs or {})
        self._steps: list[Step] = []
        #: the transform applied to the resource's normalized rows before they load (``transform=``)
        self.transform: Transform | None = None
        #: the partitions the resource is read in (``partitions=``): a list of values, or a function
        #: returning them; None for a resource read whole (see :mod:`headwater.pipelines.parts`)
        self.partitions: Sequence[Any] | Callable[[], Iterable[Any]] | None = None
        #: ``"own"``: each partition has its own ``hw.state()`` and cursor; ``"shared"``: every partition
        #: starts from the resource's and the run keeps the furthest cursor (key ranges of one table)
        self.partition_state: Literal["own", "shared"] = "own"
        #: the keys of the partitions a run reads (None: all of them; see :meth:`only_partitions`)
        self.partition_keys: tuple[str, ...] | None = None

    # -- binding ---------------------------------------------------------------------------------
    @property
    def is_transformer(self) -> bool:
        """Whether the resource is a transformer (it takes the items of another resource)."""
        return self._transformer

    def __call__(self, *args: Any, **kwargs: Any) -> Resource:
        """Bind arguments to the resource function and return a new resource."""
        if not callable(self._data):
            raise ConfigError(
                f"resource {self.name!r} wraps data, not a function, so it takes no arguments",
                resource=self.name,
            )
        clone = self._copy()
        clone._args = args
        clone._kwargs = kwargs
        clone._bound = True
        return clone

    def _copy(self) -> Resource:
        clone = copy.copy(self)
        clone._steps = list(self._steps)
        clone._kwargs = dict(self._kwargs)
        return clone

    def __or__(self, other: Resource) -> Resource:
        """``parent | transformer``: feed this resource's items into a transformer."""
        if not isinstance(other, Resource) or not other.is_transformer:
            raise ConfigError(f"cannot pipe resource {self.name!r} into {other!r}: not a transformer")
        clone = other._copy()
        clone.parent = self
        clone._transformer = True
        return clone

    # -- steps -----------------------------------------------------------------------------------
    def add_map(self, fn: Callable[[Any], Any]) -> Resource:
        """Transform every row (a dict) or every other item (an Arrow table, a frame) with ``fn``.

        Modifies the resource in place and returns it, so calls chain.
        """
        self._steps.append(Step("map", fn=fn))
        return self

    def add_filter(self, fn: Callable[[Any], bool]) -> Resource:
        """Keep only the rows for which ``fn`` returns true. Modifies in place, returns the resource."""
        self._steps.append(Step("filter", fn=fn))
        return self

    def add_limit(self, max_items: int) -> Resource:
        """Stop after ``max_items`` items (pages or rows, as yielded). Modifies in place."""
        if not isinstance(max_items, int) or max_items < 0:
            raise ConfigError(f"add_limit needs a non-negative integer, got {max_items!r}", resource=self.name)
        self._steps.append(Step("limit", max_items=max_items))
        return self

    def with_transform(self, transform: Any, *, params: Mapping[str, Any] | None = None) -> Resource:
        """A copy of the resource whose rows go through ``transform`` before they load (None: no transform).

        ``transform`` is SQL over ``records`` (the normalized root table; child tables are
        ``records__<list>``), a ``pathlib.Path`` to a query file, a function of a DuckDB relation, or a
        table (``query``/``query_path``/``function`` with ``params``, ``kwargs``, ``memory_limit``); see
        :func:`headwater.transform.make_transform`.
        """
        clone = self._copy()
        clone.transform = None if transform is None else make_transform(transform, params, resource=self.name)
        return clone

    def partition_values(self) -> list[Any]:
        """The resource's partitions (its ``partitions=`` list, or what its function returns now).

        Raises:
            ConfigError: the resource has no partitions, the function fails or returns something
                that is not a list of values, or two partitions have the same key.
        """
        from headwater.streams.partitions import partition_values

        return partition_values(self)

    def only_partitions(self, keys: Iterable[str]) -> Resource:
        """A copy of the partitioned resource that reads only the partitions with these keys (an
        orchestrator's partition, a backfill of some days); an unknown key fails when the run lists them."""
        if self.partitions is None:
            raise ConfigError(f"resource {self.name!r} has no partitions to choose from", resource=self.name)
        clone = self._copy()
        clone.partition_keys = tuple(str(k) for k in keys)
        return clone

    def for_partition(self, value: Any) -> Resource:
        """A copy of the resource that reads one partition: its function gets ``partition=value``."""
        clone = self._copy()
        clone._kwargs["partition"] = value
        clone._bound = True
        clone.partitions = None
        return clone

    @check_arguments
    def apply_hints(self, **hints: Unpack[HintArgs]) -> Resource:
        """Change the table hints (see :class:`~headwater.schema.hints.HintArgs`). Modifies in place."""
        self.hints = build_hints(resource=self.name, base=self.hints, **hints)
        return self

    # -- iteration -------------------------------------------------------------------------------
    def is_async(self) -> bool:
        """Whether iterating the resource itself needs an event loop."""
        fn = self._data
        return inspect.isasyncgenfunction(fn) or inspect.isasyncgen(fn) or hasattr(fn, "__anext__")

    @property
    def origin(self) -> str:
        """Where the resource's items come from, for its access record: ``module.function`` of the
        function (or generator) it wraps, else the kind of data it wraps (``list``)."""
        data = self._data
        target = getattr(data, "gi_code", None) or getattr(data, "ag_code", None)
        if target is not None:  # a generator object: its function's name
            return f"{getattr(data, '__module__', None) or '?'}.{target.co_qualname}"
        if callable(data):
            module = getattr(data, "__module__", None) or "?"
            return f"{module}.{getattr(data, '__qualname__', None) or type(data).__qualname__}"
        return type(data).__qualname__

    def steps(self) -> list[Step]:
        """The steps added to the resource (maps, filters, limits...), in order."""
        return list(self._steps)

    def __iter__(self) -> Iterator[Any]:
        """Iterate all items of the resource (and its parent chain), with steps applied."""
        from headwater.streams.engine import iterate_resource

        for resource, item in iterate_resource(self):
            if resource is self:
                yield item

    def __repr__(self) -> str:
        kind = "transformer" if self.is_transformer else "resource"
        return f"<{kind} {self.name!r} table={self.hints.table_name or self.name!r}>"


class StepChain:
    """Runs a resource's steps on items pushed one at a time (rows inside lists one by one).

    An incremental cursor, if the resource has one, filters first, on the raw items. Limits count the
    items that reach them; once every limit is reached, :attr:`done` turns true and
    the producer stops pulling from the source (so ``add_limit`` also bounds an endless generator).
    """

    def __init__(self, steps: list[Step], resource: str, incremental: Any = None) -> None:
        self.steps = steps
        self.resource = resource
        self.incremental = incremental
        self.counts = [0] * len(steps)
        self.done = any(s.kind == "limit" and s.max_items == 0 for s in steps)

    @property
    def passthrough(self) -> bool:
        """No steps and no cursor: items go through untouched."""
        return not self.steps and self.incremental is None

    def push(self, item: Any) -> list[Any]:
        """Run the steps on one item; return what comes out (empty if a filter or a limit dropped it)."""
        if self.incremental is not None:
            from headwater.cursors.apply import filter_item

            item = filter_item(self.incremental, item)
            if item is None:
                return []
        items = [item]
        for i, step in enumerate(self.steps):
            if not items:
                break
            if step.kind == "limit":
                assert step.max_items is not None
                room = step.max_items - self.counts[i]
                items = items[: max(room, 0)]
                self.counts[i] += len(items)
                if self.counts[i] >= step.max_items:
                    self.done = True
            else:
                assert step.fn is not None
                items = [out for it in items for out in self._apply(step, step.fn, it)]
        return items

    def _apply(self, step: Step, fn: Callable[[Any], Any], item: Any) -> list[Any]:
        try:
            if step.kind == "map":
                if _is_row_list(item):
                    return [[fn(row) for row in item]]
                return [fn(item)]
            if _is_row_list(item):
                kept = [row for row in item if fn(row)]
                return [kept] if kept else []
            return [item] if fn(item) else []
        except Exception as exc:
            kind = "map" if step.kind == "map" else "filter"
            raise DataError(
                f"the {kind} function {getattr(fn, '__name__', fn)!r} failed on an item: {exc!r}",
                resource=self.resource,
            ) from exc


def _is_frame_like(item: Any) -> bool:
    return hasattr(item, "__arrow_c_stream__") or hasattr(item, "__arrow_c_array__")


def _is_data_object(obj: Any) -> bool:
    """Callable objects that are data, not resource functions (e.g. pandas frames are not callable)."""
    return _is_frame_like(obj)


def _missing_arguments(fn: Callable[..., Any]) -> bool:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    return any(
        p.default is inspect.Parameter.empty
        and p.kind
        in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        for p in sig.parameters.values()
    )


def as_iterator(produced: Any) -> Iterator[Any] | AsyncIterator[Any]:
    """What a resource function produced, as an iterator of items.

    Generators and iterables are iterated; one Arrow table, frame, dict or list is one item.
    """
    if produced is None:
        return iter(())
    if hasattr(produced, "__anext__"):
        return produced
    if hasattr(produced, "__aiter__"):
        return produced.__aiter__()
    if isinstance(produced, dict | list | tuple | str | bytes) or _is_frame_like(produced):
        return iter((produced,))
    if _is_duckdb_relation(produced):
        return iter((produced,))
    if isinstance(produced, Iterator):
        return produced
    if isinstance(produced, Iterable):
        return iter(produced)
    return iter((produced,))


def _is_duckdb_relation(obj: Any) -> bool:
    return type(obj).__name__ == "DuckDBPyRelation"


def make_resource(
    data: Any,
    *,
    name: str | None = None,
    selected: bool = True,
    parent: Resource | None = None,
    transformer: bool = False,
    transform: Any = None,
    params: Mapping[str, Any] | None = None,
    partitions: Any = None,
    **hints: Unpack[HintArgs],
) -> Resource:
    """Build a resource from a function, a generator or any iterable of items (``transform``: see
    :meth:`Resource.with_transform`; ``partitions``: :mod:`headwater.streams.partitions`)."""
    if name is None:
        table_name = hints.get("table_name")
        name = data_name(data) or (table_name if isinstance(table_name, str) else None)
        if not name:
            raise ConfigError(
                "cannot infer a name for this data: pass table_name= (or name=)",
                hint="for example pipeline.run(rows, table_name='events')",
            )
    made = Resource(
        data,
        name=name,
        hints=build_hints(resource=name, **hints),
        parent=parent,
        selected=selected,
        transformer=transformer,
    )
    if transform is not None:
        made.transform = make_transform(transform, params, resource=made.name)
    elif params is not None:
        raise ConfigError("params= goes with transform=, which is not given", resource=made.name)
    if partitions is not None:
        from headwater.streams.partitions import check_partitions

        if transformer or parent is not None:
            raise ConfigError(
                "partitions= is for resources; a transformer runs per item of its parent", resource=made.name
            )
        made.partitions = check_partitions(data, partitions, made.name)
    return made


def data_name(data: Any) -> str | None:
    """The name a function or generator gives its data (``<lambda>``, ``<genexpr>`` give none)."""
    name = getattr(data, "__name__", None)
    if not isinstance(name, str) or not name or name.startswith("<"):
        return None
    return name
