"""OpenTelemetry export: the SDK's in-memory span exporter and metric reader installed as the global
providers (once per process, as an application does), then real runs with ``telemetry=True``."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import headwater as hw
from headwater.errors import ConfigError

LOOKUPS = hw.metrics.counter("lookups", description="lookups made", unit="{lookup}")


class Telemetry:
    def __init__(self) -> None:
        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        self.spans = InMemorySpanExporter()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        trace.set_tracer_provider(tracer_provider)
        self.reader = InMemoryMetricReader()
        metrics.set_meter_provider(MeterProvider(metric_readers=[self.reader]))
        assert trace.get_tracer_provider() is tracer_provider, "another test set the global tracer provider first"

    def points(self, name: str) -> list[tuple[dict[str, Any], Any]]:
        """(attributes, value) of every data point of metric ``name`` (cumulative since the start)."""
        out = []
        data = self.reader.get_metrics_data()
        for rm in data.resource_metrics if data is not None else ():
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name == name:
                        for point in metric.data.data_points:
                            value = getattr(point, "value", None)
                            out.append((dict(point.attributes), value if value is not None else point.sum))
        return out


@pytest.fixture(scope="module")
def telemetry() -> Telemetry:
    return Telemetry()


@hw.resource(primary_key="id")
def customers() -> Iterator[dict[str, Any]]:
    for i in range(4):
        LOOKUPS.inc()
        yield {"id": i, "phones": [f"+1-{i}", f"+2-{i}"]}


@hw.resource(primary_key="id")
def invoices() -> Iterator[list[dict[str, Any]]]:
    LOOKUPS.inc(3)
    yield [{"id": i, "total": i * 10} for i in range(6)]


@hw.source
def billing() -> Any:
    return customers, invoices


def test_a_run_is_one_trace_with_a_span_per_stage_and_resource(
    telemetry: Telemetry, make_pipeline: Callable[..., Any]
) -> None:
    telemetry.spans.clear()
    info = make_pipeline("otel_ok", telemetry=True).run(billing())
    spans = telemetry.spans.get_finished_spans()
    (root,) = [s for s in spans if s.name == "headwater.run"]
    assert root.parent is None
    assert {s.context.trace_id for s in spans} == {root.context.trace_id}  # one trace
    assert root.attributes["headwater.pipeline"] == "otel_ok"
    assert root.attributes["headwater.run_id"] == info.run_id
    assert root.attributes["headwater.load_id"] == info.load_id
    assert root.attributes["headwater.rows"] == info.rows == 4 + 8 + 6
    assert root.attributes["headwater.status"] == "completed"
    stages = {s.name: s for s in spans if s.name in ("headwater.extract", "headwater.normalize", "headwater.load")}
    assert set(stages) == {"headwater.extract", "headwater.normalize", "headwater.load"}
    assert all(s.parent.span_id == root.context.span_id for s in stages.values())
    assert stages["headwater.load"].attributes["headwater.load_id"] == info.load_id
    assert stages["headwater.load"].attributes["headwater.rows"] == info.rows
    resources = {s.attributes["headwater.resource"]: s for s in spans if s.name == "headwater.resource"}
    assert set(resources) == {"customers", "invoices"}
    extract = stages["headwater.extract"]
    for name, rows in (("customers", 4), ("invoices", 6)):
        span = resources[name]
        assert span.parent.span_id == extract.context.span_id
        assert span.attributes["headwater.rows"] == rows
        assert span.attributes["headwater.run_id"] == info.run_id
        assert span.attributes["headwater.load_id"] == info.load_id
        assert extract.start_time <= span.start_time <= span.end_time <= root.end_time

    def value(name: str, **attrs: Any) -> Any:
        wanted = {"headwater.pipeline": "otel_ok", **{f"headwater.{k}": v for k, v in attrs.items()}}
        found = [v for a, v in telemetry.points(name) if all(a.get(k) == x for k, x in wanted.items())]
        assert len(found) == 1, (name, attrs, telemetry.points(name))
        return found[0]

    assert value("headwater.runs", status="completed", kind="run") == 1
    assert value("headwater.resource.rows", resource="customers") == 4
    assert value("headwater.table.rows", table="customers__phones") == 8
    assert value("headwater.custom.lookups", resource="customers") == 4
    assert value("headwater.custom.lookups", resource="invoices") == 3


def test_a_failed_run_is_an_error_span_and_counts_as_failed(
    telemetry: Telemetry, make_pipeline: Callable[..., Any]
) -> None:
    @hw.resource
    def broken() -> Iterator[dict[str, Any]]:
        yield {"id": 1}
        raise ValueError("the export file is truncated")

    telemetry.spans.clear()
    with pytest.raises(hw.errors.ExtractError):
        make_pipeline("otel_failed", telemetry=True).run(broken())
    (root,) = [s for s in telemetry.spans.get_finished_spans() if s.name == "headwater.run"]
    assert root.status.status_code.name == "ERROR"
    (event,) = [e for e in root.events if e.name == "exception"]
    assert event.attributes["exception.type"] == "ExtractError"
    assert "the export file is truncated" in event.attributes["exception.message"]
    (resource,) = [s for s in telemetry.spans.get_finished_spans() if s.name == "headwater.resource"]
    assert resource.status.status_code.name == "ERROR"
    failed = [v for a, v in telemetry.points("headwater.runs") if a.get("headwater.pipeline") == "otel_failed"]
    assert failed == [1]


def test_telemetry_off_exports_nothing(telemetry: Telemetry, make_pipeline: Callable[..., Any]) -> None:
    telemetry.spans.clear()
    make_pipeline("otel_off").run(customers())
    assert telemetry.spans.get_finished_spans() == ()


def test_the_environment_variable_turns_it_on_and_is_checked(
    telemetry: Telemetry, make_pipeline: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEADWATER_TELEMETRY", "1")
    assert make_pipeline("otel_env").telemetry is True
    assert make_pipeline("otel_env", telemetry=False).telemetry is False  # the argument wins
    monkeypatch.setenv("HEADWATER_TELEMETRY", "maybe")
    with pytest.raises(ConfigError, match="neither on nor off") as err:
        make_pipeline("otel_env")
    assert "set it to 1" in (err.value.hint or "")
    with pytest.raises(ConfigError, match="telemetry must be True or False"):
        make_pipeline("otel_env", telemetry="yes")


def test_without_the_extra_enabling_it_says_what_to_install(
    make_pipeline: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for module in ("opentelemetry", "opentelemetry.trace", "opentelemetry.metrics", "opentelemetry.trace.status"):
        monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ConfigError, match=r"telemetry=True .* needs the opentelemetry-api package") as err:
        make_pipeline("otel_missing", telemetry=True)
    assert "pip install 'headwater[otel]'" in (err.value.hint or "")
    assert make_pipeline("otel_missing").run(customers()).rows == 12  # off, it needs nothing


def test_a_flow_turns_it_on_with_its_pipeline_option(telemetry: Telemetry, tmp_path: Any) -> None:
    (tmp_path / "flows.toml").write_text(
        f"""
