"""The pipeline facade and the machinery behind it (extract, route, load).

The names below are imported on first use (PEP 562): a submodule (``headwater.pipelines.workdir``, which
the command line reads) can be imported without the whole data path (Arrow, DuckDB).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "LoadInfo": "headwater.pipelines.info",
    "LoadSummary": "headwater.pipelines.info",
    "TableLoad": "headwater.pipelines.info",
    "Pipeline": "headwater.pipelines.pipeline",
    "pipeline": "headwater.pipelines.pipeline",
    "Plan": "headwater.pipelines.plan_report",
}

__all__ = ["LoadInfo", "LoadSummary", "Pipeline", "Plan", "TableLoad", "pipeline"]

if TYPE_CHECKING:
    from headwater.pipelines.info import LoadInfo, LoadSummary, TableLoad
    from headwater.pipelines.pipeline import Pipeline, pipeline
    from headwater.pipelines.plan_report import Plan


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
