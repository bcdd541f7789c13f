"""Property: merging random update streams equals a reference computed with plain SQL over all input."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import headwater as hw
from tests.conftest import DESTINATIONS, create_database, drop_database

row = st.fixed_dictionaries(
    {
        "id": st.integers(0, 6),
        "region": st.sampled_from(["eu", "us"]),
        "v": st.integers(-5, 5),
        "seq": st.integers(0, 3),
        "deleted": st.booleans(),
        "tags": st.lists(st.sampled_from(["a", "b", "c"]), max_size=3),
    }
)
loads = st.lists(st.lists(row, min_size=0, max_size=8), min_size=1, max_size=4)


def reference(batches: list[list[dict[str, Any]]], *, dedup_sort: bool) -> tuple[set[Any], set[Any]]:
    """The expected table and child table, by SQL over every input row: per key, the winning row of
    the newest load that has the key (within a load: the last row, or the highest seq); deleted rows
    leave nothing."""
    con = duckdb.connect()
    con.execute("create table input (load_no int, pos int, id int, region varchar, v int, seq int, deleted bool)")
    con.execute("create table input_tags (load_no int, pos int, idx int, tag varchar)")
    for n, batch in enumerate(batches):
        for pos, r in enumerate(batch):
            con.execute(
                "insert into input values (?, ?, ?, ?, ?, ?, ?)",
                [n, pos, r["id"], r["region"], r["v"], r["seq"], r["deleted"]],
            )
            for idx, tag in enumerate(r["tags"]):
                con.execute("insert into input_tags values (?, ?, ?, ?)", [n, pos, idx, tag])
    within = "seq desc, pos desc" if dedup_sort else "pos desc"
    con.execute(f"""
        create table winners as
        select * from (
            select *, row_number() over (partition by id, region order by load_no desc, {within}) as rn
            from input
        ) where rn = 1 and not deleted
    """)
    con.execute("select id, region, v from winners")
    table = set(con.fetchall())
    con.execute("select w.id, w.region, t.idx, t.tag from winners w join input_tags t using (load_no, pos)")
    children = set(con.fetchall())
    return table, children


@contextmanager
def destination(kind: str, tmp: str, request: pytest.FixtureRequest) -> Iterator[Any]:
    if kind == "duckdb":
        yield hw.destinations.duckdb(str(Path(tmp) / "ref.duckdb"))
        return
    url = create_database(request.getfixturevalue("pg_url"))
    try:
        yield hw.destinations.postgres(url)
    finally:
        drop_database(url)


@pytest.mark.slow
@pytest.mark.parametrize("kind", DESTINATIONS)
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(batches=loads, strategy=st.sampled_from(["delete-insert", "upsert"]), dedup_sort=st.booleans())
def test_merge_equals_the_sql_reference(
    kind: str, request: pytest.FixtureRequest, batches: list[list[dict[str, Any]]], strategy: str, dedup_sort: bool
) -> None:
    with tempfile.TemporaryDirectory() as tmp, destination(kind, tmp, request) as target:
        p = hw.pipeline("ref", destination=target, dataset="raw", pipelines_dir=Path(tmp) / "pipelines", progress=False)
        hints: dict[str, Any] = {
            "write_disposition": "merge",
            "merge_strategy": strategy,
            "primary_key": ["id", "region"],
            "columns": {"deleted": {"data_type": "bool", "hard_delete": True}, "v": "bigint", "seq": "bigint"},
        }
        if dedup_sort:
            hints["dedup_sort"] = "seq"
        for batch in batches:
            p.run(hw.resource([batch], name="items"), **hints)
        expected_rows, expected_children = reference(batches, dedup_sort=dedup_sort)
        if not any(batches):
            return
        got = p.query("select id, region, v from items").to_pylist() if _has(p, "items") else []
        assert {(r["id"], r["region"], r["v"]) for r in got} == expected_rows
        assert len(got) == len(expected_rows)  # no duplicate keys
        if _has(p, "items__tags"):
            children = p.query(
                "select i.id, i.region, t._hw_list_idx as idx, t.value as tag from items i "
                "join items__tags t on t._hw_root_id = i._hw_id and t._hw_parent_id = i._hw_id"
            ).to_pylist()
            assert {(c["id"], c["region"], c["idx"], c["tag"]) for c in children} == expected_children
            orphans = p.query(
                "select count(*) as n from items__tags t where not exists "
                "(select 1 from items i where i._hw_id = t._hw_root_id)"
            ).to_pylist()
            assert orphans == [{"n": 0}]
        else:
            assert expected_children == set()


def _has(p: Any, table: str) -> bool:
    return table in p.schema().tables
