"""One run of a resource: arguments bound, its incremental cursor bound to state, its steps ready.

An :class:`Invocation` is made inside :func:`headwater.schema.state.running`, so that the resource's
cursor reads the state of the pipeline that runs it. A cursor is found in the resource function's
arguments (a parameter whose default, or whose bound value, is an ``hw.incremental``) or in the
``incremental`` hint; the function receives the bound copy and reads ``.start_value`` from it.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from typing import Any

from headwater.cursors.cursor import Incremental
from headwater.errors import ConfigError
from headwater.observe import metrics
from headwater.schema.state import current
from headwater.streams.resource import Resource, StepChain, _is_data_object, _missing_arguments, as_iterator

_ITEM = object()  # stands for the parent item in a transformer's signature


class Invocation:
    """A resource, ready to run once."""

    def __init__(self, resource: Resource) -> None:
        self.resource = resource
        self._binding: inspect.BoundArguments | None = None
        self._item_param: str | None = None
        self.incremental: Incremental | None = None
        self._bind()
        self.chain = StepChain(resource.steps(), resource.name, self.incremental)

    # -- binding ---------------------------------------------------------------------------------
    def _bind(self) -> None:
        resource = self.resource
        fn = resource._data
        found: tuple[str | None, Incremental] | None = None
        if callable(fn) and not _is_data_object(fn):
            try:
                signature = inspect.signature(fn)
            except (TypeError, ValueError):
                signature = None
            if signature is not None:
                args = (_ITEM, *resource._args) if resource.is_transformer else resource._args
                try:
                    self._binding = signature.bind_partial(*args, **resource._kwargs)
                except TypeError as exc:
                    raise ConfigError(
                        f"resource {resource.name!r} was given arguments its function does not take: {exc}",
                        resource=resource.name,
                    ) from exc
                if resource.is_transformer and signature.parameters:
                    self._item_param = next(iter(signature.parameters))
                for name, parameter in signature.parameters.items():
                    value = self._binding.arguments.get(name, parameter.default)
                    if isinstance(value, Incremental):
                        found = (name, value)
                        break
        if found is None and resource.hints.incremental is not None:
            found = (None, resource.hints.incremental)
        if found is None:
            return
        param, cursor = found
        run = current()
        slots = run.state.incremental_state(run.source, resource.name) if run is not None else {}
        self.incremental = cursor.bind(slots, resource.name, resource.hints.source_primary_key)
        if param is not None and self._binding is not None:
            self._binding.arguments[param] = self.incremental

    def _call(self, item: Any = _ITEM) -> Any:
        fn = self.resource._data
        if self._binding is None:
            return fn(item) if item is not _ITEM else fn()
        if self._item_param is not None:
            self._binding.arguments[self._item_param] = item
        return fn(*self._binding.args, **self._binding.kwargs)

    # -- running ---------------------------------------------------------------------------------
    def open(self) -> Iterator[Any] | AsyncIterator[Any]:
        """Start a root resource; returns a sync or an async iterator of its raw items."""
        resource = self.resource
        data = resource._data
        if resource.is_transformer:
            raise ConfigError(f"transformer {resource.name!r} runs only when fed by its parent", resource=resource.name)
        if not callable(data) or _is_data_object(data):
            return as_iterator(data)
        if resource.partitions is not None and self._binding is not None and "partition" not in resource._kwargs:
            return self._each_partition()  # read here, outside a pipeline's partitions (a dry run, list())
        try:
            produced = self._call()
        except TypeError as exc:
            if not resource._bound and _missing_arguments(data) and self._binding is not None:
                missing = [
                    p.name
                    for p in inspect.signature(data).parameters.values()
                    if p.default is inspect.Parameter.empty
                    and p.name not in self._binding.arguments
                    and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
                ]
                if missing:
                    raise ConfigError(
                        f"resource {resource.name!r} needs arguments ({', '.join(missing)}): call it, e.g. "
                        f"{resource.name}(...), before passing it to a source or a pipeline",
                        resource=resource.name,
                    ) from exc
            raise
        return as_iterator(produced)

    def _each_partition(self) -> Iterator[Any]:
        """Every partition of the resource in turn, in this thread."""
        assert self._binding is not None
        for value in self.resource.partition_values():
            self._binding.arguments["partition"] = value
            iterator = as_iterator(self._call())
            if not isinstance(iterator, Iterator):
                raise ConfigError(
                    f"resource {self.resource.name!r}: partitions of an async resource run only in a pipeline",
                    resource=self.resource.name,
                )
            yield from iterator

    @property
    def is_async(self) -> bool:
        """Whether the transformer is an async generator function (it runs on an event loop)."""
        return inspect.isasyncgenfunction(self.resource._data)

    def transform(self, item: Any) -> Iterator[Any]:
        """Run a sync transformer on one parent item; yields what it produces."""
        produced = self._call(item)
        if inspect.iscoroutine(produced):
            produced.close()
            raise ConfigError(
                f"transformer {self.resource.name!r} is a coroutine function: make it a generator "
                "(async def with yield, or def with yield)",
                resource=self.resource.name,
            )
        iterator = as_iterator(produced)
        assert isinstance(iterator, Iterator)
        yield from iterator

    async def transform_async(self, item: Any) -> AsyncGenerator[Any, None]:
        """Run an async transformer on one parent item; yields what it produces."""
        produced = self._call(item)
        try:
            async for out in produced:
                yield out
        finally:
            await produced.aclose()

    def finish(self) -> None:
        """Save what the cursor saw into the state (the package carries it to the destination), and
        where it stands into the run's metrics."""
        if self.incremental is not None:
            self.incremental.commit()
            figures = metrics.current()
            if figures is not None:
                figures.note_cursor(self.incremental.cursor_path, self.incremental.last_value)
