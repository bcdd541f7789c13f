"""The flows model: read from dicts, TOML and YAML; every mistake reported with its location; the
three forms round-trip (hypothesis over generated flows)."""

from __future__ import annotations

import copy
import string
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headwater.flows import FlowsError, FlowsModel
from headwater.flows.files import dumps, loads
from headwater.flows.reader import read, read_pipeline

SOURCES = {"sql_database": "headwater.sources.sql_database:sql_database", "rest_api": "x:y", "filesystem": "x:z"}


def _read(raw: Any) -> FlowsModel:
    return read(raw, sources=lambda: SOURCES)


def base() -> dict[str, Any]:
    return {
        "sources": {"chinook": {"type": "sql_database", "config": {"credentials": "sqlite:///c.sqlite"}}},
        "destinations": {"warehouse": {"type": "duckdb", "config": {"path": "w.duckdb"}}},
        "flows": [{"from": "chinook", "to": "warehouse", "dataset": "raw", "resources": ["invoice"]}],
    }


def test_the_issue_shape_reads_with_defaults() -> None:
    model = _read(base())
    (flow,) = model.flows
    assert flow.name == "chinook_to_warehouse"
    assert (flow.source, flow.destination, flow.dataset) == ("chinook", "warehouse", "raw")
    assert flow.resources == {"invoice": {}}
    assert model.sources["chinook"].config == {"credentials": "sqlite:///c.sqlite"}


def test_vdk_names_are_accepted() -> None:
    raw = base()
    raw["sources"]["chinook"] = {"name": "sql_database", "config": {"credentials": "x"}}
    raw["destinations"]["warehouse"] = {"method": "duckdb"}
    model = _read(raw)
    assert model.sources["chinook"].type == "sql_database"
    assert model.destinations["warehouse"].type == "duckdb"
    # the canonical form writes the main names
    assert model.to_dict()["destinations"]["warehouse"] == {"type": "duckdb"}


