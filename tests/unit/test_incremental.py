"""The incremental cursor on its own: filtering rows and Arrow tables, boundaries, state."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa
import pytest

import headwater as hw
from headwater.cursors.apply import filter_item
from headwater.errors import ConfigError, DataError

UTC = dt.UTC


def run(inc: Any, slots: dict[str, Any], items: list[Any], pk: tuple[str, ...] = ("id",)) -> list[Any]:
    """One 'run': bind to the state slots, filter the items, commit; returns what passed."""
    bound = inc.bind(slots, "r", pk)
    out = [kept for item in items if (kept := filter_item(bound, item)) is not None]
    bound.commit()
    return out


def ids(items: list[Any]) -> list[int]:
    out: list[int] = []
    for item in items:
        if isinstance(item, dict):
            out.append(item["id"])
        elif isinstance(item, list):
            out.extend(r["id"] for r in item)
        else:
            out.extend(item.column("id").to_pylist())
    return out


def rows(n: int, start: int = 0, step: int = 1) -> list[dict[str, Any]]:
    return [{"id": i, "ts": i // step} for i in range(start, start + n)]


def test_first_run_starts_at_initial_value_and_later_runs_at_the_last_value() -> None:
    inc = hw.incremental("ts", initial_value=2)
    slots: dict[str, Any] = {}
    assert ids(run(inc, slots, rows(6))) == [2, 3, 4, 5]
    assert slots["ts"]["last_value"] == 5
    bound = inc.bind(slots, "r", ("id",))
    assert bound.start_value == 5 and bound.last_value == 5
    # the row on the boundary (id 5) was loaded: only new rows pass
    assert ids(run(inc, slots, rows(9))) == [6, 7, 8]


def test_rows_sharing_the_boundary_value_are_deduplicated_by_key() -> None:
    inc = hw.incremental("ts")
    slots: dict[str, Any] = {}
    first = [{"id": 1, "ts": 10}, {"id": 2, "ts": 10}]
    assert ids(run(inc, slots, [first])) == [1, 2]
    # same boundary value again, one old row, one new row, plus an older row that must not return
    second = [{"id": 2, "ts": 10}, {"id": 3, "ts": 10}, {"id": 0, "ts": 9}]
    assert ids(run(inc, slots, [second])) == [3]
    assert len(slots["ts"]["boundary"]) == 3  # ids 1, 2, 3 all sit on 10
    assert ids(run(inc, slots, [[{"id": 4, "ts": 11}]])) == [4]
    assert len(slots["ts"]["boundary"]) == 1  # the boundary moved: only id 4 is remembered


def test_without_a_primary_key_the_whole_row_identifies_it() -> None:
    inc = hw.incremental("ts")
    slots: dict[str, Any] = {}
    run(inc, slots, [{"v": "a", "ts": 1}], pk=())
    assert run(inc, slots, [{"v": "a", "ts": 1}, {"v": "b", "ts": 1}], pk=()) == [{"v": "b", "ts": 1}]


def test_state_stays_bounded_over_many_runs() -> None:
    inc = hw.incremental("ts")
    slots: dict[str, Any] = {}
    sizes = set()
    for n in range(300):
        run(inc, slots, [[{"id": 10 * n + k, "ts": n} for k in range(3)]])
        sizes.add(len(orjson_dumps(slots)))
    assert slots["ts"]["last_value"] == 299
    assert len(slots["ts"]["boundary"]) == 3
    assert max(sizes) - min(sizes) <= 4  # grows only with the digits of the cursor value


def orjson_dumps(value: Any) -> bytes:
    import orjson

    return orjson.dumps(value)


def test_end_value_bounds_a_backfill_and_leaves_the_live_cursor_alone() -> None:
    live = hw.incremental("ts")
    slots: dict[str, Any] = {}
    run(live, slots, rows(10))
    assert slots["ts"]["last_value"] == 9
    backfill = hw.incremental("ts", initial_value=2, end_value=5)
    assert ids(run(backfill, slots, rows(10))) == [2, 3, 4]
    assert slots["ts"]["last_value"] == 9  # untouched


def test_min_cursor_walks_backwards() -> None:
    inc = hw.incremental("ts", initial_value=8, last_value_func=min)
    slots: dict[str, Any] = {}
    assert ids(run(inc, slots, rows(10))) == [0, 1, 2, 3, 4, 5, 6, 7, 8]
    assert slots["ts"]["last_value"] == 0
    assert ids(run(inc, slots, [{"id": -1, "ts": -1}, {"id": 0, "ts": 0}, {"id": 5, "ts": 5}])) == [-1]


def test_lag_rereads_a_window() -> None:
    inc = hw.incremental("ts", lag=2)
    slots: dict[str, Any] = {}
    run(inc, slots, rows(10))
    assert inc.bind(slots, "r", ("id",)).start_value == 7
    assert ids(run(inc, slots, rows(12))) == [7, 8, 9, 10, 11]


def test_lag_on_iso_strings_and_datetimes() -> None:
    inc = hw.incremental("ts", lag=3600)
    slots: dict[str, Any] = {"ts": {"last_value": "2024-01-02T10:00:00Z"}}
    assert inc.bind(slots, "r", ()).start_value == "2024-01-02T09:00:00Z"
    slots = {"ts": {"last_value": {"$datetime": "2024-01-02T10:00:00+00:00"}}}
    assert inc.bind(slots, "r", ()).start_value == dt.datetime(2024, 1, 2, 9, tzinfo=UTC)


def test_missing_cursor_values() -> None:
    data = [{"id": 1, "ts": 1}, {"id": 2, "ts": None}, {"id": 3}]
    with pytest.raises(DataError, match="no value for the incremental cursor 'ts'"):
        run(hw.incremental("ts"), {}, [data])
    assert ids(run(hw.incremental("ts", on_cursor_value_missing="include"), {}, [data])) == [1, 2, 3]
    assert ids(run(hw.incremental("ts", on_cursor_value_missing="exclude"), {}, [data])) == [1]


def test_nested_cursor_path_and_datetime_against_iso_initial_value() -> None:
    inc = hw.incremental("meta.updated", initial_value="2024-01-02T00:00:00Z")
    data = [{"id": i, "meta": {"updated": dt.datetime(2024, 1, 1 + i, tzinfo=UTC)}} for i in range(4)]
    assert ids(run(inc, {}, data)) == [1, 2, 3]


def test_arrow_tables_are_filtered_vectorized_with_the_same_rules() -> None:
    inc = hw.incremental("ts")
    slots: dict[str, Any] = {}
    t1 = pa.table({"id": [1, 2, 3], "ts": [5, 6, 6]})
    assert ids(run(inc, slots, [t1])) == [1, 2, 3]
    assert slots["ts"]["last_value"] == 6 and len(slots["ts"]["boundary"]) == 2
    t2 = pa.table({"id": [2, 3, 4, 5, 0], "ts": [6, 6, 6, 7, None]})
    with pytest.raises(DataError):
        run(inc, slots, [t2])
    t2 = t2.filter(pa.array([True, True, True, True, False]))
    assert ids(run(inc, dict(slots), [t2])) == [4, 5]


def test_arrow_timestamps_against_an_iso_string() -> None:
    stamps = pa.array([dt.datetime(2024, 1, d, tzinfo=UTC) for d in (1, 2, 3)], pa.timestamp("us", "UTC"))
    inc = hw.incremental("at", initial_value="2024-01-02T00:00:00+00:00", end_value="2024-01-03T00:00:00+00:00")
    out = run(inc, {}, [pa.table({"id": [1, 2, 3], "at": stamps})])
    assert ids(out) == [2]


def test_frames_and_record_batches_are_filtered() -> None:
    import pandas as pd

    inc = hw.incremental("ts", initial_value=2)
    out = run(inc, {}, [pd.DataFrame({"id": [1, 2, 3], "ts": [1, 2, 3]}), pa.record_batch({"id": [4], "ts": [0]})])
    assert ids(out) == [2, 3]


def test_bad_arguments() -> None:
    with pytest.raises(ConfigError, match="max or min"):
        hw.incremental("ts", last_value_func=sorted)
    with pytest.raises(ConfigError, match="on_cursor_value_missing"):
        hw.incremental("ts", on_cursor_value_missing="skip")
    with pytest.raises(ConfigError, match="lag must be"):
        hw.incremental("ts", lag="1h")  # type: ignore[arg-type]
