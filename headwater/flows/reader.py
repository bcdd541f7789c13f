"""Reading a flows mapping into a :class:`~headwater.flows.model.FlowsModel`, checked once, here.

Every mistake is collected with its location (``flows[2].to: unknown destination 'warehose'; did you
mean 'warehouse'?``) and all of them are raised together as one :class:`FlowsError` before anything
runs. Flow positions count from 0, as in ``flows[0]``.

Three shapes are read:

* the flows model (``sources``, ``destinations``, ``flows``), VDK's names included (``name`` for a
  source's type, ``method`` for a destination's);
* Hippo's ``PIPELINES`` dict (``{"pipelines": {"x": {"extractor": ..., "loader": ...}}}``, or the
  dict itself when every value is a Hippo pipeline);
* one Hippo pipeline (:func:`read_pipeline`), what ``hw.flow(dict)`` takes.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from typing import Any

from headwater import names
from headwater.errors import ConfigError, HeadwaterError, did_you_mean
from headwater.flows.model import FLOW_KEYS, HOOK_OPTIONS, PIPELINE_OPTIONS, Component, Flow, FlowsModel
from headwater.flows.models import read_models
from headwater.redact import redact
from headwater.schema.hints import HINT_NAMES, build_hints
from headwater.transform.spec import TRANSFORM_KEYS

TOP_KEYS = ("sources", "destinations", "flows", "pipelines")
#: ``package.module:attr``: how a file names a class, a function or an object
REFERENCE = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")
_ID = re.compile(r"[A-Za-z_][\w-]*")
_TRANSFORM_KEYS = TRANSFORM_KEYS


class FlowsError(ConfigError):
    """A flows file or dict is invalid; ``problems`` holds every ``(location, message)``."""

    def __init__(self, problems: list[tuple[str, str]], *, origin: str = "flows") -> None:
        # each message is redacted on its own: a location is a key path, never a value, and redacting the
        # whole line would take "token: environment variable ..." for a header and mask its first word
        self.problems = [(where, redact(what)) for where, what in problems]
        self.origin = origin
        super().__init__("")
        lines = "\n".join(f"  {where}: {what}" for where, what in self.problems)
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        self.message = f"{count} in {redact(origin)}:\n{lines}"
        self.args = (self.message,)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_flows_error, (self.problems, self.origin))


def _flows_error(problems: list[tuple[str, str]], origin: str) -> FlowsError:
    return FlowsError(problems, origin=origin)


class Problems:
    """Collects ``(location, message)`` pairs while a mapping is read."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, where: str, message: str, hint: str | None = None) -> None:
        """Record one problem at ``where`` (a hint, such as a "did you mean", follows a ``;``); the same
        problem found twice (a source used by two flows) is kept once."""
        item = (where, f"{message}; {hint}" if hint else message)
        if item not in self.items:
            self.items.append(item)

    def error(self, exc: HeadwaterError, where: str) -> None:
        """Record a ConfigError raised by a check further down, at ``where``."""
        self.add(where, exc.message, exc.hint)

    def raise_if_any(self, origin: str) -> None:
        """Raise every problem recorded, as one :class:`FlowsError`."""
        if self.items:
            raise FlowsError(self.items, origin=origin)


def is_reference(value: object) -> bool:
    """Whether ``value`` is a ``"package.module:attr"`` string."""
    return isinstance(value, str) and REFERENCE.fullmatch(value) is not None