def _set(raw: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    target: Any = raw
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value


_DELETE = object()

# (what is changed, the value, the location reported, words the message holds)
MISTAKES = [
    (("flows", 0, "to"), "warehose", "flows[0].to", ["unknown destination 'warehose'", "did you mean 'warehouse'"]),
    (("flows", 0, "from"), "chinok", "flows[0].from", ["unknown source 'chinok'", "did you mean 'chinook'"]),
    (("flows", 0, "from"), _DELETE, "flows[0].from", ["missing"]),
    (("flows", 0, "write_dispositon"), "merge", "flows[0].write_dispositon", ["did you mean 'write_disposition'"]),
    (("flows", 0, "write_disposition"), "upsert", "flows[0].write_disposition", ["write_disposition"]),
    (("flows", 0, "dataset"), "no spaces here", "flows[0].dataset", ["dataset"]),
    (("flows", 0, "name"), "../escape", "flows[0].name", ["pipeline name"]),
    (("flows", 0, "resources"), 3, "flows[0].resources", ["expected a list"]),
    (
        ("flows", 0, "resources"),
        {"invoice": {"primary_kee": "id"}},
        "flows[0].resources.invoice.primary_kee",
        ["did you mean 'primary_key'"],
    ),
    (("flows", 0, "incremental"), {"initial_value": 1}, "flows[0].incremental", ["cursor_path"]),
    (("flows", 0, "pipeline"), {"batch_sise": 3}, "flows[0].pipeline.batch_sise", ["did you mean 'batch_size'"]),
    (("flows", 0, "pipeline"), {"batch_byte": 3}, "flows[0].pipeline.batch_byte", ["did you mean 'batch_bytes'"]),
    (("flows", 0, "pipeline"), {"batch_bytes": 0}, "flows[0].pipeline.batch_bytes", ["a positive integer, got 0"]),
    (("flows", 0, "pipeline"), {"batch_bytes": "16MB"}, "flows[0].pipeline.batch_bytes", ["positive integer"]),
    (("flows", 0, "pipeline"), {"batch_size": True}, "flows[0].pipeline.batch_size", ["positive integer"]),
    (("flows", 0, "transform"), {"query": "select 1", "function": "a:b"}, "flows[0].transform", ["exactly one"]),
    (("sources", "chinook", "type"), "sql_databse", "sources.chinook.type", ["did you mean 'sql_database'"]),
    (
        ("sources", "chinook", "config", "credentails"),
        "x",
        "sources.chinook.config.credentails",
        ["did you mean 'credentials'"],
    ),
    (("sources", "chinook", "options"), {}, "sources.chinook.options", ["unknown key", "config"]),
    (("sources", "chinook", "config"), "x", "sources.chinook.config", ["expected a table"]),
    (("sources", "chinook", "type"), _DELETE, "sources.chinook.type", ["missing"]),
    (("destinations", "warehouse", "type"), "duckbd", "destinations.warehouse.type", ["did you mean 'duckdb'"]),
    (("destinations", "warehouse", "config", "pth"), "x", "destinations.warehouse.config.pth", ["did you mean 'path'"]),
    (("destinaton",), {}, "destinaton", ["did you mean 'destinations'"]),
    (("flows",), {"a": 1}, "flows", ["expected a list"]),
]


@pytest.mark.parametrize(("path", "value", "where", "words"), MISTAKES, ids=[m[2] for m in MISTAKES])
def test_every_mistake_names_its_location(path: tuple[Any, ...], value: Any, where: str, words: list[str]) -> None:
    raw = copy.deepcopy(base())
    _set(raw, path, value)
    with pytest.raises(FlowsError) as caught:
        _read(raw)
    found = [what for at, what in caught.value.problems if at == where]
    assert found, caught.value.problems
    for word in words:
        assert any(word in what for what in found), (word, found)
    assert f"{where}: " in str(caught.value)


def test_all_mistakes_are_reported_together() -> None:
    raw = base()
    raw["flows"].append({"from": "nope", "to": "warehouse", "name": "second"})
    raw["flows"][0]["to"] = "warehose"
    raw["destinations"]["warehouse"]["type"] = "duckbd"
    with pytest.raises(FlowsError) as caught:
        _read(raw)
    places = [at for at, _ in caught.value.problems]
    assert {"flows[0].to", "flows[1].from", "destinations.warehouse.type"} <= set(places)


def test_duplicate_flow_names_are_refused() -> None:
    raw = base()
    raw["flows"].append(dict(raw["flows"][0]))
    with pytest.raises(FlowsError, match="used twice"):
        _read(raw)


def test_hippo_pipelines_dict_and_one_pipeline() -> None:
    class Extractor:
        def __init__(self, config: dict[str, Any]) -> None:
            self.config = config

    pipelines = {
        "orders": {
            "extractor": {"class": Extractor, "path": "x.csv"},
            "transformer": {"query_path": "q.sql", "kwargs": {"since": 1}},
            "loader": {"destination": "duckdb"},
        }
    }
    model = _read(pipelines)  # Hippo's PIPELINES dict as it is
    (flow,) = model.flows
    assert flow.name == "orders" and flow.hippo
    assert flow.transform == {"query_path": "q.sql", "kwargs": {"since": 1}}
    assert _read({"pipelines": pipelines}) == model
    one = read_pipeline(pipelines["orders"])
    assert one.name == "extractor" and one.extractor == pipelines["orders"]["extractor"]


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ({"to": "warehouse"}, "missing"),
        ({"from": "chinook", "extractor": {"class": "a:b"}, "to": "warehouse"}, "not both"),
        ({"extractor": {"path": "x"}, "to": "warehouse", "name": "x"}, "missing: 'class'"),
        ({"extractor": {"class": "a:b"}, "to": "warehouse"}, None),
    ],
)
def test_hippo_flows_inside_flows(entry: dict[str, Any], words: str | None) -> None:
    raw = base()
    raw["flows"] = [entry]
    if words is None:
        (flow,) = _read(raw).flows
        assert flow.name == "b"
        return
    with pytest.raises(FlowsError, match=words):
        _read(raw)


