"""The run history in the destination: ``_hw_runs`` gets a row per run, load and extract, failed runs
included, with the run's status, times, rows, error and metrics (JSON text)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

import headwater as hw
from headwater.testing import requires, rows

SQL = (
    "select run_id, pipeline, kind, status, rows, error, metrics, started_at, ended_at, seconds, load_ids from _hw_runs"
)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


@requires("run_history")
def test_hw_runs_keeps_every_run_failed_ones_too(make_pipeline: Any) -> None:
    p = make_pipeline("runs_table")

    @hw.resource(name="things", primary_key="id")
    def things() -> Iterator[list[dict[str, Any]]]:
        yield [{"id": i, "parts": [i, i]} for i in range(3)]

    @hw.resource(name="things", primary_key="id")
    def failing() -> Iterator[list[dict[str, Any]]]:
        yield [{"id": 10, "parts": [1]}]
        raise RuntimeError("the source went away")

    ok = p.run(things())
    with pytest.raises(hw.errors.ExtractError, match="the source went away"):
        p.run(failing())
    kept = p.load(include_partial=True)  # the row read before the failure, loaded on its own
    got = sorted(rows(p, SQL), key=lambda r: r[0])
    assert [(r[1], r[2], r[3]) for r in got] == [
        ("runs_table", "run", "completed"),
        ("runs_table", "run", "failed"),
        ("runs_table", "load", "completed"),
    ]
    first, failed, load = got
    assert first[0] == ok.run_id
    assert load[0] == kept.run_id
    assert (first[4], failed[4], load[4]) == (9, 0, 2)  # rows: 3 things and their 6 parts; none; 1 and its part
    assert first[5] is None
    assert load[5] is None
    assert failed[5].startswith("ExtractError: ")
    assert "the source went away" in failed[5]
    assert "hint: " in failed[5]
    metrics = _json(first[6])
    assert metrics == ok.metrics.to_dict()
    assert metrics["resources"]["things"]["rows"] == 3
    assert metrics["tables"]["things__parts"]["rows"] == 6
    assert _json(failed[6])["resources"]["things"]["errors"] == 1
    assert _json(first[10]) == ok.load_ids
    assert _json(load[10]) == kept.load_ids
    for r in got:
        assert r[7] <= r[8]
        assert r[9] >= 0
