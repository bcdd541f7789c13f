"""Running flows: each flow is one pipeline; independent flows may run concurrently.

:class:`Flows` holds a validated model, the secrets beside it and the folder it came from. Running
first builds every selected flow (sources, destinations, hints, secrets resolved), so a mistake
anywhere stops everything before any extraction; then runs them, ``parallel`` at a time, serializing
the flows that write one DuckDB file (DuckDB allows one writer). A failed flow does not stop the
others; :class:`FlowsFailed` then carries the outcome of every flow.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from headwater.errors import ConfigError, HeadwaterError, ModelError
from headwater.flows.model import HOOK_OPTIONS, Component, Flow, FlowsModel
from headwater.flows.models import pipeline_models
from headwater.flows.reader import FlowsError, Problems, hint_value
from headwater.flows.transforms import check_query, with_transform
from headwater.flows.values import Resolver, load_hooks, load_reference, masked, merge, placeholders

log = logging.getLogger("headwater")


@dataclass
class FlowResult:
    """The outcome of one flow: its load info, or the error that stopped it."""

    name: str
    info: Any = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        """Whether the flow ran without error."""
        return self.error is None


class FlowsFailed(HeadwaterError):
    """One or more flows failed; ``results`` holds the outcome of every flow that was run."""

    def __init__(self, results: list[FlowResult]) -> None:
        self.results = results
        failed = [r for r in results if not r.ok]
        lines = "\n".join(
            f"  {r.name}: {'ok' if r.ok else 'FAILED'}" + ("" if r.ok else f": {r.error}") for r in results
        )
        super().__init__(f"{len(failed)} of {len(results)} flow(s) failed:\n{lines}")


@dataclass
class Built:
    """A flow made ready to run: its pipeline and the data to give it."""

    flow: Flow
    pipeline: Any
    data: Any
    destination: Any = None
    options: dict[str, Any] = field(default_factory=dict)
    lock_key: str | None = None
    error: BaseException | None = None


class Flows:
    """Flows loaded from a dict or a file. Build with :func:`headwater.flows.load`.

    Args:
        model: the validated model.
        secrets: the ``secrets.toml`` tables merged over the model's values when a flow runs.
        here: the flows file's folder (``${here}``, relative ``${file:...}``, ``query_path``).
        origin: the file's path (or ``"flows"``), for messages.
    """

    def __init__(
        self,
        model: FlowsModel,
        *,
        secrets: Mapping[str, Any] | None = None,
        here: Path | None = None,
        origin: str = "flows",
    ) -> None:
        self.model = model
        self.secrets = dict(secrets or {})
        self.here = here or Path.cwd()
        self.origin = origin
        problems = Problems()
        for where, value in self._values():
            placeholders(value, where, problems)
        problems.raise_if_any(origin)

    def __repr__(self) -> str:
        return f"<Flows {self.origin}: {', '.join(self.names) or 'no flows'}>"

    @property
    def names(self) -> list[str]:
        """The flows' names, in order."""
        return [f.name for f in self.model.flows]

    def __iter__(self) -> Any:
        return iter(self.model.flows)

    def __len__(self) -> int:
        return len(self.model.flows)

    def to_dict(self) -> dict[str, Any]:
        """The canonical dict of the model (placeholders as written; secrets.toml not merged)."""
        return self.model.to_dict()

    def show(self) -> dict[str, Any]:
        """The model with secrets.toml merged in, every secret masked: what ``headwater flows show`` prints."""
        shown = masked(self.model.to_dict())
        for section in ("sources", "destinations"):
            for cid, table in (self.secrets.get(section) or {}).items():
                target = shown.setdefault(section, {}).setdefault(cid, {})
                target["config"] = merge(target.get("config", {}), masked(table.get("config", {}), secret=True))
        return shown

    # -- running ---------------------------------------------------------------------------------
    def select(self, names: Iterable[str] | None) -> list[Flow]:
        """The flows named (all when None), in the file's order; unknown names are ConfigErrors."""
        if names is None:
            return list(self.model.flows)
        wanted = list(dict.fromkeys(names))
        for n in wanted:
            self.model.flow(n)  # did-you-mean on a wrong name
        return [f for f in self.model.flows if f.name in wanted]

    def check(self, names: Iterable[str] | None = None) -> None:
        """Check what can be checked without running: every placeholder resolves (variables set, files
        readable, secrets present) and every reference imports. Raises a :class:`FlowsError`."""
        problems = Problems()
        for flow in self.select(names):
            where = self._where(flow)
            if flow.source is not None:
                component = self.model.sources[flow.source]
                self._config("sources", component, problems)
                _importable(component.type, f"sources.{component.id}.type", problems)
            if flow.destination is not None:
                component = self.model.destinations[flow.destination]
                self._config("destinations", component, problems)
                _importable(component.type, f"destinations.{component.id}.type", problems)
            for key, table in (("extractor", flow.extractor), ("loader", flow.loader)):
                if table is not None:
                    Resolver(self.here).resolve(table, f"{where}.{key}", problems)
                    _importable(table.get("class"), f"{where}.{key}.class", problems)
            for key in HOOK_OPTIONS:
                _importable(flow.pipeline.get(key), f"{where}.pipeline.{key}", problems)
            if flow.transform is not None:
                _importable(flow.transform.get("function"), f"{where}.transform.function", problems)
                check_query(flow.transform, self.here, f"{where}.transform", problems)
        problems.raise_if_any(self.origin)

    def build(
        self,
        names: Iterable[str] | None = None,
        *,
        pipelines_dir: Any = None,
        progress: bool | str | None = None,
        claim: bool = True,
    ) -> list[Built]:
        """Every selected flow made ready to run, or a :class:`FlowsError` listing every mistake
        (missing secrets, unknown resources, options a factory refuses) before anything runs."""
        problems = Problems()
        built: list[Built] = []
        for flow in self.select(names):
            where = self._where(flow)
            try:
                made = self._build(flow, where, problems, pipelines_dir=pipelines_dir, progress=progress, claim=claim)
            except ConfigError as exc:
                problems.add(where, exc.message, exc.hint)
                continue
            except Exception as exc:  # a source that cannot connect: that flow fails, the others run
                built.append(Built(flow, None, None, error=exc))
                continue
            if made is not None:
                built.append(made)
        problems.raise_if_any(self.origin)
        # pipelines are made (their working folders claimed) only once every flow is known to be right
        for b in built:
            if b.error is not None:
                continue
            b.pipeline = _pipeline(b, pipelines_dir)
            # Hippo's extractors and loaders share DuckDB's default connection: one such flow at a time
            b.lock_key = "hippo" if b.flow.hippo or b.flow.loader is not None else _lock_key(b.pipeline.destination)
        return built

    def run(
        self,
        names: Iterable[str] | None = None,
        *,
        parallel: int = 1,
        pipelines_dir: Any = None,
        progress: bool | str | None = None,
    ) -> list[Any]:
        """Run the flows (all, or those named); one :class:`~headwater.LoadInfo` per flow, in order.

        Args:
            names: the flows to run (default: all).
            parallel: how many flows run at once; flows writing one DuckDB file still run one at a time.
            pipelines_dir: where the pipelines' working folders live (default ``~/.headwater/pipelines``).
            progress: live progress (default: "auto" for one flow at a time, "log" lines when parallel).

        Raises:
            FlowsError: a mistake in the flows, found before anything ran.
            FlowsFailed: some flows failed (the others ran); ``results`` tells each flow's outcome.
        """
        if not isinstance(parallel, int) or parallel < 1:
            raise ConfigError(f"parallel must be a positive integer, got {parallel!r}")
        if progress is None:
            progress = "auto" if parallel == 1 else "log"
        built = self.build(names, pipelines_dir=pipelines_dir, progress=progress)
        results = self._execute(built, parallel, lambda b: b.pipeline.run(b.data))
        if any(not r.ok for r in results):
            raise FlowsFailed(results)
        return [r.info for r in results]

    def plan(
        self, names: Iterable[str] | None = None, *, limit: int | None = None, pipelines_dir: Any = None
    ) -> list[Any]:
        """A dry run of the flows: one plan per flow (see ``Pipeline.plan``); nothing is written."""
        built = self.build(names, pipelines_dir=pipelines_dir, progress=False, claim=False)
        results = self._execute(built, 1, lambda b: b.pipeline.plan(b.data, limit=limit))
        if any(not r.ok for r in results):
            raise FlowsFailed(results)
        return [r.info for r in results]

    def _execute(self, built: list[Built], parallel: int, step: Any) -> list[FlowResult]:
        locks = {b.lock_key: threading.Lock() for b in built if b.lock_key is not None}

        def one(b: Built) -> FlowResult:
            if b.error is not None:
                log.error("flow %s failed: %s", b.flow.name, b.error)
                return FlowResult(b.flow.name, error=b.error)
            lock = locks.get(b.lock_key) if b.lock_key is not None else None
            try:
                if lock is not None:
                    with lock:
                        return FlowResult(b.flow.name, step(b))
                return FlowResult(b.flow.name, step(b))
            except Exception as exc:  # one failed flow does not stop the others
                log.error("flow %s failed: %s", b.flow.name, exc)
                return FlowResult(b.flow.name, exc.info if isinstance(exc, ModelError) else None, exc)

        if parallel == 1 or len(built) < 2:
            return [one(b) for b in built]
        with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="headwater-flow") as pool:
            return list(pool.map(one, built))

    # -- building one flow -------------------------------------------------------------------------
    def _where(self, flow: Flow) -> str:
        return f"flows[{self.model.flows.index(flow)}]"

    def _values(self) -> list[tuple[str, Any]]:
        out: list[tuple[str, Any]] = [(f"sources.{k}.config", c.config) for k, c in self.model.sources.items()]
        out += [(f"destinations.{k}.config", c.config) for k, c in self.model.destinations.items()]
        for i, f in enumerate(self.model.flows):
            out += [(f"flows[{i}].{k}", v) for k, v in (("extractor", f.extractor), ("loader", f.loader)) if v]
        return out

    def _config(self, section: str, component: Component, problems: Problems) -> dict[str, Any]:
        resolver = Resolver(self.here)
        where = f"{section}.{component.id}.config"
        config = resolver.resolve(component.config, where, problems)
        overlay = ((self.secrets.get(section) or {}).get(component.id) or {}).get("config") or {}
        if overlay:
            config = merge(config, resolver.resolve(overlay, where, problems, secret=True))
        return config

    def _build(
        self,
        flow: Flow,
        where: str,
        problems: Problems,
        *,
        pipelines_dir: Any,
        progress: bool | str | None,
        claim: bool = True,
    ) -> Built | None:
        """The flow made ready to run, or None when a problem was recorded (its source and its
        destination are both tried, so that every mistake is reported at once)."""
        failed = Problems()
        data = self._data(flow, where, failed)
        destination = self._target(flow, where, failed)
        pipeline_options = Resolver(self.here).resolve(flow.pipeline, f"{where}.pipeline", failed)  # ${env:} keys
        load_hooks(pipeline_options, f"{where}.pipeline", failed)  # package.module:function imported now
        for item in failed.items:
            problems.add(*item)
        if failed.items:
            return None
        options = {**pipeline_options, **({"progress": progress} if progress is not None else {}), "claim": claim}
        options.update(pipeline_models(flow.models, self.here))  # SQL models, paths from the flows file
        return Built(flow, None, data, destination=destination, options=options)

    def _data(self, flow: Flow, where: str, problems: Problems) -> Any:
        """What the flow extracts: its source with the resources selected and hinted, or its extractor."""
        if flow.hippo:
            from headwater.flows import hippo

            table = Resolver(self.here).resolve(flow.extractor, f"{where}.extractor", problems)
            try:
                return hippo.extractor_resource(
                    hippo.make_extractor(table),
                    name=flow.name,
                    hints=_hints(flow.hints),
                    transformer=flow.transform,
                    base_dir=self.here,
                )
            except ConfigError as exc:
                problems.add(f"{where}.extractor", exc.message, exc.hint)
                return None
        assert flow.source is not None
        component = self.model.sources[flow.source]
        config = self._config("sources", component, problems)
        try:
            data = _source(component, config, f"sources.{component.id}")
        except ConfigError as exc:  # the source's own check of its options: a mistake of its table
            problems.add(
                f"sources.{component.id}.config", exc.message.removeprefix(f"sources.{component.id}: "), exc.hint
            )
            return None
        try:
            data = _select(data, flow, where)
        except ConfigError as exc:
            problems.add(where, exc.message, exc.hint)
            return None
        spec = Resolver(self.here).resolve(flow.transform, f"{where}.transform", problems)
        return with_transform(data, spec, self.here, f"{where}.transform", problems)

    def _target(self, flow: Flow, where: str, problems: Problems) -> Any:
        """Where the flow loads: its declared destination, or its Hippo loader."""
        if flow.loader is not None:
            from headwater.flows import hippo

            table = Resolver(self.here).resolve(flow.loader, f"{where}.loader", problems)
            try:
                return hippo.make_loader(table)
            except ConfigError as exc:
                problems.add(f"{where}.loader", exc.message, exc.hint)
                return None
        assert flow.destination is not None
        component = self.model.destinations[flow.destination]
        config = self._config("destinations", component, problems)
        try:
            return _destination(component, config, f"destinations.{component.id}")
        except ConfigError as exc:
            problems.add(
                f"destinations.{component.id}.config",
                exc.message.removeprefix(f"destinations.{component.id}.config: ").removeprefix(
                    f"destinations.{component.id}: "
                ),
                exc.hint,
            )
            return None