[sources.numbers]
type = "tests.integration.observe.test_otel:customers"

[destinations.wh]
type = "duckdb"
config = {{ path = "{tmp_path / "wh.duckdb"}" }}

[[flows]]
name = "traced"
from = "numbers"
to = "wh"
pipeline = {{ telemetry = true, progress = false }}

[[flows]]
name = "quiet"
from = "numbers"
to = "wh"
pipeline = {{ progress = false }}
"""
    )
    telemetry.spans.clear()
    flows = hw.flows.load(tmp_path / "flows.toml")
    flows.run(["traced", "quiet"], pipelines_dir=tmp_path / "p")
    roots = [s for s in telemetry.spans.get_finished_spans() if s.name == "headwater.run"]
    assert [s.attributes["headwater.pipeline"] for s in roots] == ["traced"]  # only the flow that asked


def test_a_flows_telemetry_option_that_is_not_a_boolean_is_a_config_error(tmp_path: Any) -> None:
    (tmp_path / "flows.toml").write_text(
        """
[[flows]]
name = "traced"
from = "x"
to = "y"
pipeline = { telemetry = "yes" }
"""
    )
    with pytest.raises(ConfigError, match=r"flows\[0\]\.pipeline\.telemetry.*expected true or false") as err:
        hw.flows.load(tmp_path / "flows.toml")
    assert "HEADWATER_TELEMETRY" in str(err.value)
