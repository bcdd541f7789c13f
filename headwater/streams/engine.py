"""The extraction engine: resources arranged into trees and run, each item handed to an ``emit``.

:func:`plan` arranges resources into trees (roots are plain resources, transformers hang off their
parents) and keeps only what a selected resource needs. :func:`drive` runs a sync root and the
transformers it feeds in the calling thread, :func:`drive_async` an async root on the running event
loop; each resource runs inside its state context (:func:`headwater.schema.state.running`), so
``hw.state()`` and its cursor find their place, and every cursor commits what it saw at the end.

Running several roots at once, and handing the items to the normalizer, is the pipeline's job
(:mod:`headwater.pipelines.extract`); :func:`iterate_resource` and :func:`iterate_source` run them
one after the other in the calling thread, for inspection and tests.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from headwater.errors import ConfigError
from headwater.observe.metrics import RunMetrics, resource_scope
from headwater.schema.state import PipelineState, Running, running
from headwater.streams.invocation import Invocation
from headwater.streams.resource import Resource

if TYPE_CHECKING:
    import asyncio

Emit = Callable[[Resource, Any], None]
#: awaited after each item an async root delivers: where its consumer makes it wait without blocking the loop
Settle = Callable[[], Awaitable[None]]


@dataclass
class Node:
    """A resource and the transformers it feeds."""

    resource: Resource
    children: list[Node] = field(default_factory=list)


def with_parents(resources: list[Resource]) -> list[Resource]:
    """The resources, plus the parents of transformers that are not listed (those feed, not load)."""
    names = {r.name for r in resources}
    out = list(resources)
    for r in resources:
        parent = r.parent
        while parent is not None and parent.name not in names:
            clone = parent._copy()
            clone.selected = False
            out.append(clone)
            names.add(parent.name)
            parent = parent.parent
    return out


def plan(resources: list[Resource]) -> list[Node]:
    """Arrange resources into trees: roots are plain resources, transformers hang off their parents.

    Only what a selected resource needs runs: a resource that is not selected and feeds nothing
    selected does not run at all, so its cursor and state stay where they are (they would otherwise
    move past rows that were never loaded). One that feeds a selected transformer runs for it, and
    its cursor moves with what it fed.
    """
    resources = with_parents(resources)
    nodes: dict[str, Node] = {}
    for r in resources:
        if r.name in nodes:
            raise ConfigError(
                f"two resources are named {r.name!r}",
                hint="give one of them another name with @hw.resource(name=...)",
            )
        nodes[r.name] = Node(r)
    roots: list[Node] = []
    for r in resources:
        node = nodes[r.name]
        if not r.is_transformer:
            roots.append(node)
        elif r.parent is None:
            raise ConfigError(
                f"transformer {r.name!r} has no parent resource",
                hint="give it one with @hw.transformer(data_from=parent) or parent | transformer",
                resource=r.name,
            )
        else:
            nodes[r.parent.name].children.append(node)
    return [node for node in roots if _prune(node)]


def _prune(node: Node) -> bool:
    """Drop the transformers under ``node`` that load nothing; whether ``node`` itself must run."""
    node.children = [child for child in node.children if _prune(child)]
    return node.resource.selected or bool(node.children)


@dataclass(frozen=True)
class Scope:
    """Where resources run: the state they read and write, the name of their source, and the run's
    metrics (each resource's figures go to its entry, from whichever thread runs it)."""

    state: PipelineState
    source: str
    metrics: RunMetrics | None = None


class _InResource:
    """The context a resource's code runs in: its state (``hw.state()``, its cursor) and its metrics."""

    __slots__ = ("_metrics", "_state")

    def __init__(self, run: Running, metrics: RunMetrics | None) -> None:
        self._state = running(run)
        self._metrics = resource_scope(metrics.resource(run.resource) if metrics is not None else None)

    def __enter__(self) -> None:
        self._state.__enter__()
        self._metrics.__enter__()

    def __exit__(self, *exc: Any) -> None:
        self._metrics.__exit__(*exc)
        self._state.__exit__(*exc)


class _Run:
    """One run of a root resource and the transformers it feeds."""

    def __init__(self, emit: Emit, scope: Scope | None, settle: Settle | None = None) -> None:
        self.emit = emit
        self.settle = settle
        self.scope = scope or Scope(PipelineState(), "")
        self.invocations: dict[int, tuple[Resource, Invocation]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def context(self, resource: Resource) -> Any:
        return _InResource(Running(self.scope.state, self.scope.source, resource.name), self.scope.metrics)

    def invocation(self, node: Node) -> Invocation:
        found = self.invocations.get(id(node))
        if found is None:
            with self.context(node.resource):
                found = (node.resource, Invocation(node.resource))
            self.invocations[id(node)] = found
        return found[1]

    def deliver(self, node: Node, item: Any) -> None:
        if node.resource.selected:
            self.emit(node.resource, item)
        for child in node.children:
            self.feed(child, item)

    def feed(self, node: Node, parent_item: Any) -> None:
        inv = self.invocation(node)
        if inv.chain.done:
            return
        with self.context(node.resource):
            if inv.is_async:  # an async transformer under a sync parent: run it on this thread's own loop
                for produced in self._iterate_on_loop(inv.transform_async(parent_item)):
                    for item in inv.chain.push(produced):
                        self.deliver(node, item)
                    if inv.chain.done:
                        return
                return
            for produced in inv.transform(parent_item):
                for item in inv.chain.push(produced):
                    self.deliver(node, item)
                if inv.chain.done:
                    return

    async def deliver_async(self, node: Node, item: Any) -> None:
        if node.resource.selected:
            self.emit(node.resource, item)
            if self.settle is not None:
                await self.settle()
        for child in node.children:
            await self.feed_async(child, item)

    async def feed_async(self, node: Node, parent_item: Any) -> None:
        inv = self.invocation(node)
        if inv.chain.done:
            return
        with self.context(node.resource):
            if inv.is_async:
                produced_items = inv.transform_async(parent_item)
                try:
                    async for produced in produced_items:
                        for item in inv.chain.push(produced):
                            await self.deliver_async(node, item)
                        if inv.chain.done:
                            return
                finally:
                    await produced_items.aclose()
                return
            for produced in inv.transform(parent_item):
                for item in inv.chain.push(produced):
                    await self.deliver_async(node, item)
                if inv.chain.done:
                    return

    def _iterate_on_loop(self, agen: AsyncIterator[Any]) -> Iterator[Any]:
        if self._loop is None:
            import asyncio  # only for async resources: most runs have none

            self._loop = asyncio.new_event_loop()
        loop = self._loop
        try:
            while True:
                try:
                    yield loop.run_until_complete(agen.__anext__())
                except StopAsyncIteration:
                    return
        finally:
            aclose = getattr(agen, "aclose", None)
            if aclose is not None:
                loop.run_until_complete(aclose())

    def finish(self) -> None:
        """Commit what every cursor saw into the state."""
        for resource, inv in self.invocations.values():
            with self.context(resource):
                inv.finish()
        if self._loop is not None:
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()
            self._loop = None


def drive(node: Node, emit: Emit, stop: threading.Event | None = None, scope: Scope | None = None) -> Iterator[None]:
    """Run a sync root and its transformers; yields after every item of the root."""
    run = _Run(emit, scope)
    inv = run.invocation(node)
    with run.context(node.resource):
        iterator = inv.open()
    if not isinstance(iterator, Iterator):
        raise TypeError("drive() runs sync resources only")
    chain = inv.chain
    try:
        if chain.done:
            return
        with run.context(node.resource):  # the generator's code runs inside next()
            if chain.passthrough and not node.children and node.resource.selected and stop is None:
                # the common case, a plain resource: hand items straight to the sink
                resource = node.resource
                for raw in iterator:
                    emit(resource, raw)
                    yield None
                return
            for raw in iterator:
                for item in chain.push(raw):
                    run.deliver(node, item)
                yield None
                if chain.done or (stop is not None and stop.is_set()):
                    break
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()
        run.finish()


async def drive_async(
    node: Node,
    emit: Emit,
    stop: threading.Event | None = None,
    scope: Scope | None = None,
    settle: Settle | None = None,
) -> None:
    """Run an async root and its transformers on the current event loop (``settle`` awaited after each
    item emitted: ``emit`` itself must not block the loop)."""
    import asyncio  # imported here: most runs have no async resource (the running loop imported it)

    run = _Run(emit, scope, settle)
    inv = run.invocation(node)
    with run.context(node.resource):
        iterator = inv.open()
    if not isinstance(iterator, AsyncIterator):
        raise TypeError("drive_async() runs async resources only")
    chain = inv.chain
    try:
        if chain.done:
            return
        with run.context(node.resource):
            async for raw in iterator:
                for item in chain.push(raw):
                    await run.deliver_async(node, item)
                if chain.done or (stop is not None and stop.is_set()):
                    break
                await asyncio.sleep(0)
    finally:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()
        run.finish()


def iterate_resource(resource: Resource) -> Iterator[tuple[Resource, Any]]:
    """Items of a resource and of its parent chain, in the calling thread (for inspection and tests)."""
    chain: list[Resource] = []
    r: Resource | None = resource
    while r is not None:
        chain.insert(0, r)
        r = r.parent
    root = Node(chain[0])
    node = root
    for res in chain[1:]:
        child = Node(res)
        node.children.append(child)
        node = child
    yield from _iterate([root])


def iterate_source(source: Any) -> Iterator[tuple[Resource, Any]]:
    """Items of the selected resources of a source, one resource after the other."""
    yield from _iterate(plan(list(source.resources.values())))


def _iterate(roots: list[Node]) -> Iterator[tuple[Resource, Any]]:
    buffer: list[tuple[Resource, Any]] = []

    def emit(resource: Resource, item: Any) -> None:
        buffer.append((resource, item))

    for root in roots:
        if root.resource.is_async():
            collected: list[tuple[Resource, Any]] = []

            def keep(resource: Resource, item: Any, into: list[tuple[Resource, Any]] = collected) -> None:
                into.append((resource, item))

            import asyncio

            asyncio.run(drive_async(root, keep))
            yield from collected
            continue
        for _ in drive(root, emit):
            yield from buffer
            buffer.clear()
        yield from buffer
        buffer.clear()
