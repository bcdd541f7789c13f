"""Incremental runs and state against a real DuckDB: exactly once, committed together, restorable."""

from __future__ import annotations

import datetime as dt
import decimal
import json
from pathlib import Path
from typing import Any

import pyarrow as pa

import headwater as hw
from tests.conftest import rows, scalar

SOURCE: list[dict[str, Any]] = []


def feed(n: int) -> None:
    """Append n rows to the fake API; several rows share each timestamp."""
    start = len(SOURCE)
    SOURCE.extend(
        {"id": i, "updated_at": f"2024-03-{1 + i // 4:02d}T00:00:00Z", "v": i * 10} for i in range(start, start + n)
    )


def api_issues():
    @hw.resource(primary_key="id")
    def issues(updated=hw.incremental("updated_at", initial_value="2024-03-01T00:00:00Z")):
        # the request asks for everything at or after the cursor: the boundary rows come back each time
        yield [r for r in SOURCE if r["updated_at"] >= updated.start_value]

    return issues


def test_each_row_lands_exactly_once_across_runs(make_pipeline: Any) -> None:
    SOURCE.clear()
    p = make_pipeline("exactly_once")
    loaded = 0
    for n in (10, 0, 3, 1, 0, 7):
        feed(n)
        info = p.run(api_issues())
        loaded += info.table_rows().get("issues", 0)
    assert loaded == len(SOURCE) == 21
    assert scalar(p, "select count(*) from issues") == 21
    assert scalar(p, "select count(distinct id) from issues") == 21


def test_state_is_committed_in_the_same_transaction_as_the_data(make_pipeline: Any) -> None:
    SOURCE.clear()
    feed(5)
    p = make_pipeline("together")
    p.run(api_issues())
    feed(2)
    info = p.run(api_issues())
    by_load = rows(p, "select l.load_id, s.version from _hw_loads l join _hw_state s using (load_id) order by 2")
    assert [r[0] for r in by_load][-1] == info.load_id
    assert [r[1] for r in by_load] == [1, 2]
    state = json.loads(scalar(p, "select state from _hw_state order by version desc limit 1"))
    cursor = state["sources"]["exactly_once" if False else "together"]["incremental"]["issues"]["updated_at"]
    assert cursor["last_value"] == max(r["updated_at"] for r in SOURCE)


def test_state_is_restored_on_a_fresh_working_folder(make_pipeline: Any, tmp_path: Path) -> None:
    SOURCE.clear()
    feed(8)
    first = make_pipeline("moved")
    first.run(api_issues())
    feed(4)
    # a new machine: same destination, empty working folder
    fresh = make_pipeline("moved", pipelines_dir=tmp_path / "new_machine")
    info = fresh.run(api_issues())
    assert info.table_rows() == {"issues": 4}
    assert scalar(fresh, "select count(distinct id) from issues") == scalar(fresh, "select count(*) from issues") == 12


def test_user_state_keeps_types_and_survives_runs(make_pipeline: Any) -> None:
    @hw.resource
    def pages():
        st = hw.state()
        st["page"] = st.get("page", 0) + 1
        st["seen_at"] = dt.datetime(2024, 1, st["page"], tzinfo=dt.UTC)
        st["amount"] = decimal.Decimal("1.10") * st["page"]
        hw.state("source")["touched"] = True
        yield {"page": st["page"]}

    p = make_pipeline("user_state")
    for _ in range(3):
        p.run(pages)
    got = p.state.resource_state("user_state", "pages")
    assert got == {"page": 3, "seen_at": dt.datetime(2024, 1, 3, tzinfo=dt.UTC), "amount": decimal.Decimal("3.30")}
    assert p.state.source_state("user_state") == {"touched": True}
    assert [r[0] for r in rows(p, "select page from pages order by page")] == [1, 2, 3]


def test_a_failed_run_does_not_advance_the_cursor(make_pipeline: Any) -> None:
    import pytest

    from headwater.errors import ExtractError

    SOURCE.clear()
    feed(4)
    p = make_pipeline("no_advance")
    p.run(api_issues())
    feed(4)

    @hw.resource(name="issues", primary_key="id")
    def broken(updated=hw.incremental("updated_at", initial_value="2024-03-01T00:00:00Z")):
        yield [r for r in SOURCE if r["updated_at"] >= updated.start_value]
        raise ConnectionError("dropped")

    with pytest.raises(ExtractError):
        p.run(broken)
    # the partial package is not loaded; the next run gets the same new rows
    assert p.run(api_issues()).table_rows() == {"issues": 4}
    assert scalar(p, "select count(*) from issues") == 8


def test_arrow_resource_with_a_cursor(make_pipeline: Any) -> None:
    table = pa.table({"id": list(range(10)), "seq": [i // 2 for i in range(10)]})

    @hw.resource(primary_key="id", incremental=hw.incremental("seq"))
    def batches():
        yield table

    p = make_pipeline("arrow_cursor")
    assert p.run(batches).table_rows() == {"batches": 10}
    assert p.run(batches).table_rows() == {}  # everything was loaded; nothing new
    table = pa.table({"id": list(range(12)), "seq": [i // 2 for i in range(12)]})
    assert p.run(batches).table_rows() == {"batches": 2}


def test_backfill_of_a_range_does_not_disturb_the_live_cursor(make_pipeline: Any) -> None:
    SOURCE.clear()
    feed(20)
    p = make_pipeline("backfill")
    live = api_issues()
    p.run(live)
    before = p.state.incremental_state("backfill", "issues")["updated_at"]["last_value"]

    @hw.resource(name="issues", primary_key="id", write_disposition="merge")
    def issues_range(
        updated=hw.incremental("updated_at", initial_value="2024-03-02T00:00:00Z", end_value="2024-03-03T00:00:00Z"),
    ):
        yield [r for r in SOURCE if updated.start_value <= r["updated_at"] < updated.end_value]

    info = p.run(issues_range)
    assert info.table_rows()["issues"] == 4
    assert p.state.incremental_state("backfill", "issues")["updated_at"]["last_value"] == before


def test_bounded_state_after_1000_incremental_runs(make_pipeline: Any, destination_kind: str) -> None:
    # the state logic is the same on every destination; PostgreSQL runs fewer (each run connects a few
    # times), still well past the 10 state versions kept in _hw_state
    runs = 1000 if destination_kind == "duckdb" else 120
    counter = {"n": 0}

    @hw.resource(primary_key="id")
    def ticks(cursor=hw.incremental("t")):
        n = counter["n"]
        counter["n"] += 1
        # the boundary row of the previous run comes back every time, plus two new rows
        yield [{"id": 2 * n - 1, "t": n - 1}, {"id": 2 * n, "t": n}, {"id": 2 * n + 1, "t": n}]

    p = make_pipeline("thousand", batch_size=10)
    sizes = []
    for _ in range(runs):
        p.run(ticks)
        sizes.append(len(p.workdir.state_path.read_bytes()))
    rows = 2 * runs + 1
    assert scalar(p, "select count(*) from ticks") == scalar(p, "select count(distinct id) from ticks") == rows
    assert max(sizes[10:]) - min(sizes[10:]) <= 8  # only the digits of counters grow
    assert scalar(p, "select count(*) from _hw_state") <= 10  # old versions are pruned
    assert len(list(p.workdir.completed.iterdir())) <= 200  # and the local history too
