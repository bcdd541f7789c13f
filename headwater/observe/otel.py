"""OpenTelemetry export of a run: its metrics through the global ``MeterProvider``, one trace per run.

Enabled by ``hw.pipeline(..., telemetry=True)`` or ``HEADWATER_TELEMETRY=1`` (read when the pipeline is
made); it needs the ``otel`` extra (``pip install 'headwater[otel]'``). Headwater only uses the
OpenTelemetry API: what the global providers do with the data (OTLP to a collector, the console, an
in-memory reader in a test) is the application's configuration, as OpenTelemetry intends.

When a run ends, :func:`export` sends:

* a trace: a ``headwater.run`` span from the run's start to its end (status error for a failed run,
  with the exception as an event), a span per stage (``headwater.extract``, ``headwater.normalize``,
  ``headwater.load``: one per package for extract and load) and a ``headwater.resource`` span per
  resource under its extraction. Every span carries ``headwater.pipeline``, ``headwater.run_id``,
  ``headwater.load_id`` (where there is one) and ``headwater.rows``;
* metrics, each with ``headwater.pipeline`` (and the resource, table, stage or reason it is about):
  ``headwater.runs`` (by ``headwater.status``), ``headwater.run.duration``, ``headwater.stage.duration``,
  ``headwater.resource.rows``, ``headwater.resource.bytes``, ``headwater.resource.duration``,
  ``headwater.requests``, ``headwater.retries`` (by ``headwater.reason``), ``headwater.rate_limit.wait``,
  ``headwater.errors``, ``headwater.table.rows``, ``headwater.table.bytes``, ``headwater.quarantined``,
  ``headwater.checks.failed``, ``headwater.cursor.lag`` (a gauge) and each custom metric as
  ``headwater.custom.<name>`` (a counter or a gauge, with its declared description and unit).

The spans are made after the run from the times it recorded (OpenTelemetry takes explicit start and
end times), so collecting costs nothing while the run goes.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from headwater.errors import ConfigError
from headwater.observe.metrics import RunMetrics, declared
from headwater.optional import require

#: the environment variable that turns telemetry on when ``telemetry=`` is not given
ENV = "HEADWATER_TELEMETRY"
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")


def resolve(telemetry: Any) -> bool:
    """Whether a pipeline exports telemetry: ``telemetry`` (True/False), or when None, ``$HEADWATER_TELEMETRY``.

    Raises:
        ConfigError: a value that is not a boolean, or telemetry on without the ``otel`` extra.
    """
    if telemetry is None:
        raw = os.environ.get(ENV, "").strip().lower()
        if raw not in _TRUE + _FALSE:
            raise ConfigError(
                f"${ENV} is {os.environ.get(ENV)!r}, which is neither on nor off",
                hint=f"set it to 1 (export runs to OpenTelemetry) or 0; accepted: {', '.join(_TRUE + _FALSE[1:])}",
            )
        telemetry = raw in _TRUE
    elif not isinstance(telemetry, bool):
        raise ConfigError(f"telemetry must be True or False, got {telemetry!r}")
    if telemetry:
        _api()
    return telemetry


def _api() -> tuple[Any, Any, Any]:
    """OpenTelemetry's trace and metrics APIs and its ``Status`` types (or the install hint)."""
    needed = "telemetry=True (OpenTelemetry export)"
    trace = require("opentelemetry.trace", needed, extra="otel", package="opentelemetry-api")
    metrics = require("opentelemetry.metrics", needed, extra="otel", package="opentelemetry-api")
    status = require("opentelemetry.trace.status", needed, extra="otel", package="opentelemetry-api")
    return trace, metrics, status


def export(record: dict[str, Any], figures: RunMetrics) -> None:
    """Export one run (its record and its metrics) to the global tracer and meter providers."""
    trace, metrics, status = _api()
    version = _version()
    tracer = trace.get_tracer("headwater", version)
    meter = metrics.get_meter("headwater", version)
    _trace(trace, status, tracer, record, figures)
    _metrics(meter, record, figures)


