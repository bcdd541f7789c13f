"""Reading what landed through ``pipeline.dataset()``: tables, rows as Arrow, pandas, polars and DuckDB
relations, SQL, and Ibis."""

from __future__ import annotations

from typing import Any

import pytest

from headwater.errors import ConfigError, DestinationError

USER = ["id", "name", "meta__score"]

ITEMS = [
    {"id": 1, "name": "a", "meta": {"score": 1.5}, "tags": ["x", "y"]},
    {"id": 2, "name": "b", "meta": {"score": 2.5}, "tags": []},
    {"id": 3, "name": "a", "meta": {"score": None}, "tags": ["z"]},
]


def loaded(make_pipeline: Any) -> Any:
    p = make_pipeline()
    p.run(ITEMS, table_name="items")
    return p


def sorted_rows(table: Any, columns: list[str]) -> list[tuple[Any, ...]]:
    data = table.select(columns).to_pylist()
    return sorted((tuple(row[c] for c in columns) for row in data), key=repr)


EXPECTED = [(1, "a", 1.5), (2, "b", 2.5), (3, "a", None)]

#: Ibis 12 reads DuckDB relations with a method DuckDB 2 deprecates: its warning, not ours
IBIS_ON_DUCKDB_2 = pytest.mark.filterwarnings("ignore:fetch_arrow_table:DeprecationWarning")


def test_tables_lists_root_and_child_tables_without_system_tables(make_pipeline: Any) -> None:
    p = make_pipeline()
    assert p.dataset().tables() == []  # nothing landed yet: nothing to list, nothing created
    p.run(ITEMS, table_name="items")
    ds = p.dataset()
    assert ds.tables() == ["items", "items__tags"]
    everything = ds.tables(system=True)
    assert "_hw_loads" in everything
    assert [t for t in everything if not t.startswith("_hw_")] == ["items", "items__tags"]


def test_table_reads_exact_rows_as_arrow(make_pipeline: Any) -> None:
    ds = loaded(make_pipeline).dataset()
    items = ds.table("items")
    table = items.arrow()
    assert sorted_rows(table, USER) == EXPECTED
    assert {*USER, "_hw_load_id", "_hw_id"} <= set(table.column_names)
    assert items.columns == table.column_names
    assert items.count() == 3
    tags = ds.table("items__tags").arrow()
    assert sorted(tags["value"].to_pylist()) == ["x", "y", "z"]
    # each child row points at its root row
    by_id = {r["_hw_id"]: r["id"] for r in table.select(["_hw_id", "id"]).to_pylist()}
    pairs = sorted((by_id[r["_hw_parent_id"]], r["_hw_list_idx"], r["value"]) for r in tags.to_pylist())
    assert pairs == [(1, 0, "x"), (1, 1, "y"), (3, 0, "z")]


def test_pandas_polars_and_relation_equal_the_arrow_rows(make_pipeline: Any) -> None:
    items = loaded(make_pipeline).dataset().table("items")
    table = items.arrow()

    frame = items.df()
    assert list(frame.columns) == table.column_names
    rows = sorted(zip(frame["id"].tolist(), frame["name"].tolist(), strict=True))
    assert rows == sorted((r[0], r[1]) for r in EXPECTED)
    assert sorted(frame["meta__score"].dropna().tolist()) == [1.5, 2.5]

    polars_frame = items.pl()
    assert polars_frame.columns == table.column_names
    assert sorted(polars_frame.select(USER).rows(), key=repr) == EXPECTED

    relation = items.relation()
    assert relation.columns == table.column_names
    assert sorted(relation.select(*USER).fetchall(), key=repr) == EXPECTED
    assert relation.aggregate("count(*)").fetchall() == [(3,)]


def test_unknown_table_says_did_you_mean(make_pipeline: Any) -> None:
    ds = loaded(make_pipeline).dataset()
    with pytest.raises(ConfigError, match="no table 'itemz'") as caught:
        ds.table("itemz")
    assert "did you mean 'items'" in str(caught.value)
    with pytest.raises(ConfigError):
        ds.table('items"; DROP TABLE items; --')
    assert ds.table("items").count() == 3


def test_query_runs_sql_on_the_dataset(make_pipeline: Any) -> None:
    ds = loaded(make_pipeline).dataset()
    result = ds.query("SELECT name, count(*) AS n FROM items GROUP BY name ORDER BY name")
    assert result.to_pylist() == [{"name": "a", "n": 2}, {"name": "b", "n": 1}]
    assert ds.query("SELECT count(*) AS n FROM items__tags").to_pylist() == [{"n": 3}]


def test_reading_before_any_load_or_a_missing_table_is_refused(make_pipeline: Any) -> None:
    ds = make_pipeline().dataset()
    with pytest.raises(ConfigError, match="no table 'items'"):
        ds.table("items")
    with pytest.raises(DestinationError):
        ds.query("SELECT * FROM items")
    p = loaded(make_pipeline)
    with pytest.raises(DestinationError):
        p.dataset().query("SELECT * FROM missing")


@IBIS_ON_DUCKDB_2
def test_ibis_reads_the_dataset(make_pipeline: Any) -> None:
    pytest.importorskip("ibis")
    p = loaded(make_pipeline)
    ds = p.dataset()
    backend = ds.ibis()
    try:
        assert {"items", "items__tags"} <= set(backend.list_tables())
        items = backend.table("items")
        whole = items.to_pyarrow()
        assert sorted(whole.column_names) == sorted(ds.table("items").columns)
        assert sorted_rows(whole, USER) == EXPECTED
        by_name = items.group_by("name").aggregate(n=items.count(), total=items.id.sum()).order_by("name")
        assert by_name.to_pyarrow().to_pylist() == [
            {"name": "a", "n": 2, "total": 4},
            {"name": "b", "n": 1, "total": 2},
        ]
        tags = backend.table("items__tags")
        joined = tags.join(items, tags._hw_parent_id == items._hw_id).select("id", "value").order_by(["id", "value"])
        assert joined.to_pyarrow().to_pylist() == [
            {"id": 1, "value": "x"},
            {"id": 1, "value": "y"},
            {"id": 3, "value": "z"},
        ]
    finally:
        backend.disconnect()
    p.run([{"id": 4, "name": "c"}], table_name="items")  # the backend let go of the destination
    assert p.dataset().table("items").count() == 4


@IBIS_ON_DUCKDB_2
def test_ibis_joins_local_data_when_not_read_only(make_pipeline: Any) -> None:
    ibis = pytest.importorskip("ibis")
    p = loaded(make_pipeline)
    backend = p.dataset().ibis(read_only=False)  # PostgreSQL keeps memtables in temporary tables
    try:
        items = backend.table("items")
        labels = ibis.memtable({"id": [1, 2], "label": ["one", "two"]})
        joined = items.join(labels, "id").select("id", "label").order_by("id")
        assert joined.to_pyarrow().to_pylist() == [{"id": 1, "label": "one"}, {"id": 2, "label": "two"}]
    finally:
        backend.disconnect()
    p.run([{"id": 4, "name": "c"}], table_name="items")
    assert p.dataset().table("items").count() == 4
