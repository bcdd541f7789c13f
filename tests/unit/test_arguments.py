"""A misspelled keyword argument anywhere in the Python API is a ConfigError with a "did you mean"
(destinations, sources, decorators, pipelines), never Python's bare TypeError."""

from __future__ import annotations

from typing import Any

import pytest

import headwater as hw
from headwater.errors import ConfigError

CASES: list[tuple[str, Any, dict[str, Any], str]] = [
    ("hw.destinations.duckdb", lambda **kw: hw.destinations.duckdb(**kw), {"pth": "x.duckdb"}, "path"),
    ("hw.destinations.postgres", lambda **kw: hw.destinations.postgres(**kw), {"ulr": "postgresql://h/d"}, "url"),
    ("hw.destinations.filesystem", lambda **kw: hw.destinations.filesystem("out", **kw), {"formt": "csv"}, "format"),
    ("hw.destinations.iceberg", lambda **kw: hw.destinations.iceberg(**kw), {"warehose": "wh"}, "warehouse"),
    ("hw.destinations.delta", lambda **kw: hw.destinations.delta(**kw), {"locaton": "lake"}, "location"),
    ("hw.sources.sql_database", lambda **kw: hw.sources.sql_database("sqlite://", **kw), {"tabels": ["t"]}, "tables"),
    ("hw.sources.filesystem", lambda **kw: hw.sources.filesystem("data", **kw), {"glb": "*.csv"}, "glob"),
    ("hw.sources.filesystem", lambda **kw: hw.sources.filesystem("data", **kw), {"primary_kye": "id"}, "primary_key"),
    ("hw.sources.rest_api", lambda **kw: hw.sources.rest_api(**kw), {"confg": {}}, "config"),
    ("resource", lambda **kw: hw.resource(**kw)(lambda: [])(), {"write_dispostion": "merge"}, "write_disposition"),
    ("pipeline", lambda **kw: hw.pipeline("args", **kw), {"datset": "raw"}, "dataset"),
]


@pytest.mark.parametrize(("where", "call", "kwargs", "meant"), CASES, ids=[f"{c[0]}-{next(iter(c[2]))}" for c in CASES])
def test_a_misspelled_argument_says_did_you_mean(where: str, call: Any, kwargs: dict[str, Any], meant: str) -> None:
    with pytest.raises(ConfigError) as err:
        call(**kwargs)
    text = str(err.value)
    assert f"unknown argument {next(iter(kwargs))!r}" in text
    assert f"did you mean {meant!r}?" in text