def read(
    raw: Mapping[str, Any],
    *,
    origin: str = "flows",
    sources: Callable[[], Mapping[str, str]] | None = None,
    destinations: Callable[[], Mapping[str, str]] | None = None,
) -> FlowsModel:
    """The flows model of ``raw``, or a :class:`FlowsError` listing every mistake.

    Args:
        raw: the mapping (a Python dict, or a parsed TOML or YAML file).
        origin: what to call it in the error (the file's path).
        sources: the registered source names (default: :func:`headwater.sources.registry.available`).
        destinations: the registered destination names (default: :func:`headwater.destinations.available`).
    """
    problems = Problems()
    if not isinstance(raw, Mapping):
        problems.add("(top)", f"expected a table of sources, destinations and flows, got {type(raw).__name__}")
        problems.raise_if_any(origin)
    raw = dict(raw)
    if raw and "flows" not in raw and "pipelines" not in raw and all(_is_hippo(v) for v in raw.values()):
        raw = {"pipelines": raw}  # Hippo's PIPELINES dict as it is
    for key in raw:
        if key not in TOP_KEYS:
            problems.add(str(key), f"unknown key {key!r}", did_you_mean(key, TOP_KEYS, listing="top-level keys"))
    known_sources = _known(sources, "headwater.sources.registry")
    known_destinations = _known(destinations, "headwater.destinations")
    source_ids = _components(raw.get("sources"), "sources", ("type", "name"), known_sources, problems)
    dest_ids = _components(raw.get("destinations"), "destinations", ("type", "method"), known_destinations, problems)
    flows: list[Flow] = []
    listed = raw.get("flows", [])
    if not isinstance(listed, list):
        problems.add("flows", f"expected a list of flows ([[flows]] tables), got {type(listed).__name__}")
        listed = []
    for index, entry in enumerate(listed):
        made = _flow(entry, f"flows[{index}]", None, source_ids, dest_ids, problems)
        if made is not None:
            flows.append(made)
    pipelines = raw.get("pipelines", {})
    if not isinstance(pipelines, Mapping):
        problems.add("pipelines", f"expected a table of Hippo pipelines by name, got {type(pipelines).__name__}")
        pipelines = {}
    for name, entry in pipelines.items():
        made = _flow(entry, f"pipelines.{name}", str(name), source_ids, dest_ids, problems)
        if made is not None:
            flows.append(made)
    seen: set[str] = set()
    for index, f in enumerate(flows):
        if f.name in seen:
            problems.add(f"flows[{index}].name", f"flow name {f.name!r} is used twice", "give each flow its own name")
        seen.add(f.name)
    problems.raise_if_any(origin)
    return FlowsModel(source_ids, dest_ids, tuple(flows))


def read_pipeline(raw: Mapping[str, Any], *, name: str | None = None, origin: str = "pipeline") -> Flow:
    """One Hippo-style pipeline (``extractor``, ``loader``, optional ``transformer``) as a flow."""
    problems = Problems()
    if not isinstance(raw, Mapping):
        problems.add("(top)", f"expected a pipeline table, got {type(raw).__name__}")
        problems.raise_if_any(origin)
    default = name or raw.get("name") or _default_name(raw.get("extractor"))
    made = _flow(raw, "pipeline", str(default), {}, {}, problems)
    problems.raise_if_any(origin)
    assert made is not None  # problems were raised otherwise
    return made


def _default_name(extractor: Any) -> str:
    cls = extractor.get("class") if isinstance(extractor, Mapping) else None
    label = getattr(cls, "__name__", None) or (str(cls).rpartition(":")[2] if isinstance(cls, str) else "pipeline")
    return re.sub(r"(?<!^)(?=[A-Z])", "_", label).lower()


def _is_hippo(value: Any) -> bool:
    return isinstance(value, Mapping) and "extractor" in value


def _known(given: Callable[[], Mapping[str, str]] | None, module: str) -> Mapping[str, str]:
    if given is not None:
        return given()
    import importlib

    return importlib.import_module(module).available()


