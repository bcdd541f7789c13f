"""One resource feeding several tables, each with hints of its own (hw.with_hints): what a Singer tap
or an Airbyte connector yields."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

import headwater as hw
from headwater.errors import ConfigError


def make(tmp_path: Path) -> Any:
    dest = hw.destinations.duckdb(str(tmp_path / "h.duckdb"))
    return hw.pipeline("hinted", destination=dest, dataset="d", pipelines_dir=tmp_path / "p", progress=False)


def rows(tmp_path: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(tmp_path / "h.duckdb")) as con:
        return con.execute(sql).fetchall()


@hw.resource(name="tap")
def tap(users: list[dict[str, Any]], events: list[dict[str, Any]], replace_events: bool = False) -> Any:
    user_hints = hw.with_hints([], "users", primary_key="id", write_disposition="merge").hints
    for row in users:  # one row at a time, the same hints object: buffered into one batch
        yield hw.streams.hinted.Hinted(row, "users", user_hints)
    disposition = "replace" if replace_events else "append"
    yield hw.with_hints(events, "events", write_disposition=disposition, columns={"at": "timestamp"})


def test_each_table_gets_its_own_hints(tmp_path: Path) -> None:
    p = make(tmp_path)
    users = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
    events = [{"user": 1, "at": "2026-01-01T00:00:00"}]
    info = p.run(tap(users, events))
    assert info.table_rows() == {"users": 2, "events": 1}
    p.run(tap([{"id": 2, "name": "B"}], [{"user": 2, "at": "2026-01-02T00:00:00"}]))
    assert rows(tmp_path, "select id, name from d.users order by id") == [(1, "a"), (2, "B")]  # merged
    assert rows(tmp_path, "select count(*) from d.events") == [(2,)]  # appended
    assert rows(tmp_path, "select data_type from information_schema.columns where column_name = 'at'") == [
        ("TIMESTAMP WITH TIME ZONE",)
    ]


def test_replace_hints_replace_the_table_even_without_rows(tmp_path: Path) -> None:
    p = make(tmp_path)
    p.run(tap([], [{"user": 1, "at": "2026-01-01T00:00:00"}] * 3))
    p.run(tap([], [], replace_events=True))
    assert rows(tmp_path, "select count(*) from d.events") == [(0,)]


def test_hints_that_change_mid_stream_apply_from_then_on(tmp_path: Path) -> None:
    @hw.resource(name="changing")
    def changing() -> Any:
        yield hw.with_hints([{"id": 1, "v": 1}], "t", write_disposition="append")
        yield hw.with_hints([{"id": 1, "v": 2}], "t", write_disposition="replace")

    p = make(tmp_path)
    p.run(hw.resource([{"id": 0, "v": 0}], name="t"))
    p.run(changing())
    assert rows(tmp_path, "select id, v from d.t order by v") == [(1, 1), (1, 2)]  # the load replaced the table


def test_bad_hints_are_refused_where_they_are_built() -> None:
    with pytest.raises(ConfigError, match="write_disposition"):
        hw.with_hints([], "t", write_disposition="apend")
    with pytest.raises(ConfigError, match="does not take 'incremental'"):
        hw.with_hints([], "t", incremental=hw.incremental("id"))