def _version() -> str | None:
    """Headwater's installed version (the instrumentation scope's), if it is installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("headwater")
    except PackageNotFoundError:
        return None


def _ns(iso: str | None, default: int) -> int:
    if not iso:
        return default
    return int(dt.datetime.fromisoformat(iso).timestamp() * 1_000_000_000)


def _trace(trace: Any, status: Any, tracer: Any, record: dict[str, Any], figures: RunMetrics) -> None:
    start = _ns(record.get("started_at"), 0)
    end = _ns(record.get("ended_at"), start)
    base = {"headwater.pipeline": record["pipeline"], "headwater.run_id": record["run_id"]}
    load_ids = [str(i) for i in record.get("load_ids") or []]
    root = tracer.start_span(
        "headwater.run",
        start_time=start,
        attributes={
            **base,
            "headwater.kind": record.get("kind", ""),
            "headwater.status": record.get("status", ""),
            "headwater.rows": int(record.get("rows") or 0),
            "headwater.load_ids": load_ids,
            "headwater.load_id": load_ids[-1] if load_ids else "",
            "headwater.destination": str(record.get("destination") or ""),
            "headwater.dataset": str(record.get("dataset") or ""),
        },
    )
    error = record.get("error")
    if error:
        root.set_status(status.Status(status.StatusCode.ERROR, str(error.get("message") or "")[:500]))
        root.add_event(
            "exception",
            {"exception.type": str(error.get("type") or ""), "exception.message": str(error.get("message") or "")},
            timestamp=end,
        )
    in_root = trace.set_span_in_context(root)
    rows_by_load = _rows_by_load(record)
    extract_spans: list[tuple[int, int, Any]] = []
    for name in (
        "extract",
        "normalize",
        "load",
        *(n for n in figures.stages if n not in ("extract", "normalize", "load")),
    ):
        stage = figures.stages.get(name)
        for s_start, s_end, load_id in stage.spans if stage is not None else ():
            rows = figures.rows if name != "load" else rows_by_load.get(load_id or "", 0)
            span = tracer.start_span(
                f"headwater.{name}",
                context=in_root,
                start_time=s_start,
                attributes={
                    **base,
                    "headwater.stage": name,
                    "headwater.load_id": load_id or "",
                    "headwater.rows": rows,
                },
            )
            span.end(end_time=s_end)
            if name == "extract":
                extract_spans.append((s_start, s_end, span))
    for resource, r in list(figures.resources.items()):
        if r.started_ns is None or r.ended_ns is None:
            continue
        parent = next((sp for a, b, sp in extract_spans if a <= r.started_ns <= b), root)
        load_id = figures.load_ids[-1] if figures.load_ids else ""
        span = tracer.start_span(
            "headwater.resource",
            context=trace.set_span_in_context(parent),
            start_time=r.started_ns,
            attributes={
                **base,
                "headwater.resource": resource,
                "headwater.load_id": load_id,
                "headwater.rows": r.rows,
                "headwater.bytes": r.bytes,
                "headwater.requests": r.requests,
                "headwater.retries": r.retries,
                "headwater.errors": r.errors,
            },
        )
        if r.errors:
            span.set_status(status.Status(status.StatusCode.ERROR, "the resource failed"))
        span.end(end_time=r.ended_ns)
    root.end(end_time=end)


def _rows_by_load(record: dict[str, Any]) -> dict[str, int]:
    """Rows per load id, when the record knows them (one load: all of the run's rows)."""
    load_ids = record.get("load_ids") or []
    return {load_ids[0]: int(record.get("rows") or 0)} if len(load_ids) == 1 else {}


# -- metrics ---------------------------------------------------------------------------------------
#: name -> (kind, unit, description)
_BUILT_IN: dict[str, tuple[str, str, str]] = {
    "headwater.runs": ("counter", "{run}", "runs, by status"),
    "headwater.run.duration": ("histogram", "s", "how long runs took"),
    "headwater.stage.duration": ("histogram", "s", "how long each stage took"),
    "headwater.resource.rows": ("counter", "{row}", "rows a resource yielded"),
    "headwater.resource.bytes": ("counter", "By", "bytes a resource's source read"),
    "headwater.resource.duration": ("histogram", "s", "how long a resource ran"),
    "headwater.requests": ("counter", "{request}", "HTTP requests sent (each attempt)"),
    "headwater.retries": ("counter", "{retry}", "requests retried, by reason"),
    "headwater.rate_limit.wait": ("counter", "s", "time spent waiting for rate limits"),
    "headwater.errors": ("counter", "{error}", "resources that failed"),
    "headwater.table.rows": ("counter", "{row}", "rows normalized into a table"),
    "headwater.table.bytes": ("counter", "By", "Arrow bytes normalized into a table"),
    "headwater.quarantined": ("counter", "{row}", "rows set aside in the quarantine"),
    "headwater.checks.failed": ("counter", "{check}", "data-quality checks that failed"),
    "headwater.cursor.lag": ("gauge", "s", "how far an incremental cursor is behind now"),
}


def _instrument(meter: Any, name: str, kind: str, unit: str, description: str) -> Any:
    """The meter's instrument ``name`` (a meter hands back the one it made before for the same name)."""
    make = {"counter": meter.create_counter, "histogram": meter.create_histogram, "gauge": meter.create_gauge}[kind]
    return make(name, unit=unit, description=description)


def _metrics(meter: Any, record: dict[str, Any], figures: RunMetrics) -> None:
    def put(name: str, value: float, **attributes: Any) -> None:
        kind, unit, description = _BUILT_IN[name]
        instrument = _instrument(meter, name, kind, unit, description)
        attrs = {"headwater.pipeline": record["pipeline"], **{f"headwater.{k}": v for k, v in attributes.items()}}
        if kind == "counter":
            instrument.add(value, attrs)
        elif kind == "histogram":
            instrument.record(value, attrs)
        else:
            instrument.set(value, attrs)

    put("headwater.runs", 1, status=record.get("status", ""), kind=record.get("kind", ""))
    put("headwater.run.duration", float(record.get("seconds") or 0.0), status=record.get("status", ""))
    for name, stage in list(figures.stages.items()):
        put("headwater.stage.duration", stage.seconds, stage=name)
    for resource, r in list(figures.resources.items()):
        put("headwater.resource.rows", r.rows, resource=resource)
        put("headwater.resource.bytes", r.bytes, resource=resource)
        put("headwater.resource.duration", r.seconds, resource=resource)
        put("headwater.requests", r.requests, resource=resource)
        for reason, n in list(r.retry_reasons.items()):
            put("headwater.retries", n, resource=resource, reason=reason)
        put("headwater.rate_limit.wait", r.rate_limit_wait_seconds, resource=resource)
        put("headwater.errors", r.errors, resource=resource)
        if r.cursor is not None and r.cursor.lag_seconds is not None:
            put("headwater.cursor.lag", r.cursor.lag_seconds, resource=resource, column=r.cursor.column)
        known = declared()
        for custom, value in list(r.custom.items()):
            spec = known.get(custom)
            kind = spec.kind if spec is not None else "counter"
            instrument = _instrument(
                meter, f"headwater.custom.{custom}", kind, spec.unit if spec else "", spec.description if spec else ""
            )
            attrs = {"headwater.pipeline": record["pipeline"], "headwater.resource": resource}
            if kind == "counter":
                instrument.add(value, attrs)
            else:
                instrument.set(value, attrs)
    for table, t in list(figures.tables.items()):
        put("headwater.table.rows", t.rows, table=table)
        put("headwater.table.bytes", t.bytes, table=table)
        put("headwater.quarantined", t.quarantined, table=table)
        put("headwater.checks.failed", t.checks_failed, table=table)
