"""Where figures go: the run and the resource running in this thread or task (context variables).

The pipeline makes its run's :class:`~headwater.observe.metrics.RunMetrics` current with :func:`collecting`;
the engine runs each resource inside :func:`resource_scope`, in whichever thread or task runs it, so
that :func:`current` is that resource's figures for the sources and the resource's own counters.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from headwater.observe.metrics import ResourceMetrics, RunMetrics

_RUN: ContextVar[RunMetrics | None] = ContextVar("headwater_run_metrics", default=None)
_RESOURCE: ContextVar[ResourceMetrics | None] = ContextVar("headwater_resource_metrics", default=None)


def current_run() -> RunMetrics | None:
    """The metrics of the run going on in this thread or task (None outside a run)."""
    return _RUN.get()


def current() -> ResourceMetrics | None:
    """The metrics of the resource running in this thread or task (None outside one): what sources
    count into. Cheap: one context variable read."""
    return _RESOURCE.get()


@contextmanager
def collecting(run: RunMetrics) -> Iterator[RunMetrics]:
    """Make ``run`` the current run inside the ``with`` block."""
    token = _RUN.set(run)
    try:
        yield run
    finally:
        _RUN.reset(token)


class resource_scope:  # used like a function: ``with resource_scope(m):``
    """Inside the ``with`` block, ``m`` is the current resource's metrics and the block's wall time is
    the resource's (None: nothing is collected). A class, not a generator: the engine enters it for
    every parent item a transformer gets."""

    __slots__ = ("_metrics", "_start", "_token")

    def __init__(self, metrics: ResourceMetrics | None) -> None:
        self._metrics = metrics
        self._token: Token[ResourceMetrics | None] | None = None
        self._start = 0

    def __enter__(self) -> ResourceMetrics | None:
        if self._metrics is not None:
            self._token = _RESOURCE.set(self._metrics)
            self._start = time.time_ns()
        return self._metrics

    def __exit__(self, *exc: object) -> None:
        if self._metrics is not None and self._token is not None:
            self._metrics.ran(self._start, time.time_ns())
            _RESOURCE.reset(self._token)
            self._token = None
