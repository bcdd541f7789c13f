"""Extraction: running resources and handing their items to a sink.

Independent resources (the roots of a source, each with the transformers it feeds) run concurrently:
sync generators in threads of their own, async generators as tasks on one event loop. Items travel to
the consuming thread in chunks through a short queue (:mod:`.channel`), so a slow consumer slows the
producers down instead of letting memory grow. A single sync resource runs inline, with no thread at
all. How one root runs is the engine's business (:mod:`headwater.streams.engine`).

When a resource raises, the others are asked to stop, everything already produced is still handed
to the sink, and :class:`~headwater.errors.ExtractError` is raised at the end.
"""

from __future__ import annotations

from headwater.errors import ExtractError, HeadwaterError
from headwater.pipelines.channel import Channel
from headwater.streams.engine import Emit, Node, Scope, drive
from headwater.streams.resource import Resource


def _wrap(resource: Resource, exc: BaseException) -> HeadwaterError:
    if isinstance(exc, HeadwaterError):
        return exc
    return ExtractError(
        f"resource {resource.name!r} failed: {type(exc).__name__}: {exc}",
        hint="fix the cause and run again",  # what became of the rows before it: the caller says
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
                raise self._counted(_wrap(node.resource, exc)) from exc
            return
        self._run_concurrently(sync_roots, async_roots)

    def _run_concurrently(self, sync_roots: list[Node], async_roots: list[Node]) -> None:
        channel = Channel(self.sink, self.scope, wrap=_wrap)
        try:
            channel.run(sync_roots, async_roots)
        finally:
            self.errors.extend(self._counted(e) for e in channel.errors)
        if channel.errors:
            raise channel.errors[0]

    def _counted(self, error: HeadwaterError) -> HeadwaterError:
        """``error``, counted in the run's metrics against the resource it names (a transformer's own
        error names the transformer)."""
        metrics = self.scope.metrics if self.scope is not None else None
        name = error.where.get("resource")
        if metrics is not None and isinstance(name, str):
            metrics.resource(name).error()
        return error
