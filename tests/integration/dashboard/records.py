"""Runs whose records the dashboard reads: each pipeline run writes its own (``headwater.observe.history``)."""

from __future__ import annotations

from typing import Any

from headwater.errors import HeadwaterError
from headwater.observe.history import list_runs


def recorded_run(pipeline: Any, data: Any, *, kind: str = "run", **hints: Any) -> dict[str, Any]:
    """Run ``pipeline.run(data, **hints)`` (``kind="extract"``: ``extract``) and return the record the run
    wrote; a failed run's error is in its record, not raised."""
    try:
        pipeline.extract(data, **hints) if kind == "extract" else pipeline.run(data, **hints)
    except HeadwaterError:
        pass
    return list_runs(pipeline.workdir, limit=1)[0]
