"""The flows model: sources, destinations and flows, as one typed value.

A flows file (TOML or YAML) and a Python dict describe the same model::

    [sources.chinook]
    type = "sql_database"                   # a registered source (VDK's `name` is accepted too)
    config = { credentials = "sqlite:///chinook.sqlite" }

    [destinations.warehouse]
    type = "duckdb"                         # VDK's `method` is accepted too
    config = { path = "warehouse.duckdb" }

    [[flows]]
    name = "chinook_raw"                    # default: "<from>_to_<to>"
    from = "chinook"
    to = "warehouse"
    dataset = "raw"
    resources = ["invoice", "customer"]     # or a table of per-resource hints
    write_disposition = "merge"             # any resource hint, for every resource of the flow

A flow may take Hippo's shape instead of ``from``/``to``: an ``extractor`` table whose ``class`` is
built with the table as its sole argument, a ``loader`` table likewise (or a Headwater destination),
and an optional ``transformer``. :mod:`headwater.flows.reader` builds the model and reports every
mistake with its location; :meth:`FlowsModel.to_dict` gives the canonical dict back (what the TOML
and YAML writers write), so dict -> TOML -> YAML -> dict gives an equal model.

Values are kept as written: ``${env:NAME}``, ``${file:path}`` and ``${here}`` are resolved only when
a flow runs (:mod:`headwater.flows.values`), so neither the model nor a converted file holds a secret.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: the keys of a flow besides resource hints
FLOW_KEYS = (
    "name",
    "from",
    "to",
    "dataset",
    "resources",
    "extractor",
    "loader",
    "transform",
    "pipeline",
    "models",
)
#: what ``pipeline = {...}`` in a flow may set (the options of ``hw.pipeline``)
PIPELINE_OPTIONS = (
    "progress",
    "batch_size",
    "batch_bytes",
    "keep_packages",
    "package_format",
    "mask_key",
    "on_failure",
    "on_success",
    "telemetry",
    "executor",
)
#: pipeline options that are alert hooks: a webhook URL or a ``package.module:function`` reference
HOOK_OPTIONS = ("on_failure", "on_success")


@dataclass(frozen=True)
class Component:
    """A source or a destination declared once and used by flows under its id.

    Attributes:
        id: its key in ``[sources]`` / ``[destinations]``.
        type: a registered name (``"sql_database"``, ``"duckdb"``), a ``"package.module:attr"``
            reference, or (in Python dicts) the callable, class or object itself.
        config: keyword arguments of the factory (values as written, placeholders unresolved).
    """

    id: str
    type: Any
    config: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The canonical table: ``{"type": ..., "config": {...}}`` (no config when empty)."""
        out: dict[str, Any] = {"type": self.type}
        if self.config:
            out["config"] = self.config
        return out


@dataclass(frozen=True)
class Flow:
    """One data asset: one source (or a selection of its resources) into one dataset.

    Attributes:
        name: the flow's name; it is the pipeline's name too (working folder, run history).
        source: the id of a declared source (``from``), or None for a Hippo-style extractor.
        destination: the id of a declared destination (``to``), or None for a Hippo-style loader.
        dataset: the destination dataset (default: the pipeline's).
        resources: the selected resources and hints per resource (None: all of them).
        hints: resource hints for every resource of the flow (``write_disposition``...).
        extractor: Hippo's extractor table (``class`` and its own options).
        loader: Hippo's loader table (``class`` and its own options, or ``destination``).
        transform: the transform step (``query``, ``query_path`` or ``function``, with
            ``params``/``kwargs``); see issue "Transform and quality".
        pipeline: options of ``hw.pipeline`` (``batch_size``, ``progress``...).
        models: SQL models run in the destination after each load (``.sql`` paths relative to the flows
            file, or tables with ``name`` and ``sql`` or ``path``); see :mod:`headwater.flows.models`.
    """

    name: str
    source: str | None = None
    destination: str | None = None
    dataset: str | None = None
    resources: dict[str, dict[str, Any]] | None = None
    hints: dict[str, Any] = field(default_factory=dict)
    extractor: dict[str, Any] | None = None
    loader: dict[str, Any] | None = None
    transform: dict[str, Any] | None = None
    pipeline: dict[str, Any] = field(default_factory=dict)
    models: tuple[Any, ...] | None = None

    @property
    def hippo(self) -> bool:
        """Whether the flow is Hippo-shaped (an extractor rather than a declared source)."""
        return self.extractor is not None

    def to_dict(self) -> dict[str, Any]:
        """The canonical table of the flow (keys with no value left out; TOML has no null)."""
        pairs = (
            ("from", self.source),
            ("to", self.destination),
            ("dataset", self.dataset),
            ("extractor", self.extractor),
            ("loader", self.loader),
            ("transform", self.transform),
        )
        out: dict[str, Any] = {"name": self.name, **{k: v for k, v in pairs if v is not None}}
        if self.resources is not None:
            if any(self.resources.values()):
                out["resources"] = self.resources
            else:
                out["resources"] = list(self.resources)
        out.update(self.hints)
        if self.pipeline:
            out["pipeline"] = self.pipeline
        if self.models is not None:
            out["models"] = list(self.models)
        return out


@dataclass(frozen=True)
class FlowsModel:
    """Sources, destinations and flows, validated (see :func:`headwater.flows.reader.read`)."""

    sources: dict[str, Component] = field(default_factory=dict)
    destinations: dict[str, Component] = field(default_factory=dict)
    flows: tuple[Flow, ...] = ()

    def flow(self, name: str) -> Flow:
        """The flow named ``name`` (a ConfigError with a "did you mean" when there is none)."""
        from headwater.errors import ConfigError, did_you_mean

        for f in self.flows:
            if f.name == name:
                return f
        raise ConfigError(f"no flow {name!r}", hint=did_you_mean(name, [f.name for f in self.flows], listing="flows"))

    def to_dict(self) -> dict[str, Any]:
        """The canonical dict: what the TOML and YAML writers write, and what reads back equal."""
        out: dict[str, Any] = {}
        if self.sources:
            out["sources"] = {k: c.to_dict() for k, c in self.sources.items()}
        if self.destinations:
            out["destinations"] = {k: c.to_dict() for k, c in self.destinations.items()}
        out["flows"] = [f.to_dict() for f in self.flows]
        return out
