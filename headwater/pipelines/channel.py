"""The channel between concurrently running roots and the thread that consumes their items.

Each sync root runs in a thread of its own, the async roots as tasks on one event loop in another
thread. Producers hand their items over in chunks of up to 256 (:class:`Items`), through a queue of
16 messages: a full queue holds the producer back, which is the back-pressure that keeps memory flat
(a sync root blocks in its thread; an async root waits without blocking its event loop, so the
other requests in flight on it go on).
A producer that fails sends :class:`Failed`, and every producer ends with :class:`Done`. The
consuming thread hands the items to the sink; after a failure (of a producer or of the sink) the
others are asked to stop, and chunks that no longer fit in the queue are dropped.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from headwater.errors import HeadwaterError
from headwater.observe.context import carry
from headwater.streams.engine import Emit, Node, Scope, drive, drive_async
from headwater.streams.resource import Resource

#: items per chunk (a chunk is sent earlier when an item is not a dict: pages, tables, frames)
CHUNK = 256
#: chunks in flight
QUEUE_SIZE = 16


@dataclass(frozen=True)
class Items:
    """Items produced by one root (and its transformers), in order."""

    chunk: list[tuple[Resource, Any]]


@dataclass(frozen=True)
class Failed:
    """A root failed; sent after the items it produced before the failure."""

    error: HeadwaterError


@dataclass(frozen=True)
class Done:
    """A root finished (whether it succeeded or failed): its last message."""

    node: Node


Message = Items | Failed | Done


class _Chunker:
    """One producer's emit: items gather into a chunk, sent when full or when an item is not a dict."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.chunk: list[tuple[Resource, Any]] = []

    def emit(self, resource: Resource, item: Any) -> None:
        self.chunk.append((resource, item))
        if len(self.chunk) >= CHUNK or not isinstance(item, dict):
            self.flush()

    def flush(self) -> None:
        if self.chunk:
            self.channel.put(Items(self.chunk.copy()))
            self.chunk.clear()


class _LoopChunker(_Chunker):
    """An async root's emit, which never blocks the event loop: while the queue is full, the other tasks
    on the loop (requests in flight, other roots) go on. A chunk that does not fit is held until
    :meth:`settle`, which the engine awaits after each item, has put it in: the root waits there."""

    def __init__(self, channel: Channel) -> None:
        super().__init__(channel)
        self.held: deque[Items] = deque()

    def flush(self) -> None:
        if self.chunk:
            message = Items(self.chunk.copy())
            self.chunk.clear()
            if self.held or not self.channel.offer(message):
                self.held.append(message)

    async def settle(self) -> None:
        """Wait, off the loop, until every held chunk is in the queue."""
        if not self.held:
            return
        import asyncio  # the loop runs: imported already

        loop = asyncio.get_running_loop()
        while self.held:
            message = self.held.popleft()
            if not self.channel.offer(message):
                await loop.run_in_executor(None, carry(self.channel.put), message)


class Channel:
    """Runs roots concurrently and hands their items to ``sink`` in the calling thread.

    Args:
        sink: receives every item with the resource that produced it (in the calling thread).
        scope: the state and source name the roots run with.
        wrap: turns a root's exception into the error to report (an ExtractError naming it).
    """

    def __init__(
        self, sink: Emit, scope: Scope | None, *, wrap: Callable[[Resource, BaseException], HeadwaterError]
    ) -> None:
        self.sink = sink
        self.scope = scope
        self.wrap = wrap
        self.queue: queue.Queue[Message] = queue.Queue(maxsize=QUEUE_SIZE)
        self.stop = threading.Event()
        #: the errors of the roots that failed, in the order they arrived
        self.errors: list[HeadwaterError] = []

    def put(self, message: Message) -> None:
        """Send a message, waiting while the queue is full; items are dropped once asked to stop."""
        while True:
            try:
                self.queue.put(message, timeout=0.2)
                return
            except queue.Full:
                if self.stop.is_set() and isinstance(message, Items):
                    return

    def offer(self, message: Message) -> bool:
        """Send a message if the queue has room now; whether it was sent."""
        try:
            self.queue.put_nowait(message)
        except queue.Full:
            return False
        return True

    # -- producers -------------------------------------------------------------------------------
    def _run_sync(self, node: Node) -> None:
        chunker = _Chunker(self)
        try:
            for _ in drive(node, chunker.emit, self.stop, self.scope):
                pass
            chunker.flush()
        except BaseException as exc:
            chunker.flush()
            self.put(Failed(self.wrap(node.resource, exc)))
        finally:
            self.put(Done(node))

    async def _run_async(self, node: Node) -> None:
        import asyncio  # the loop runs: imported already

        chunker = _LoopChunker(self)
        loop = asyncio.get_running_loop()
        try:
            await drive_async(node, chunker.emit, self.stop, self.scope, chunker.settle)
            chunker.flush()
            await chunker.settle()
        except BaseException as exc:
            chunker.flush()
            await chunker.settle()
            await loop.run_in_executor(None, carry(self.put), Failed(self.wrap(node.resource, exc)))
        finally:
            await loop.run_in_executor(None, carry(self.put), Done(node))

    def _run_loop(self, async_roots: list[Node]) -> None:
        import asyncio  # only for async resources: most runs have none

        async def main() -> None:
            await asyncio.gather(*(self._run_async(n) for n in async_roots))

        asyncio.run(main())

    # -- the consumer ----------------------------------------------------------------------------
    def run(self, sync_roots: list[Node], async_roots: list[Node]) -> None:
        """Run the roots and sink their items until every one is done.

        A failing root's error is kept in :attr:`errors` (the caller raises it); an error of the sink
        stops the roots and is raised here, once they finished.
        """
        threads = [
            threading.Thread(
                target=carry(self._run_sync), args=(n,), name=f"headwater-extract-{n.resource.name}", daemon=True
            )
            for n in sync_roots
        ]
        if async_roots:
            threads.append(
                threading.Thread(
                    target=carry(self._run_loop), args=(async_roots,), name="headwater-extract-async", daemon=True
                )
            )
        for t in threads:
            t.start()
        pending = len(sync_roots) + len(async_roots)
        sink_error: BaseException | None = None
        try:
            while pending:
                message = self.queue.get()
                if isinstance(message, Items):
                    if sink_error is None:
                        try:
                            for resource, item in message.chunk:
                                self.sink(resource, item)
                        except BaseException as exc:
                            sink_error = exc
                            self.stop.set()
                elif isinstance(message, Failed):
                    self.errors.append(message.error)
                    self.stop.set()
                else:
                    pending -= 1
        except BaseException:
            self.stop.set()
            raise
        finally:
            for t in threads:
                t.join(timeout=5)
        if sink_error is not None:
            raise sink_error