def _importable(value: Any, where: str, problems: Problems) -> None:
    from headwater.flows.reader import is_reference

    if is_reference(value):
        try:
            load_reference(value, where)
        except ConfigError as exc:
            problems.add(where, exc.message.removeprefix(f"{where}: "), exc.hint)


def _hints(hints: Mapping[str, Any]) -> dict[str, Any]:
    return {k: hint_value(k, v) for k, v in hints.items()}


def _source(component: Component, config: dict[str, Any], where: str) -> Any:
    from headwater.flows.reader import is_reference
    from headwater.sources import registry

    kind = component.type
    if isinstance(kind, str) and not is_reference(kind):
        return registry.make(kind, config)
    made = load_reference(kind, f"{where}.type")
    if callable(made) and not _is_data(made):
        return made(**config)
    if config:
        raise ConfigError(f"{where}: config given for a source object that takes none", hint="drop the config table")
    return made


def _is_data(obj: Any) -> bool:
    from headwater.streams.resource import Resource
    from headwater.streams.source import Source

    return isinstance(obj, Source | Resource)


def _select(data: Any, flow: Flow, where: str) -> Any:
    from headwater.streams.resource import Resource
    from headwater.streams.source import Source

    if isinstance(data, Source):
        if flow.resources is not None:
            data = data.with_resources(*_resource_names(data, flow.resources))
        resources = data.selected_resources
    elif isinstance(data, Resource):
        if flow.resources is not None and set(flow.resources) != {data.name}:
            raise ConfigError(f"{where}.resources: the source has one resource, {data.name!r}")
        resources = [data]
    else:
        raise ConfigError(
            f"{where}: the source made {type(data).__name__}, not a Headwater source or resource",
            hint="a source factory returns hw.source/hw.resource objects",
        )
    chosen = {_resource_names(data, [n])[0]: h for n, h in (flow.resources or {}).items()} if flow.resources else {}
    for r in resources:
        hints = {**flow.hints, **(chosen.get(r.name) or {})}
        if hints:
            r.apply_hints(**_hints(hints))
    return data


