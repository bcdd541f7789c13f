"""What wraps every run of a pipeline (``run``, ``load``, ``extract``): its run id, the log context,
the summary and the alert hooks.

The run id is the run's UTC start time in the load-id format (:func:`headwater.observe.runids.new_run_id`);
while the run lasts every log record carries the pipeline, the run id and the current load id
(:mod:`headwater.observe.context`). When it ends, :func:`run_summary` describes it and the pipeline's
``on_failure`` or ``on_success`` hook gets the summary (:mod:`headwater.pipelines.hooks`).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Concatenate, Literal, ParamSpec, TypeVar

from headwater.errors import ConfigError, HeadwaterError, did_you_mean
from headwater.observe.context import run_context
from headwater.observe.progress import SETTINGS
from headwater.observe.runids import new_run_id
from headwater.pipelines.info import LoadInfo
from headwater.redact import redact

if TYPE_CHECKING:
    from headwater.pipelines.pipeline import Pipeline

log = logging.getLogger("headwater.runs")

P = ParamSpec("P")
R = TypeVar("R")
Kind = Literal["run", "load", "extract"]


def check_progress(value: Any) -> bool | str:
    """A ``progress=`` value (``"auto"``, ``"log"``, True, False), or a ConfigError with a "did you mean"."""
    if isinstance(value, bool) or value in ("auto", "log"):
        return bool(value) if isinstance(value, bool) else str(value)
    hint = did_you_mean(str(value), [str(s) for s in SETTINGS], listing="settings")
    raise ConfigError(f"unknown progress setting {value!r}", hint=hint)


def observed(kind: Kind) -> Callable[[Callable[Concatenate[Pipeline, P], R]], Callable[Concatenate[Pipeline, P], R]]:
    """Decorate a :class:`Pipeline` method that is a run of ``kind`` (see the module's docstring)."""

    def decorate(method: Callable[Concatenate[Pipeline, P], R]) -> Callable[Concatenate[Pipeline, P], R]:
        @functools.wraps(method)
        def wrapper(pipeline: Pipeline, /, *args: P.args, **kwargs: P.kwargs) -> R:
            run_id = new_run_id()
            started = dt.datetime.now(dt.UTC)
            clock = time.perf_counter()
            with run_context(pipeline.name, run_id):
                try:
                    result = method(pipeline, *args, **kwargs)
                except BaseException as exc:
                    info = getattr(exc, "info", None)  # a ModelError carries the run's info
                    summary = run_summary(pipeline, kind, run_id, started, clock, result=info, error=exc)
                    error = summary["error"]
                    log.error(
                        "%s failed after %.2f s: %s: %s", kind, summary["seconds"], error["type"], error["message"]
                    )
                    pipeline.hooks.fire(summary)
                    raise
                summary = run_summary(pipeline, kind, run_id, started, clock, result=result)
                log.info("%s completed in %.2f s", kind, summary["seconds"])
                pipeline.hooks.fire(summary)
                return result

        return wrapper

    return decorate


def run_summary(
    pipeline: Pipeline,
    kind: Kind,
    run_id: str,
    started: dt.datetime,
    clock: float,
    *,
    result: Any = None,
    error: BaseException | None = None,
) -> dict[str, Any]:
    """The summary a hook receives (JSON-ready)::

        {"pipeline": "github", "run_id": "20261203T092700.123456Z", "kind": "run", "status": "failed",
         "destination": "duckdb:/data/github.duckdb", "dataset": "raw",
         "started_at": "2026-12-03T09:27:00.123456+00:00", "ended_at": "...", "seconds": 1.234,
         "load_ids": [...], "error": {"type": "ExtractError", "message": "...", "hint": "..."} or null,
         "info": LoadInfo.to_dict() or null}

    ``info`` is the run's :meth:`LoadInfo.to_dict` (``run``, ``load``, and a failed run whose error
    carries it); run metrics travel inside it once the run records have them. ``extract`` has no
    info: its ``load_ids`` holds the package it made.
    """
    ended = dt.datetime.now(dt.UTC)
    info = result.to_dict() if isinstance(result, LoadInfo) else None
    load_ids = result.load_ids if isinstance(result, LoadInfo) else [result] if isinstance(result, str) else []
    return {
        "pipeline": pipeline.name,
        "run_id": run_id,
        "kind": kind,
        "status": "failed" if error is not None else "completed",
        "destination": redact(pipeline.destination.describe()),
        "dataset": pipeline.dataset_name,
        "started_at": started.isoformat(),
        "ended_at": ended.isoformat(),
        "seconds": round(time.perf_counter() - clock, 3),
        "load_ids": load_ids,
        "error": describe_error(error) if error is not None else None,
        "info": info,
    }


def describe_error(exc: BaseException) -> dict[str, Any]:
    """``{"type", "message", "hint"}`` of an error, secrets hidden."""
    if isinstance(exc, HeadwaterError):
        return {"type": type(exc).__name__, "message": redact(exc.message), "hint": redact(exc.hint or "") or None}
    return {"type": type(exc).__name__, "message": redact(str(exc)), "hint": None}
