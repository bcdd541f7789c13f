"""Any depth of nesting loads: objects and lists are unpacked up to max_nesting (at most 64 levels) and
kept exactly as JSON text below; NaN and lone surrogates that JSON cannot hold send their row to the
quarantine with the reason, never to a silent null."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import headwater as hw
from headwater.normalize.flatten import MAX_DEPTH
from tests.unit.normalize_helpers import depth_of, nested


def make(tmp_path: Path, name: str = "deep") -> Any:
    return hw.pipeline(
        name,
        destination=f"duckdb:///{tmp_path}/{name}.duckdb",
        dataset="ds",
        pipelines_dir=tmp_path / "pipelines",
        progress=False,
    )


@pytest.mark.parametrize("max_nesting", [None, 2])
@pytest.mark.parametrize("kind", ["dict", "list"])
@pytest.mark.parametrize("depth", [300, 2_000, 20_000])
def test_any_depth_loads_and_keeps_every_level(tmp_path: Path, depth: int, kind: str, max_nesting: int | None) -> None:
    p = make(tmp_path)
    p.run([{"id": 1, "x": nested(depth, kind)}], table_name="t", max_nesting=max_nesting)
    unpacked = MAX_DEPTH if max_nesting is None else max_nesting
    schema = p.schema()
    json_columns = [
        (t.name, c.name) for t in schema.tables.values() for c in t.columns.values() if c.data_type == "json"
    ]
    assert len(json_columns) == 1
    table, column = json_columns[0]
    (text,) = (
        p.query(f'SELECT CAST("{column}" AS VARCHAR) AS j FROM "{table}" WHERE "{column}" IS NOT NULL')
        .column("j")
        .to_pylist()
    )
    assert depth_of(text) == depth - unpacked  # every level below the unpacked ones is in the JSON
    assert text.count("1") == 1
    if kind == "list":  # each unpacked list level is a child table with one row
        assert len([t for t in schema.tables if t.startswith("t__")]) == unpacked


def test_deep_rows_hash_for_scd2_and_quarantine_as_json(tmp_path: Path) -> None:
    p = make(tmp_path, "deep_scd2")
    deep = nested(3_000, "dict")
    p.run([{"id": 1, "x": deep}], table_name="t", write_disposition="merge", primary_key="id", merge_strategy="scd2")
    p.run([{"id": 1, "x": deep}], table_name="t", write_disposition="merge", primary_key="id", merge_strategy="scd2")
    assert p.query("SELECT count(*) AS n FROM t").column("n").to_pylist() == [1]  # same version: one row
    p.run(
        [{"id": 1, "x": nested(3_000, "dict", 2)}],
        table_name="t",
        write_disposition="merge",
        primary_key="id",
        merge_strategy="scd2",
    )
    assert p.query("SELECT count(*) AS n FROM t").column("n").to_pylist() == [2]  # a new version


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (float("nan"), "NaN and infinities"),
        (float("-inf"), "NaN and infinities"),
        ("bad\ud800", "lone surrogates"),
    ],
    ids=["nan", "-inf", "lone-surrogate"],
)
def test_a_value_json_cannot_hold_quarantines_its_row(tmp_path: Path, value: Any, reason: str) -> None:
    p = make(tmp_path, "deep_quarantine")
    rows = [{"id": 1, "x": {"a": {"b": value}}}, {"id": 2, "x": {"a": {"b": 1.5}}}]
    p.run(rows, table_name="t", max_nesting=1)
    assert p.query("SELECT id, x__a FROM t").to_pylist() == [{"id": 2, "x__a": '{"b":1.5}'}]
    (quarantined,) = p.query('SELECT table_name, reason, CAST("row" AS VARCHAR) AS r FROM _hw_quarantine').to_pylist()
    assert quarantined["table_name"] == "t"
    assert reason in quarantined["reason"] and "x__a" in quarantined["reason"]
    assert quarantined["r"].startswith('{"id":1,"x":{"a":{"b":')