def _resource_names(source: Any, wanted: Iterable[str]) -> list[str]:
    """Resource names as the source spells them: a name matches exactly, else the one resource whose
    table name (snake_case) it is (``invoice_line`` selects a table ``InvoiceLine``); others stay for
    the source's error."""
    from headwater.schema.naming import snake_case

    known = list(getattr(source, "resources", {}) or [getattr(source, "name", "")])
    out = []
    for name in wanted:
        alike = [k for k in known if snake_case(k) == snake_case(name)]
        out.append(name if name in known or len(alike) != 1 else alike[0])
    return out


def _destination(component: Component, config: dict[str, Any], where: str) -> Any:
    from headwater import destinations
    from headwater.destinations.protocol import Destination
    from headwater.flows.reader import is_reference

    kind = component.type
    if isinstance(kind, str) and not is_reference(kind):
        kind = load_reference(destinations.available()[kind], f"{where}.type")
    else:
        kind = load_reference(kind, f"{where}.type")
    if isinstance(kind, Destination) and not isinstance(kind, type):
        if config:
            raise ConfigError(f"{where}: config given for a destination object", hint="drop the config table")
        return kind
    try:
        return kind(**config)
    except TypeError as exc:
        raise ConfigError(f"{where}.config: {exc}") from exc


def _pipeline(b: Built, pipelines_dir: Any) -> Any:
    from headwater.pipelines.pipeline import pipeline

    try:
        return pipeline(
            b.flow.name, destination=b.destination, dataset=b.flow.dataset, pipelines_dir=pipelines_dir, **b.options
        )
    except ConfigError as exc:
        raise FlowsError([(b.flow.name, f"{exc.message}; {exc.hint}" if exc.hint else exc.message)]) from exc


