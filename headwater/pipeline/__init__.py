"""The pipeline facade and the machinery behind it (extract, route, load)."""

from __future__ import annotations

from headwater.pipeline.info import LoadInfo, LoadSummary, TableLoad
from headwater.pipeline.pipeline import Pipeline, pipeline

__all__ = ["LoadInfo", "LoadSummary", "Pipeline", "TableLoad", "pipeline"]
