"""Helpers of the Singer tests: pipelines into a DuckDB file, fake taps written as scripts."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import Any

import duckdb

import headwater as hw


def make(tmp_path: Path, name: str = "singer") -> Any:
    """A pipeline into ``tmp_path/h.duckdb``, dataset ``d``."""
    dest = hw.destinations.duckdb(str(tmp_path / "h.duckdb"))
    return hw.pipeline(name, destination=dest, dataset="d", pipelines_dir=tmp_path / "p", progress=False)


def rows(tmp_path: Path, sql: str) -> list[tuple[Any, ...]]:
    """The result of ``sql`` on the pipeline's DuckDB file."""
    with duckdb.connect(str(tmp_path / "h.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


#: what every fake tap starts with: its arguments read as a Singer tap reads them
PRELUDE = """\
import json, sys, os
args = sys.argv[1:]
def arg(flag):
    return json.load(open(args[args.index(flag) + 1])) if flag in args else None
config, catalog, state = arg("--config"), arg("--catalog"), arg("--state")
def emit(**m):
    print(json.dumps(m), flush=True)
if "--discover" in args:
    print(json.dumps(CATALOG, indent=2))
    sys.exit(0)
selected = [s["tap_stream_id"] for s in (catalog or CATALOG)["streams"]
            if any(m["breadcrumb"] == [] and m["metadata"].get("selected") for m in s.get("metadata", []))]
"""


def stream(stream_id: str, key: list[str] | None = None, /, **props: str) -> dict[str, Any]:
    """A catalog stream with properties of the given JSON types."""
    return {
        "tap_stream_id": stream_id,
        "stream": stream_id,
        "key_properties": key or [],
        "schema": {"type": "object", "properties": {p: {"type": ["null", t]} for p, t in props.items()}},
        "metadata": [{"breadcrumb": [], "metadata": {"inclusion": "available"}}],
    }


def fake_tap(tmp_path: Path, body: str, streams: list[dict[str, Any]], name: str = "tap-fake") -> str:
    """An executable Singer tap script: the prelude (arguments, ``emit``, ``selected``), then ``body``."""
    path = tmp_path / name
    path.write_text(f"#!{sys.executable}\nCATALOG = {{'streams': {streams!r}}}\n" + PRELUDE + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    assert os.access(path, os.X_OK)
    return str(path)
