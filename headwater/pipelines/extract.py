"""Extraction: running resources and handing their items to a sink.

Independent resources (the roots of a source, each with the transformers it feeds) run concurrently:
sync generators in threads of their own, async generators as tasks on one event loop. Items travel to
the consuming thread in chunks through a short queue, so a slow consumer slows the producers down
instead of letting memory grow. A single sync resource runs inline, with no thread at all.

When a resource raises, the others are asked to stop, everything already produced is still handed
to the sink, and :class:`~headwater.errors.ExtractError` is raised at the end.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from headwater.errors import ConfigError, ExtractError, HeadwaterError
from headwater.schema.state import PipelineState, Running, running
from headwater.streams.invocation import Invocation
from headwater.streams.resource import Resource

Emit = Callable[[Resource, Any], None]

_CHUNK = 256


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
    """Where resources run: the state they read and write, and the name of their source."""

    state: PipelineState
    source: str


class _Run:
    """One run of a root resource and the transformers it feeds."""

    def __init__(self, emit: Emit, scope: Scope | None) -> None:
        self.emit = emit
        self.scope = scope or Scope(PipelineState(), "")
        self.invocations: dict[int, tuple[Resource, Invocation]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def context(self, resource: Resource) -> Any:
        return running(Running(self.scope.state, self.scope.source, resource.name))

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


async def drive_async(node: Node, emit: Emit, stop: threading.Event | None = None, scope: Scope | None = None) -> None:
    """Run an async root and its transformers on the current event loop."""
    run = _Run(emit, scope)
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


def _wrap(resource: Resource, exc: BaseException) -> HeadwaterError:
    if isinstance(exc, HeadwaterError):
        return exc
    return ExtractError(
        f"resource {resource.name!r} failed: {type(exc).__name__}: {exc}",
        hint="the rows extracted before the failure are kept; fix the cause and run again",
        resource=resource.name,
    )


class Extractor:
    """Runs root resources (with their transformers) and hands every item to ``sink``."""

    def __init__(self, roots: list[Node], sink: Emit, scope: Scope | None = None) -> None:
        self.roots = roots
        self.sink = sink
        self.scope = scope
        self.errors: list[HeadwaterError] = []

    def run(self) -> None:
        """Extract everything; raise the first resource error after all produced items were sunk."""
        sync_roots = [n for n in self.roots if not n.resource.is_async()]
        async_roots = [n for n in self.roots if n.resource.is_async()]
        if len(sync_roots) == 1 and not async_roots:
            node = sync_roots[0]
            try:
                for _ in drive(node, self.sink, scope=self.scope):
                    pass
            except BaseException as exc:
                if isinstance(exc, KeyboardInterrupt | SystemExit):
                    raise
                raise _wrap(node.resource, exc) from exc
            return
        self._run_concurrently(sync_roots, async_roots)

    def _run_concurrently(self, sync_roots: list[Node], async_roots: list[Node]) -> None:
        channel: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=16)
        stop = threading.Event()

        def put(message: tuple[str, Any]) -> None:
            while True:
                try:
                    channel.put(message, timeout=0.2)
                    return
                except queue.Full:
                    if stop.is_set() and message[0] == "items":
                        return

        def chunking_emit() -> tuple[Emit, Callable[[], None]]:
            chunk: list[tuple[Resource, Any]] = []

            def emit(resource: Resource, item: Any) -> None:
                chunk.append((resource, item))
                if len(chunk) >= _CHUNK or not isinstance(item, dict):
                    flush()

            def flush() -> None:
                if chunk:
                    put(("items", chunk.copy()))
                    chunk.clear()

            return emit, flush

        def run_sync(node: Node) -> None:
            emit, flush = chunking_emit()
            try:
                for _ in drive(node, emit, stop, self.scope):
                    pass
                flush()
            except BaseException as exc:
                flush()
                put(("error", _wrap(node.resource, exc)))
            finally:
                put(("done", node))

        async def run_async(node: Node) -> None:
            emit, flush = chunking_emit()
            loop = asyncio.get_running_loop()

            def async_emit(resource: Resource, item: Any) -> None:
                emit(resource, item)

            try:
                await drive_async(node, async_emit, stop, self.scope)
                await loop.run_in_executor(None, flush)
            except BaseException as exc:
                await loop.run_in_executor(None, flush)
                await loop.run_in_executor(None, put, ("error", _wrap(node.resource, exc)))
            finally:
                await loop.run_in_executor(None, put, ("done", node))

        def run_loop() -> None:
            async def main() -> None:
                await asyncio.gather(*(run_async(n) for n in async_roots))

            asyncio.run(main())

        threads = [
            threading.Thread(target=run_sync, args=(n,), name=f"headwater-extract-{n.resource.name}", daemon=True)
            for n in sync_roots
        ]
        if async_roots:
            threads.append(threading.Thread(target=run_loop, name="headwater-extract-async", daemon=True))
        for t in threads:
            t.start()
        pending = len(sync_roots) + len(async_roots)
        sink_error: BaseException | None = None
        try:
            while pending:
                kind, payload = channel.get()
                if kind == "items":
                    if sink_error is None:
                        try:
                            for resource, item in payload:
                                self.sink(resource, item)
                        except BaseException as exc:
                            sink_error = exc
                            stop.set()
                elif kind == "error":
                    self.errors.append(payload)
                    stop.set()
                else:
                    pending -= 1
        except BaseException:
            stop.set()
            raise
        finally:
            for t in threads:
                t.join(timeout=5)
        if sink_error is not None:
            raise sink_error
        if self.errors:
            raise self.errors[0]


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

            asyncio.run(drive_async(root, keep))
            yield from collected
            continue
        for _ in drive(root, emit):
            yield from buffer
            buffer.clear()
        yield from buffer
        buffer.clear()
