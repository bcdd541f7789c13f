"""The pipeline facade and the machinery behind it (extract, route, load)."""

from __future__ import annotations

from headwater.pipelines.info import LoadInfo, LoadSummary, TableLoad
from headwater.pipelines.pipeline import Pipeline, pipeline
from headwater.pipelines.plan_report import Plan

__all__ = ["LoadInfo", "LoadSummary", "Pipeline", "Plan", "TableLoad", "pipeline"]
