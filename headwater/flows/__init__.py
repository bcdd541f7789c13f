"""Flows: pipelines as configuration (Python dicts, TOML or YAML files); see docs/flows.md.

::

    flows = hw.flows.load("flows.toml")          # or a dict; every mistake reported with its location
    infos = flows.run()                           # one LoadInfo per flow

    info = hw.flow(config.PIPELINES["orders"]).run()   # one Hippo-style pipeline
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from headwater.flows.hippo import Extractor, Loader
from headwater.flows.model import Component, Flow, FlowsModel
from headwater.flows.reader import FlowsError, read_pipeline
from headwater.flows.runner import FlowResult, Flows, FlowsFailed, load

__all__ = [
    "Component",
    "Extractor",
    "Flow",
    "FlowResult",
    "Flows",
    "FlowsError",
    "FlowsFailed",
    "FlowsModel",
    "Loader",
    "OneFlow",
    "flow",
    "load",
]


class OneFlow:
    """One Hippo-style pipeline made from its dict (what :func:`flow` returns)."""

    def __init__(self, flows: Flows) -> None:
        self.flows = flows
        self.name = flows.names[0]

    def __repr__(self) -> str:
        return f"<flow {self.name!r}>"

    def run(self, *, pipelines_dir: Any = None, progress: bool | str | None = None) -> Any:
        """Run the pipeline; its :class:`~headwater.LoadInfo`.

        Raises:
            HeadwaterError: the run failed (the error of the flow itself).
        """
        try:
            return self.flows.run(pipelines_dir=pipelines_dir, progress=progress)[0]
        except FlowsFailed as exc:
            error = exc.results[0].error
            raise error if error is not None else exc from None

    def plan(self, *, limit: int | None = None, pipelines_dir: Any = None) -> Any:
        """A dry run: what :meth:`run` would do, with nothing written (see ``Pipeline.plan``)."""
        try:
            return self.flows.plan(limit=limit, pipelines_dir=pipelines_dir)[0]
        except FlowsFailed as exc:
            error = exc.results[0].error
            raise error if error is not None else exc from None


def flow(config: Mapping[str, Any], *, name: str | None = None, here: str | Path | None = None) -> OneFlow:
    """One pipeline from a Hippo-style dict: ``extractor``, ``loader`` and an optional ``transformer``.

    Args:
        config: ``{"extractor": {"class": ..., ...}, "transformer": {...}, "loader": {...}}``, plus
            optional ``name``, ``dataset`` and resource hints (``write_disposition``...).
        name: the pipeline's name (default: the dict's ``name``, else the extractor class's name).
        here: the folder relative ``query_path`` and ``${file:...}`` are taken from (default: the
            working directory).

    Raises:
        FlowsError: every mistake in the dict, with its location.
    """
    made = read_pipeline(config, name=name)
    return OneFlow(Flows(FlowsModel(flows=(made,)), here=Path(here) if here is not None else None))