def _lock_key(destination: Any) -> str | None:
    """Flows writing one DuckDB file share this key (DuckDB allows one writer at a time)."""
    path = getattr(destination, "path", None)
    if getattr(destination, "name", None) == "duckdb" and path is not None:
        return f"duckdb:{Path(path).resolve()}"
    return None


def load(source: Any, *, secrets: Mapping[str, Any] | None = None) -> Flows:
    """Flows from a file (TOML, YAML, or a ``config.py`` with ``FLOWS`` or Hippo's ``PIPELINES``) or a dict.

    Args:
        source: a path, or a dict (the model, Hippo's ``PIPELINES`` dict, or ``{"pipelines": ...}``).
        secrets: tables merged over the values by the same keys when flows run (default: the
            ``secrets.toml`` beside the file).

    Raises:
        FlowsError: every mistake, with its location.
    """
    from headwater.flows.files import read_file, read_secrets
    from headwater.flows.reader import read

    if isinstance(source, Mapping):
        return Flows(read(source), secrets=secrets)
    path = Path(source).expanduser()
    raw = read_file(path)
    model = read(raw, origin=str(path))
    return Flows(
        model, secrets=read_secrets(path) if secrets is None else secrets, here=path.parent.resolve(), origin=str(path)
    )


__all__ = ["FlowResult", "Flows", "FlowsError", "FlowsFailed", "load"]