def _components(
    raw: Any, section: str, type_keys: tuple[str, str], known: Mapping[str, str], problems: Problems
) -> dict[str, Component]:
    out: dict[str, Component] = {}
    if raw is None:
        return out
    if not isinstance(raw, Mapping):
        problems.add(section, f"expected a table of {section} by id, got {type(raw).__name__}")
        return out
    what = section[:-1]
    for cid, table in raw.items():
        where = f"{section}.{cid}"
        if not isinstance(cid, str) or not _ID.fullmatch(cid):
            problems.add(where, f"invalid {what} id {cid!r}", "use letters, digits, '_' and '-'")
            continue
        if not isinstance(table, Mapping):
            problems.add(where, f"expected a table with type and config, got {type(table).__name__}")
            continue
        main, alias = type_keys
        for key in table:
            if key not in (*type_keys, "config"):
                problems.add(
                    f"{where}.{key}",
                    f"unknown key {key!r}",
                    did_you_mean(key, ("type", "config"), listing=f"a {what} has") + "; options go under config",
                )
        if main in table and alias in table:
            problems.add(where, f"give {main!r} or {alias!r}, not both")
        kind = table.get(main, table.get(alias))
        if kind is None:
            problems.add(f"{where}.{main}", f"missing: the {what} type", did_you_mean("", known, listing="registered"))
            continue
        config = table.get("config", {})
        if not isinstance(config, Mapping):
            problems.add(f"{where}.config", f"expected a table of options, got {type(config).__name__}")
            continue
        if isinstance(kind, str) and not is_reference(kind):
            if kind not in known:
                problems.add(
                    f"{where}.{main}", f"unknown {what} {kind!r}", did_you_mean(kind, known, listing="registered")
                )
                continue
        elif isinstance(kind, str) or kind is None:
            pass  # a reference: resolved when the flow runs (importing it here would run plugin code)
        check_options(kind, config, known, f"{where}.config", what, problems)
        out[cid] = Component(cid, kind, dict(config))
    return out


def check_options(
    kind: Any, config: Mapping[str, Any], known: Mapping[str, str], where: str, what: str, problems: Problems
) -> None:
    """Option names of a registered source or destination checked against its factory's signature."""
    target = known.get(kind) if isinstance(kind, str) else None
    if target is None:
        return
    try:
        parameters = _parameters(target)
    except Exception:  # an uninstalled plugin: its options are checked when it runs
        return
    if parameters is None:
        return
    for key in config:
        if key not in parameters:
            problems.add(
                f"{where}.{key}",
                f"unknown option {key!r} of {what} {kind!r}",
                did_you_mean(key, parameters, listing="options"),
            )