# -- round trip: dict -> TOML -> YAML -> dict ------------------------------------------------------
_names = st.text(string.ascii_lowercase + "_", min_size=1, max_size=8).filter(lambda s: s[0] != "_")
_scalars = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=20),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.booleans(),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_names, inner, max_size=3)),
    max_leaves=8,
)


@st.composite
def flows_dicts(draw: st.DrawFn) -> dict[str, Any]:
    source_ids = draw(st.lists(_names, min_size=1, max_size=3, unique=True))
    dest_ids = draw(st.lists(_names, min_size=1, max_size=3, unique=True))
    sources = {
        sid: {
            "type": draw(st.sampled_from(["rest_api", "filesystem", "pkg.mod:factory"])),
            "config": draw(st.dictionaries(_names, _values, max_size=3)),
        }
        for sid in source_ids
    }
    destinations = {did: {"type": draw(st.sampled_from(["duckdb", "postgres", "pkg.dest:Thing"]))} for did in dest_ids}
    flows = []
    for i in range(draw(st.integers(1, 3))):
        flow: dict[str, Any] = {
            "name": f"flow_{i}",
            "from": draw(st.sampled_from(source_ids)),
            "to": draw(st.sampled_from(dest_ids)),
        }
        if draw(st.booleans()):
            flow["dataset"] = draw(_names)
        if draw(st.booleans()):
            flow["write_disposition"] = draw(st.sampled_from(["append", "replace", "merge"]))
        if draw(st.booleans()):
            flow["primary_key"] = draw(st.one_of(_names, st.lists(_names, min_size=1, max_size=2)))
        resources = draw(
            st.one_of(
                st.none(),
                st.lists(_names, max_size=3, unique=True),
                st.dictionaries(_names, st.fixed_dictionaries({"max_nesting": st.integers(0, 5)}), max_size=2),
            )
        )
        if resources is not None:
            flow["resources"] = resources
        if draw(st.booleans()):
            flow["pipeline"] = {"batch_size": draw(st.integers(1, 10**6))}
        if draw(st.booleans()):
            flow["transform"] = {"query": "select * from records where a > $a", "params": {"a": draw(st.integers())}}
        flows.append(flow)
    return {"sources": sources, "destinations": destinations, "flows": flows}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(flows_dicts())
def test_dict_toml_yaml_round_trip(raw: dict[str, Any]) -> None:
    model = _read(raw)
    toml_text = dumps(model.to_dict(), "toml")
    from_toml = _read(loads(toml_text, "toml"))
    assert from_toml == model
    yaml_text = dumps(from_toml.to_dict(), "yaml")
    from_yaml = _read(loads(yaml_text, "yaml"))
    assert from_yaml == model
    assert _read(from_yaml.to_dict()) == model


def test_classes_and_functions_are_written_as_references() -> None:
    from headwater.destinations.duckdb import DuckDBDestination

    raw = base()
    raw["destinations"]["warehouse"]["type"] = DuckDBDestination
    text = dumps(_read(raw).to_dict(), "toml")
    assert 'type = "headwater.destinations.duckdb.destination:DuckDBDestination"' in text
    assert _read(loads(text, "toml")).destinations["warehouse"].type == (
        "headwater.destinations.duckdb.destination:DuckDBDestination"
    )


@pytest.mark.parametrize("value", [lambda: 1, object()], ids=["lambda", "instance"])
def test_what_a_file_cannot_hold_is_named(value: Any) -> None:
    raw = base()
    raw["sources"]["chinook"]["config"]["credentials"] = value
    from headwater.errors import ConfigError

    with pytest.raises(ConfigError, match=r"sources\.chinook\.config\.credentials"):
        dumps(_read(raw).to_dict(), "toml")
