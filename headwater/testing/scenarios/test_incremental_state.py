"""Incremental runs and state against a real DuckDB: exactly once, committed together, restorable."""

from __future__ import annotations

import datetime as dt
import decimal
from pathlib import Path
from typing import Any

import pyarrow as pa

import headwater as hw
from headwater.testing import requires, rows, scalar

SOURCE: list[dict[str, Any]] = []


def feed(n: int) -> None:
    """Append n rows to the fake API; several rows share each timestamp."""
    start = len(SOURCE)
    SOURCE.extend(
        {"id": i, "updated_at": f"2024-03-{1 + i // 4:02d}T00:00:00Z", "v": i * 10} for i in range(start, start + n)
    )


def api_issues() -> Any:
    @hw.resource(primary_key="id")
    def issues(updated: Any = hw.incremental("updated_at", initial_value="2024-03-01T00:00:00Z")) -> Any:
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
    cursor = fresh.state.data["sources"]["moved"]["incremental"]["issues"]["updated_at"]
    assert cursor["last_value"] == SOURCE[-1]["updated_at"]  # the state came back with the data
    feed(2)
    assert make_pipeline("moved").run(api_issues()).table_rows() == {"issues": 2}  # the old machine resumes too
    assert scalar(first, "select count(*) from issues") == 14


def test_user_state_keeps_types_and_survives_runs(make_pipeline: Any) -> None:
    @hw.resource
    def pages() -> Any:
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
    def broken(updated: Any = hw.incremental("updated_at", initial_value="2024-03-01T00:00:00Z")) -> Any:
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
    def batches() -> Any:
        yield table

    p = make_pipeline("arrow_cursor")
    assert p.run(batches).table_rows() == {"batches": 10}
    assert p.run(batches).table_rows() == {}  # everything was loaded; nothing new
    table = pa.table({"id": list(range(12)), "seq": [i // 2 for i in range(12)]})
    assert p.run(batches).table_rows() == {"batches": 2}


@requires("write_dispositions", "merge")
def test_backfill_of_a_range_does_not_disturb_the_live_cursor(make_pipeline: Any) -> None:
    SOURCE.clear()
    feed(20)
    p = make_pipeline("backfill")
    live = api_issues()
    p.run(live)
    before = p.state.incremental_state("backfill", "issues")["updated_at"]["last_value"]

    @hw.resource(name="issues", primary_key="id", write_disposition="merge")
    def issues_range(
        updated: Any = hw.incremental(
            "updated_at", initial_value="2024-03-02T00:00:00Z", end_value="2024-03-03T00:00:00Z"
        ),
    ) -> Any:
        yield [r for r in SOURCE if updated.start_value <= r["updated_at"] < updated.end_value]

    info = p.run(issues_range)
    assert info.table_rows()["issues"] == 4
    assert p.state.incremental_state("backfill", "issues")["updated_at"]["last_value"] == before