def _parameters(target: str) -> list[str] | None:
    """The keyword options of a factory (``module:attr``), None when it takes ``**kwargs``."""
    import importlib

    module, _, attr = target.partition(":")
    obj = getattr(importlib.import_module(module), attr)
    signature = inspect.signature(obj)
    if any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
        return None
    return [n for n, p in signature.parameters.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def _flow(
    entry: Any,
    where: str,
    name: str | None,
    source_ids: Mapping[str, Component],
    dest_ids: Mapping[str, Component],
    problems: Problems,
) -> Flow | None:
    if not isinstance(entry, Mapping):
        problems.add(where, f"expected a flow table, got {type(entry).__name__}")
        return None
    entry = dict(entry)
    if "transformer" in entry:  # Hippo's name for the transform step
        if "transform" in entry:
            problems.add(where, "give 'transform' or Hippo's 'transformer', not both")
        entry["transform"] = entry.pop("transformer")
    hints: dict[str, Any] = {}
    for key in entry:
        if key not in FLOW_KEYS and key not in HINT_NAMES:
            problems.add(
                f"{where}.{key}",
                f"unknown key {key!r}",
                did_you_mean(key, (*FLOW_KEYS, *HINT_NAMES), listing="a flow has"),
            )
        elif key in HINT_NAMES:
            hints[key] = entry[key]
    source = _reference(entry, "from", "extractor", source_ids, "source", where, problems)
    destination = _reference(entry, "to", "loader", dest_ids, "destination", where, problems)
    flow_name = entry.get("name", name)
    if flow_name is None and source and destination:
        flow_name = f"{source}_to_{destination}"
    elif flow_name is None and isinstance(entry.get("extractor"), Mapping):
        flow_name = _default_name(entry["extractor"])
    if flow_name is None:
        problems.add(f"{where}.name", "missing: the flow's name")
        return None
    try:
        flow_name = names.pipeline_name(flow_name)
    except ConfigError as exc:
        problems.error(exc, f"{where}.name")
    dataset = entry.get("dataset")
    if dataset is not None:
        try:
            names.dataset_name(dataset)
        except ConfigError as exc:
            problems.error(exc, f"{where}.dataset")
    _check_hints(hints, f"{where}", str(flow_name), problems)
    resources = _resources(entry.get("resources"), f"{where}.resources", problems)
    extractor = _hippo_table(entry.get("extractor"), f"{where}.extractor", ("class",), problems)
    loader = _hippo_table(entry.get("loader"), f"{where}.loader", ("class", "destination"), problems)
    transform = _transform(entry.get("transform"), f"{where}.transform", problems)
    pipeline = entry.get("pipeline", {})
    if not isinstance(pipeline, Mapping):
        problems.add(f"{where}.pipeline", f"expected a table of pipeline options, got {type(pipeline).__name__}")
        pipeline = {}
    for key in pipeline:
        if key not in PIPELINE_OPTIONS:
            problems.add(
                f"{where}.pipeline.{key}",
                f"unknown pipeline option {key!r}",
                did_you_mean(key, PIPELINE_OPTIONS, listing="options"),
            )
        elif key in HOOK_OPTIONS:
            _check_hook(pipeline[key], f"{where}.pipeline.{key}", problems)
        elif key == "executor" and not isinstance(pipeline[key], str) and not hasattr(pipeline[key], "run"):
            problems.add(
                f"{where}.pipeline.executor",
                f"expected an executor's name, got {pipeline[key]!r:.80}",
                'executor = "processes" (every core) or "threads" (the default); or hw.executors.processes(...)',
            )
        elif key in ("batch_size", "batch_bytes") and not _positive_int(pipeline[key]):
            problems.add(
                f"{where}.pipeline.{key}",
                f"expected a positive integer, got {pipeline[key]!r:.80}",
                "batch_size is rows, batch_bytes bytes (e.g. batch_bytes = 8388608, 8 MiB, the default); "
                "a batch is cut at whichever comes first",
            )
        elif key == "telemetry" and not isinstance(pipeline[key], bool):
            problems.add(
                f"{where}.pipeline.telemetry",
                f"expected true or false, got {pipeline[key]!r:.80}",
                "telemetry = true exports the flow's runs to OpenTelemetry (the otel extra); "
                "$HEADWATER_TELEMETRY=1 turns it on for every flow without this key",
            )
    return Flow(
        name=str(flow_name),
        source=source,
        destination=destination,
        dataset=dataset,
        resources=resources,
        hints=hints,
        extractor=extractor,
        loader=loader,
        transform=transform,
        pipeline=dict(pipeline),
        models=read_models(entry.get("models"), f"{where}.models", problems),
    )


def _positive_int(value: Any) -> bool:
    """A positive integer (a placeholder would resolve to text, which ``hw.pipeline`` refuses too)."""
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _check_hook(value: Any, where: str, problems: Problems) -> None:
    """An alert hook: a webhook URL, a ``package.module:function`` reference, a placeholder (``${env:HOOK_URL}``),
    or (in Python dicts) a callable."""
    if callable(value) or (isinstance(value, str) and (is_reference(value) or "${" in value)):
        return
    if isinstance(value, str) and value.lower().startswith(("http://", "https://")):
        return
    problems.add(
        where,
        f"expected a webhook URL (http:// or https://) or a function as 'package.module:function', got {value!r:.80}",
        'e.g. on_failure = "https://hooks.example.com/headwater" or on_failure = "myproject.alerts:notify"',
    )


def _reference(
    entry: Mapping[str, Any],
    key: str,
    hippo_key: str,
    ids: Mapping[str, Component],
    what: str,
    where: str,
    problems: Problems,
) -> str | None:
    value = entry.get(key)
    if value is not None and hippo_key in entry:
        problems.add(where, f"give {key!r} or Hippo's {hippo_key!r}, not both")
        return None
    if value is None:
        if hippo_key not in entry:
            problems.add(
                f"{where}.{key}", f"missing: the {what} (a declared {what} id, or a Hippo {hippo_key!r} table)"
            )
        return None
    if not isinstance(value, str) or value not in ids:
        listing = f"declared {what}s"
        problems.add(f"{where}.{key}", f"unknown {what} {value!r}", did_you_mean(value, ids, listing=listing))
        return None
    return value


def _check_hints(hints: Mapping[str, Any], where: str, resource: str, problems: Problems) -> None:
    """Hints checked as a resource checks them (``incremental`` may be a table of its arguments)."""
    for key, value in hints.items():
        try:
            build_hints(resource=resource, **{key: hint_value(key, value)})
        except ConfigError as exc:
            problems.error(exc, f"{where}.{key}")
        except TypeError as exc:
            problems.add(f"{where}.{key}", f"invalid {key}: {exc}")


def hint_value(key: str, value: Any) -> Any:
    """A hint's value as a resource takes it: an ``incremental`` table becomes ``hw.incremental(...)``."""
    if key == "incremental" and isinstance(value, Mapping):
        from headwater.cursors.cursor import incremental

        args = dict(value)
        if "cursor_path" not in args:
            raise ConfigError("incremental needs cursor_path", hint="incremental = { cursor_path = 'updated_at' }")
        return incremental(**args)
    return value


def _resources(value: Any, where: str, problems: Problems) -> dict[str, dict[str, Any]] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list):
        out: dict[str, dict[str, Any]] = {}
        for i, item in enumerate(value):
            if not isinstance(item, str):
                problems.add(f"{where}[{i}]", f"expected a resource name, got {item!r}")
            else:
                out[item] = {}
        return out
    if not isinstance(value, Mapping):
        problems.add(where, f"expected a list of resource names or a table of hints per resource, got {value!r}")
        return None
    out = {}
    for name, hints in value.items():
        if hints is None:
            hints = {}
        if not isinstance(hints, Mapping):
            problems.add(f"{where}.{name}", f"expected a table of resource hints, got {hints!r}")
            continue
        for key in hints:
            if key not in HINT_NAMES:
                problems.add(
                    f"{where}.{name}.{key}", f"unknown hint {key!r}", did_you_mean(key, HINT_NAMES, listing="hints")
                )
        _check_hints({k: v for k, v in hints.items() if k in HINT_NAMES}, f"{where}.{name}", str(name), problems)
        out[str(name)] = dict(hints)
    return out


def _hippo_table(value: Any, where: str, keys: tuple[str, ...], problems: Problems) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        problems.add(where, f"expected a table with {' or '.join(map(repr, keys))}, got {type(value).__name__}")
        return None
    if not any(k in value for k in keys):
        problems.add(where, f"missing: {' or '.join(map(repr, keys))}")
    return dict(value)


def _transform(value: Any, where: str, problems: Problems) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return {"query": value}
    if callable(value):
        return {"function": value}
    if not isinstance(value, Mapping):
        problems.add(where, f"expected SQL text or a table (query, query_path or function), got {value!r}")
        return None
    for key in value:
        if key not in _TRANSFORM_KEYS:
            problems.add(f"{where}.{key}", f"unknown key {key!r}", did_you_mean(key, _TRANSFORM_KEYS, listing="keys"))
    steps = [k for k in ("query", "query_path", "function") if k in value]
    if len(steps) != 1:
        problems.add(where, "give exactly one of 'query', 'query_path' and 'function'")
    for key in ("params", "kwargs"):
        if key in value and not isinstance(value[key], Mapping):
            problems.add(f"{where}.{key}", f"expected a table of values, got {value[key]!r}")
    return dict(value)
