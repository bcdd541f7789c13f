"""What DuckDB and PostgreSQL share beyond the conformance suite (tests/conformance): the column types
in the catalog, the ``_hw_schemas`` and ``_hw_state`` tables, atomic replace for readers, DuckDB's memory
cap. Each ``make_pipeline`` test runs on both (``CONFORMANCE_MODULES`` in tests/conftest.py)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

import headwater as hw
from headwater.errors import ConfigError
from headwater.packages import package as package_module
from headwater.testing.scenarios.test_incremental_state import SOURCE, api_issues, feed
from headwater.testing.scenarios.test_pipeline import github_source
from tests.conftest import column_types, rows, scalar


def test_catalog_types_of_nested_data(make_pipeline: Any) -> None:
    p = make_pipeline("github")
    info = p.run(github_source()())
    assert info.table_rows() == {"events": 30, "events__payload__commits": 27, "events__labels": 15}
    types = column_types(p, "events")
    assert types["created_at"] == "timestamp"
    assert types["actor__login"] == "text"
    assert types["id"] == "bigint"
    assert types["_hw_id"] == "uuid" and types["_hw_load_id"] == "text"
    new_cols = info.loads[0].tables["events"].new_columns
    assert "actor__login" in new_cols


def test_catalog_types_and_schema_versions_follow_evolution(make_pipeline: Any) -> None:
    # the rows of a new column, a widened column and a variant column: conformance test_pipeline.py
    p = make_pipeline()
    p.run([{"id": 1, "v": 1}], table_name="t")
    p.run([{"id": 2, "v": 2.5, "extra": "new"}], table_name="t")
    p.run([{"id": 3, "v": "n/a"}], table_name="t")
    types = column_types(p, "t")
    assert (types["v"], types["extra"], types["v__v_text"]) == ("double", "text", "text")
    assert rows(p, "select id, v, extra from raw.t order by id") == [(1, 1.0, None), (2, 2.5, "new"), (3, None, None)]
    versions = rows(p, "select version from raw._hw_schemas order by version")
    assert [v[0] for v in versions] == [1, 2, 3]


def test_column_hints_create_typed_columns(make_pipeline: Any) -> None:
    @hw.resource(columns={"price": "decimal(12,2)", "raw": "json", "seen": "timestamp"})
    def sales():
        yield {"price": "10.10", "raw": {"a": [1, {"b": None}]}, "seen": "2024-05-01T00:00:00+02:00"}

    p = make_pipeline()
    p.run(sales())
    types = column_types(p, "sales")
    assert types["price"] == "decimal(12,2)"
    assert types["raw"] == "json"
    path = "raw->>'$.a[1].b'" if p.destination.name == "duckdb" else "raw->'a'->1->>'b'"
    assert rows(p, f"select price::varchar, {path}, seen from raw.sales") == [
        ("10.10", None, dt.datetime(2024, 4, 30, 22, tzinfo=dt.UTC))
    ]


def test_system_tables_hold_the_schema_json(make_pipeline: Any) -> None:
    p = make_pipeline()
    p.run([{"a": {"b": 1}}], table_name="t")
    stored = scalar(p, "select schema from raw._hw_schemas")
    body = json.loads(stored)
    assert body["tables"][0]["columns"][0]["name"] == "a__b"


@pytest.mark.slow
def test_bounded_state_after_many_incremental_runs(
    make_pipeline: Any, destination_kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the state logic is the same on every destination: 60 runs are well past the 10 state versions kept in
    # _hw_state and, with the working folder's history cut from its 200 loads to 20 (the same pruning at a
    # tenth of the runs: 300 runs took 50 s of the suite, 1,000 showed nothing more), past that too;
    # PostgreSQL runs 40 (each run connects a few times)
    monkeypatch.setattr(package_module, "KEEP_COMPLETED", 20)
    runs = 60 if destination_kind == "duckdb" else 40
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
    assert len(list(p.workdir.completed.iterdir())) == 20  # and the local history too


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


def test_merge_needs_keys() -> None:
    with pytest.raises(ConfigError, match="needs a primary_key or a merge_key"):
        hw.pipeline("nokeys", progress=False).run([{"a": 1}], table_name="t", write_disposition="merge")


@pytest.mark.duckdb_only(reason="an in-process DuckDB reader; PostgreSQL's is in tests/integration/postgres")
def test_replace_is_atomic_for_readers(make_pipeline: Any, tmp_path: Path) -> None:
    import threading

    import duckdb

    p = make_pipeline("atomic")
    p.run([{"i": i} for i in range(1000)], table_name="t", write_disposition="replace")
    seen: set[int] = set()
    stop = threading.Event()
    con = duckdb.connect(str(tmp_path / "atomic.duckdb"))

    def reader() -> None:
        cur = con.cursor()
        while not stop.is_set():
            cur.execute("select count(*) from raw.t")
            seen.add(cur.fetchall()[0][0])

    # the reader shares the process's database instance, as an in-process dashboard would
    thread = threading.Thread(target=reader)
    p2 = hw.pipeline(
        "atomic",
        destination=hw.destinations.duckdb(connection=con),
        dataset="raw",
        pipelines_dir=tmp_path / "pipelines",
        progress=False,
    )
    thread.start()
    try:
        for n in (2000, 1500, 3000):
            p2.run([{"i": i} for i in range(n)], table_name="t", write_disposition="replace")
    finally:
        stop.set()
        thread.join()
        con.close()
    assert 0 not in seen
    assert seen <= {1000, 2000, 1500, 3000}


@pytest.mark.duckdb_only(reason="DuckDB's loader memory cap")
def test_huge_strings_load_into_duckdb_beyond_the_loader_memory_cap(make_pipeline: Any, caplog: Any) -> None:
    big = "y" * (48 * 1024 * 1024)
    p = make_pipeline("huge", batch_size=4)
    with caplog.at_level("WARNING", logger="headwater"):
        info = p.run(({"i": i, "s": big + str(i)} for i in range(8)), table_name="h")
    assert info.table_rows() == {"h": 8}
    assert "retrying once with DuckDB's default limit" in caplog.text  # 8 x 48 MB is beyond 128 MB
    got = rows(p, "select i, length(s), right(s, 1), left(s, 3) from h order by i")
    assert got == [(i, len(big) + 1, str(i), "yyy") for i in range(8)]
