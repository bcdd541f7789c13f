"""Merge dispositions against a real DuckDB: delete-insert, upsert, scd2, keys, dedup, hard deletes."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

import headwater as hw
from headwater.errors import ConfigError
from headwater.testing import requires, rows, scalar


def docs(version: int, ids: range | list[int], tags: int = 2) -> list[dict[str, Any]]:
    return [{"id": i, "v": f"{version}-{i}", "tags": [f"v{version}-{k}" for k in range(tags)]} for i in ids]


def merged(p: Any, data: Any, **hints: Any) -> Any:
    hints.setdefault("write_disposition", "merge")
    hints.setdefault("primary_key", "id")
    return p.run(data, table_name="items", **hints)


def children_of(p: Any) -> list[tuple[Any, ...]]:
    return rows(
        p,
        "select i.id, t.value from items i join items__tags t on t._hw_root_id = i._hw_id "
        "and t._hw_parent_id = i._hw_id order by 1, 2",
    )


@requires("write_dispositions", "merge")
@pytest.mark.parametrize("strategy", ["delete-insert", "upsert"])
def test_updates_replace_rows_and_their_children(make_pipeline: Any, strategy: str) -> None:
    p = make_pipeline(f"m_{strategy.replace('-', '_')}")
    merged(p, docs(1, range(5)), merge_strategy=strategy)
    first_ids = dict(rows(p, "select id, _hw_id from items"))
    # 0 and 1 change (with fewer children), 9 is new, 1 comes twice in the load: the last one wins
    data = [*docs(2, [0, 1, 9], tags=1), {"id": 1, "v": "last", "tags": ["l1", "l2", "l3"]}]
    info = merged(p, data, merge_strategy=strategy)
    assert info.table_rows() == {"items": 3, "items__tags": 5}
    assert rows(p, "select id, v from items order by id") == [
        (0, "2-0"),
        (1, "last"),
        (2, "1-2"),
        (3, "1-3"),
        (4, "1-4"),
        (9, "2-9"),
    ]
    assert children_of(p) == [
        (0, "v2-0"),
        (1, "l1"),
        (1, "l2"),
        (1, "l3"),
        (2, "v1-0"),
        (2, "v1-1"),
        (3, "v1-0"),
        (3, "v1-1"),
        (4, "v1-0"),
        (4, "v1-1"),
        (9, "v2-0"),
    ]
    assert scalar(p, "select count(*) from items__tags") == 11  # no orphaned children, no duplicates
    new_ids = dict(rows(p, "select id, _hw_id from items"))
    if strategy == "upsert":
        assert all(new_ids[i] == first_ids[i] for i in (0, 1, 2, 3, 4))  # ids are stable
    else:
        assert new_ids[0] != first_ids[0]
        assert new_ids[2] == first_ids[2]


@requires("write_dispositions", "merge")
def test_composite_keys_and_deterministic_duplicates(make_pipeline: Any) -> None:
    p = make_pipeline("composite")
    data = [
        {"region": "eu", "id": 1, "v": "a", "seq": 3},
        {"region": "us", "id": 1, "v": "b", "seq": 1},
        {"region": "eu", "id": 1, "v": "c", "seq": 1},  # same key as the first: the last one wins
    ]
    merged(p, data, primary_key=["region", "id"])
    assert rows(p, "select region, id, v from items order by region") == [("eu", 1, "c"), ("us", 1, "b")]
    sorted_p = make_pipeline("dedup_sorted")
    merged(sorted_p, data, primary_key=["region", "id"], dedup_sort="seq")  # the highest seq wins
    assert rows(sorted_p, "select region, v from items order by region") == [("eu", "a"), ("us", "b")]
    # a later load replaces the stored row whatever its sort value: dedup_sort orders one load only
    merged(sorted_p, [{"region": "us", "id": 1, "v": "B", "seq": 0}], primary_key=["region", "id"], dedup_sort="seq")
    assert rows(sorted_p, "select region, v from items order by region") == [("eu", "a"), ("us", "B")]
    asc = make_pipeline("dedup_asc")
    merged(asc, data, primary_key=["region", "id"], dedup_sort={"seq": "asc"})
    assert rows(asc, "select region, v from items order by region") == [("eu", "c"), ("us", "b")]


@requires("write_dispositions", "merge")
@pytest.mark.parametrize("strategy", ["delete-insert", "upsert"])
def test_hard_deletes(make_pipeline: Any, strategy: str) -> None:
    p = make_pipeline(f"hard_{strategy.replace('-', '_')}")
    hints = {"merge_strategy": strategy, "columns": {"deleted": {"data_type": "bool", "hard_delete": True}}}
    merged(p, docs(1, range(4)), **hints)
    # 1 is deleted with its children, 2 loses its children, 7 was never there
    batch = [
        {"id": 1, "deleted": True},
        {"id": 2, "v": "kept", "deleted": False, "tags": []},
        {"id": 7, "deleted": True},
    ]
    merged(p, batch, **hints)
    assert rows(p, "select id, v from items order by id") == [(0, "1-0"), (2, "kept"), (3, "1-3")]
    assert rows(
        p, "select i.id, count(*) from items i join items__tags t on t._hw_root_id = i._hw_id group by 1 order by 1"
    ) == [(0, 2), (3, 2)]
    assert scalar(p, "select count(*) from items__tags") == 4
    assert (
        scalar(
            p,
            "select count(*) from items__tags t where not exists "
            "(select 1 from items i where i._hw_id = t._hw_root_id)",
        )
        == 0
    )


@requires("write_dispositions", "merge")
@requires("merge_key")
def test_merge_key_replaces_whole_partitions(make_pipeline: Any) -> None:
    p = make_pipeline("partitions")
    day1 = [{"day": "2024-01-01", "n": i} for i in range(3)] + [{"day": "2024-01-02", "n": i} for i in range(3)]
    p.run(day1, table_name="items", write_disposition="merge", merge_key="day")
    # a new extract of day 2 replaces exactly that partition
    p.run([{"day": "2024-01-02", "n": 10}], table_name="items", write_disposition="merge", merge_key="day")
    got = rows(p, "select day, count(*), max(n) from items group by 1 order by 1")
    assert got == [(dt.date(2024, 1, 1), 3, 2), (dt.date(2024, 1, 2), 1, 10)]


def snapshot(p: Any, data: list[dict[str, Any]], **hints: Any) -> Any:
    hints.setdefault("merge_strategy", "scd2")
    return merged(p, data, **hints)


@requires("write_dispositions", "merge")
@requires("merge_strategies", "scd2")
def test_scd2_history_over_a_sequence_of_snapshots(make_pipeline: Any) -> None:
    p = make_pipeline("scd2")
    s1 = [{"id": 1, "name": "ann", "tags": ["a"]}, {"id": 2, "name": "bob", "tags": []}, {"id": 3, "name": "cy"}]
    s2 = [{"id": 1, "name": "ann", "tags": ["a"]}, {"id": 2, "name": "bobby", "tags": []}]  # 2 changed, 3 gone
    s3 = [{"id": 1, "name": "ann", "tags": ["a", "b"]}, {"id": 2, "name": "bobby"}, {"id": 3, "name": "cy"}]
    loads = [snapshot(p, s).loads[-1] for s in (s1, s2, s3)]
    times = [dt.datetime.fromtimestamp(float(_created(p, load.load_id)), dt.UTC) for load in loads]
    history = rows(p, "select id, name, _hw_valid_from, _hw_valid_to from items order by id, _hw_valid_from")
    assert history == [
        (1, "ann", times[0], times[2]),  # its children changed in s3: a new version
        (1, "ann", times[2], None),
        (2, "bob", times[0], times[1]),
        (2, "bobby", times[1], None),  # unchanged in s3: no new version
        (3, "cy", times[0], times[1]),  # absent from s2: retired
        (3, "cy", times[2], None),  # back in s3: a new version
    ]
    assert loads[1].tables["items"].rows == 1
    assert loads[2].tables["items"].rows == 2
    # children belong to their version; closed versions keep theirs
    assert rows(
        p,
        "select i.name, i._hw_valid_to is null, t.value from items i join items__tags t "
        "on t._hw_root_id = i._hw_id order by 2, 3",
    ) == [("ann", False, "a"), ("ann", True, "a"), ("ann", True, "b")]


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (float("nan"), None),
        (float("nan"), "NaN"),
        (float("inf"), "Infinity"),
        ("\ud800", "\\ud800"),
        (2**70, str(2**70)),
    ],
    ids=["nan-then-null", "nan-then-text", "inf-then-text", "surrogate-then-escape", "big-int-then-text"],
)
@requires("write_dispositions", "merge")
@requires("merge_strategies", "scd2")
def test_scd2_tells_a_change_between_values_json_writes_alike(make_pipeline: Any, before: Any, after: Any) -> None:
    # the row hash is exact: NaN is not null, a lone surrogate is not its escape text
    p = make_pipeline("scd2_alike")
    snapshot(p, [{"id": 1, "v": [before]}])
    load = snapshot(p, [{"id": 1, "v": [after]}]).loads[-1]
    assert load.tables["items"].rows == 1  # a new version
    assert rows(p, "select count(*) as n, count(_hw_valid_to) as closed from items") == [(2, 1)]


def _created(p: Any, load_id: str) -> float:
    import json

    return json.loads((p.workdir.completed / load_id / "manifest.json").read_text())["created_at"]


@requires("write_dispositions", "merge")
@requires("merge_strategies", "scd2")
@requires("merge_key")
def test_scd2_with_custom_validity_columns_and_a_partition_key(make_pipeline: Any) -> None:
    p = make_pipeline("scd2_custom")
    disposition = {"disposition": "merge", "strategy": "scd2", "validity_column_names": ["valid_from", "valid_to"]}
    base = [{"shop": "a", "sku": 1, "price": 10}, {"shop": "b", "sku": 1, "price": 20}]
    p.run(base, table_name="prices", write_disposition=disposition, merge_key="shop")
    # a partial extract of shop a only: shop b stays open
    p.run([{"shop": "a", "sku": 1, "price": 11}], table_name="prices", write_disposition=disposition, merge_key="shop")
    got = rows(p, "select shop, price, valid_to is null from prices order by shop, price")
    assert got == [("a", 10, False), ("a", 11, True), ("b", 20, True)]
    cols = set(p.query("select * from prices limit 0").column_names)
    assert {"valid_from", "valid_to", "_hw_row_hash"} <= cols
    assert "_hw_valid_from" not in cols


@requires("write_dispositions", "merge")
def test_merge_collapses_keys_appended_twice_before(make_pipeline: Any) -> None:
    p = make_pipeline("collapse")
    p.run([{"id": 1, "v": "a"}, {"id": 1, "v": "b"}, {"id": 2, "v": "c"}], table_name="items")
    p.run([{"id": 1, "v": "merged"}], table_name="items", write_disposition="merge", primary_key="id")
    assert rows(p, "select id, v from items order by id") == [(1, "merged"), (2, "c")]


REFUSAL_CASES: dict[str, dict[str, Any]] = {
    "merge": {},
    "delete-insert": {"merge_strategy": "delete-insert"},
    "upsert": {"merge_strategy": "upsert"},
    "scd2": {"merge_strategy": "scd2"},
    "merge_key": {"merge_key": "day"},
    "merge_key without primary key": {"primary_key": None, "merge_key": "day"},
}


def _expected_refusal(caps: Any, hints: dict[str, Any]) -> str | None:
    """The refusal the declared capabilities promise for these hints (in the order they are checked)."""
    if "merge" not in caps.write_dispositions:
        return "write_disposition 'merge' is not supported"
    strategy = hints.get("merge_strategy", "delete-insert")
    if strategy not in caps.merge_strategies:
        return f"merge_strategy '{strategy}' is not supported"
    if hints.get("merge_key") and not caps.merge_key:
        return "merge_key .* is not supported"
    if caps.needs_primary_key and hints.get("primary_key", "id") is None:
        return "needs a primary key"
    return None


@pytest.mark.parametrize("case", list(REFUSAL_CASES))
def test_what_the_capabilities_declare_is_what_a_merge_may_ask(make_pipeline: Any, destination: Any, case: str) -> None:
    """Declared: it loads. Not declared: refused before extracting, saying what it supports, and no package
    is left behind to block the next run."""
    hints = REFUSAL_CASES[case]
    refusal = _expected_refusal(destination.capabilities, hints)
    p = make_pipeline("asks")
    extracted: list[int] = []

    def data() -> Any:
        extracted.append(1)
        yield {"id": 1, "day": "2024-01-01"}

    if refusal is None:
        merged(p, hw.resource(data, name="items"), **hints)
        assert rows(p, "select id, day from items") == [(1, dt.date(2024, 1, 1))]
        return
    with pytest.raises(ConfigError, match=refusal) as err:
        merged(p, hw.resource(data, name="items"), **hints)
    assert destination.name in str(err.value)
    assert err.value.hint  # what it supports, or what to do
    if not hints:  # a refused disposition: the hint names those it supports
        assert all(d in (err.value.hint or "") for d in destination.capabilities.write_dispositions)
    assert extracted == []
    assert p.pending_packages() == []
    p.run([{"id": 1}], table_name="items")
    assert rows(p, "select id from items") == [(1,)]
