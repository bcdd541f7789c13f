"""The run a log record belongs to: pipeline name, run id and load id, carried by context variables.

A run sets them (:func:`run_context`, :func:`load_context`); a log-record factory, installed once,
copies them onto every record of every logger as ``record.pipeline``, ``record.run_id`` and
``record.load_id`` (None outside a run), so any handler or format (``%(run_id)s``) can show them.
Threads do not inherit context variables: code that starts a thread during a run hands it
:func:`carry` (the target run inside a copy of the current context).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

_pipeline: contextvars.ContextVar[str | None] = contextvars.ContextVar("headwater_pipeline", default=None)
_run_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("headwater_run_id", default=None)
_load_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("headwater_load_id", default=None)

#: the attributes every log record gets
FIELDS = ("pipeline", "run_id", "load_id")


def current() -> dict[str, str | None]:
    """``{"pipeline": ..., "run_id": ..., "load_id": ...}`` of the run this code runs in (Nones outside one)."""
    return {"pipeline": _pipeline.get(), "run_id": _run_id.get(), "load_id": _load_id.get()}


@contextlib.contextmanager
def run_context(pipeline: str, run_id: str) -> Iterator[None]:
    """Log records made inside are tagged with ``pipeline`` and ``run_id`` (and no load id yet)."""
    install_record_factory()
    tokens = (_pipeline.set(pipeline), _run_id.set(run_id), _load_id.set(None))
    try:
        yield
    finally:
        _load_id.reset(tokens[2])
        _run_id.reset(tokens[1])
        _pipeline.reset(tokens[0])


@contextlib.contextmanager
def load_context(load_id: str) -> Iterator[None]:
    """Log records made inside are tagged with ``load_id`` (a package being extracted or loaded)."""
    token = _load_id.set(load_id)
    try:
        yield
    finally:
        _load_id.reset(token)


def carry(target: Callable[P, R]) -> Callable[P, R]:
    """``target`` to run on another thread inside a copy of the current context (its records keep the run's ids)."""
    ctx = contextvars.copy_context()

    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        return ctx.run(target, *args, **kwargs)

    return run


_install_lock = threading.Lock()
_installed = False


def install_record_factory() -> None:
    """Tag every log record of the process with the current run (once; wraps the current factory)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        _installed = True
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            record.pipeline = _pipeline.get()
            record.run_id = _run_id.get()
            record.load_id = _load_id.get()
            return record

        # the redaction factory (headwater.redact) looks for its mark on the current factory: keep it visible
        factory.headwater_redacting = getattr(previous, "headwater_redacting", False)  # type: ignore[attr-defined]
        logging.setLogRecordFactory(factory)
