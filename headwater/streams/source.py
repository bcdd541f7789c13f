"""Sources: a named group of resources that share a schema."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from headwater import names
from headwater.errors import ConfigError
from headwater.streams.resource import Resource


class Source:
    """A named group of resources; its name is the name of the schema its tables belong to.

    Resources are reachable by name: ``source.resources["events"]`` or ``source.events``.
    """

    def __init__(self, name: str, resources: Iterable[Resource], *, max_nesting: int | None = None) -> None:
        self.name = name = names.source_name(name)
        self.max_nesting = max_nesting
        self.resources: dict[str, Resource] = {}
        for r in resources:
            if not isinstance(r, Resource):
                raise ConfigError(
                    f"source {name!r} returned {type(r).__name__}, not a resource",
                    hint="return a list of @hw.resource objects from the source function",
                )
            if r.name in self.resources:
                raise ConfigError(
                    f"source {name!r} has two resources named {r.name!r}",
                    hint="give one of them another name with @hw.resource(name=...)",
                )
            self.resources[r.name] = r
        if not self.resources:
            raise ConfigError(f"source {name!r} has no resources")

    @property
    def selected_resources(self) -> list[Resource]:
        """The resources selected to run."""
        return [r for r in self.resources.values() if r.selected]

    def with_resources(self, *names: str) -> Source:
        """A copy of the source that extracts only the named resources."""
        unknown = [n for n in names if n not in self.resources]
        if unknown:
            raise ConfigError(
                f"source {self.name!r} has no resource(s) {unknown}",
                hint=f"available: {', '.join(self.resources)}",
            )
        picked = []
        for r in self.resources.values():
            clone = r._copy()
            clone.selected = r.name in names
            picked.append(clone)
        return Source(self.name, picked, max_nesting=self.max_nesting)

    def add_limit(self, max_items: int) -> Source:
        """Limit every resource to ``max_items`` items. Modifies in place and returns the source."""
        for r in self.resources.values():
            r.add_limit(max_items)
        return self

    def __getattr__(self, name: str) -> Resource:
        resources = self.__dict__.get("resources", {})
        if name in resources:
            return resources[name]
        raise AttributeError(f"source {self.__dict__.get('name')!r} has no resource {name!r}")

    def __iter__(self) -> Iterator[Any]:
        from headwater.streams.engine import iterate_source

        for _resource, item in iterate_source(self):
            yield item

    def __repr__(self) -> str:
        return f"<source {self.name!r} resources={list(self.resources)}>"


class SourceFactory:
    """What ``@hw.source`` returns: call it (with the function's arguments) to get a :class:`Source`."""

    def __init__(self, fn: Callable[..., Any], *, name: str, max_nesting: int | None) -> None:
        self._fn = fn
        self.name = name
        self.max_nesting = max_nesting
        functools.update_wrapper(self, fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Source:
        """Call the source function and wrap what it returns in a :class:`Source`.

        Raises:
            ConfigError: the function returned neither a source nor resources.
        """
        produced = self._fn(*args, **kwargs)
        if isinstance(produced, Source):
            return produced
        if isinstance(produced, Resource):
            resources: list[Resource] = [produced]
        elif isinstance(produced, Iterable) and not isinstance(produced, str | bytes | dict):
            resources = list(produced)
        else:
            raise ConfigError(
                f"source {self.name!r} must return resources, got {type(produced).__name__}",
                hint="return [resource_a, resource_b] from the source function",
            )
        return Source(self.name, resources, max_nesting=self.max_nesting)

    def __repr__(self) -> str:
        return f"<source factory {self.name!r}>"


def make_source(fn: Callable[..., Any], *, name: str | None, max_nesting: int | None) -> SourceFactory:
    """The :class:`SourceFactory` of ``@hw.source`` for function ``fn``.

    Raises:
        ConfigError: ``fn`` is not a function.
    """
    if not callable(fn) or inspect.isclass(fn):
        raise ConfigError(f"@hw.source decorates a function, got {fn!r}")
    return SourceFactory(fn, name=names.source_name(name or fn.__name__), max_nesting=max_nesting)
