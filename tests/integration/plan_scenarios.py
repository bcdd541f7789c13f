"""The dry run (``pipeline.plan``) against a real destination: each scenario plans, checks that nothing
changed (every file of the working folder and of the destination hashed, the database's tables and rows
checksummed), then runs for real and compares the plan with what the run did.

Subclassed per destination (tests/integration/duckdb/test_plan.py, tests/integration/postgres/test_plan.py),
which provide the ``target`` fixture.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import pytest

import headwater as hw
from headwater.errors import HeadwaterError

VALID_TO = "_hw_valid_to"


class Target(Protocol):
    """A destination under test."""

    tmp: Path

    def pipeline(self, name: str) -> Any:
        """A pipeline on the destination, its working folder under ``tmp``."""
        ...

    def destination_snapshot(self) -> Any:
        """Everything the destination holds, in a comparable form."""
        ...

    def is_empty(self) -> bool:
        """Whether the destination holds nothing yet (the dataset or the file was not created)."""
        ...


def file_hashes(root: Path) -> dict[str, str]:
    """Every file under ``root`` (hidden ones too) by relative path, with the SHA-256 of its bytes."""
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    } | {str(p.relative_to(root)) + "/": "dir" for p in root.rglob("*") if p.is_dir()}


@contextmanager
def unchanged(target: Target) -> Iterator[None]:
    """Assert that the working folders and the destination are exactly as they were after the block."""
    files, dest = file_hashes(target.tmp), target.destination_snapshot()
    yield
    assert file_hashes(target.tmp) == files
    assert target.destination_snapshot() == dest


def scalar(p: Any, sql: str) -> Any:
    """The one value ``sql`` returns."""
    return p.query(sql).column(0)[0].as_py()


def ids(p: Any, sql: str) -> set[Any]:
    """The values of the first column ``sql`` returns."""
    return set(p.query(sql).column(0).to_pylist())


def first_rows(n: int, version: str = "v1") -> list[dict[str, Any]]:
    """``n`` users with two tags each, ``seq`` 2."""
    return [{"id": i, "name": f"{version}-{i}", "seq": 2, "tags": [{"t": "a"}, {"t": "b"}]} for i in range(n)]


def second_rows() -> list[dict[str, Any]]:
    """Ids 5..14 over the first ten: 6 unchanged, 7..9 changed, 10..14 new, 3 and 100 hard-deleted, and id 5
    twice: a changed row (seq 1) that dedup_sort asc keeps over the unchanged one after it (seq 2)."""
    out = [{"id": 5, "name": "changed-5", "seq": 1, "tags": [{"t": "z"}]}]
    out += first_rows(7)[5:]  # 5 and 6 unchanged
    out += [{"id": i, "name": f"v2-{i}", "seq": 2, "tags": [{"t": "c"}] * (i - 6)} for i in range(7, 15)]
    out += [{"id": 3, "deleted": True}, {"id": 100, "deleted": True}]
    return out


MERGE_HINTS: dict[str, Any] = {
    "table_name": "users",
    "write_disposition": "merge",
    "primary_key": "id",
    "dedup_sort": {"seq": "asc"},
    "columns": {"deleted": {"data_type": "bool", "hard_delete": True}},
}


class PlanScenarios:
    """The scenarios; a subclass provides the ``target`` fixture."""

    def test_fresh_destination_every_table_new_nothing_created(self, target: Target) -> None:
        p = target.pipeline("fresh")
        data = first_rows(4)
        with unchanged(target):
            plan = p.plan(data, table_name="users")
        assert target.is_empty()
        assert {n: t.new for n, t in plan.tables.items()} == {"users": True, "users__tags": True}
        assert plan.load_id is not None and plan.pending == [] and plan.quarantined == []
        info = p.run(data, table_name="users")
        assert plan.table_rows() == info.table_rows() == {"users": 4, "users__tags": 8}
        new_columns = {n: t.new_columns for n, t in info.loads[-1].tables.items()}
        assert {n: [c.name for c in t.columns_to_add] for n, t in plan.tables.items()} == new_columns
        assert "users" in str(plan) and plan.to_dict()["tables"]["users"]["rows"] == 4

    @pytest.mark.parametrize("strategy", ["delete-insert", "upsert"])
    def test_merge_counts_are_what_the_run_does(self, target: Target, strategy: str) -> None:
        p = target.pipeline(f"merge_{strategy.replace('-', '_')}")
        hints = {**MERGE_HINTS, "merge_strategy": strategy}
        p.run(first_rows(10), **hints)
        before = ids(p, "SELECT id FROM users")
        children_before = scalar(p, "SELECT count(*) FROM users__tags")
        with unchanged(target):
            plan = p.plan(second_rows(), **hints)
        users, tags = plan.tables["users"], plan.tables["users__tags"]
        # 10..14 new; 5..9 replaced (5 by its dedup_sort winner); 3 deleted, 100 was never there
        assert (users.inserted, users.updated, users.deleted) == (5, 5, 1)
        info = p.run(second_rows(), **hints)
        assert plan.table_rows() == info.table_rows()
        after = ids(p, "SELECT id FROM users")
        loaded = ids(p, f"SELECT id FROM users WHERE _hw_load_id = '{info.load_id}'")
        assert users.inserted == len(after - before)
        assert users.deleted == len(before - after)
        assert users.updated == len(loaded & before)
        assert scalar(p, "SELECT name FROM users WHERE id = 5") == "changed-5"
        assert scalar(p, "SELECT count(*) FROM users__tags") == children_before + tags.rows - (tags.deleted or 0)
        assert tags.deleted == 2 * 6  # the tags of 3 and of the five replaced rows

    def test_scd2_counts_are_what_the_run_does(self, target: Target) -> None:
        p = target.pipeline("scd2")
        hints = {**MERGE_HINTS, "merge_strategy": "scd2"}
        p.run(first_rows(10), **hints)
        open_before = ids(p, f"SELECT _hw_id FROM users WHERE {VALID_TO} IS NULL")
        rows_before = scalar(p, "SELECT count(*) FROM users")
        with unchanged(target):
            plan = p.plan(second_rows(), **hints)
        users = plan.tables["users"]
        # new: 10..14; changed: 5 (its dedup_sort winner), 7..9; retired: 0..4 (absent from the full load)
        assert (users.inserted, users.updated, users.deleted) == (5, 4, 5)
        info = p.run(second_rows(), **hints)
        assert plan.table_rows() == info.table_rows()
        opened = ids(p, f"SELECT id FROM users WHERE _hw_load_id = '{info.load_id}'")
        open_after = ids(p, f"SELECT _hw_id FROM users WHERE {VALID_TO} IS NULL")
        retired_ids = open_before - open_after
        retired = ids(p, "SELECT id FROM users WHERE _hw_id IN ({})".format(",".join(f"'{i}'" for i in retired_ids)))
        assert users.updated == len(opened & retired)
        assert users.inserted == len(opened - retired)
        assert users.deleted == len(retired - opened)
        assert scalar(p, "SELECT count(*) FROM users") == rows_before + users.rows

    @pytest.mark.parametrize("strategy", ["delete-insert", "upsert", "scd2"])
    def test_grandchildren_follow_their_root_rows(self, target: Target, strategy: str) -> None:
        p = target.pipeline(f"nested_{strategy.replace('-', '_')}")
        hints = {"table_name": "o", "write_disposition": "merge", "merge_strategy": strategy, "primary_key": "id"}

        def orders(ids: range, version: int) -> list[dict[str, Any]]:
            return [{"id": i, "lines": [{"n": version, "parts": [{"p": j} for j in range(i % 3)]}]} for i in ids]

        p.run(orders(range(6), 1), **hints)
        counts = {t: scalar(p, f"SELECT count(*) FROM {t}") for t in ("o", "o__lines", "o__lines__parts")}
        with unchanged(target):
            plan = p.plan(orders(range(3, 9), 2), **hints)
        info = p.run(orders(range(3, 9), 2), **hints)
        assert plan.table_rows() == info.table_rows()
        root = plan.tables["o"]
        if strategy == "scd2":  # retired versions and their children stay
            assert scalar(p, "SELECT count(*) FROM o") == counts["o"] + root.rows
        else:
            assert scalar(p, "SELECT count(*) FROM o") == counts["o"] + root.inserted - root.deleted
            # the lines and parts of 3, 4 and 5 (0 + 1 + 2 parts) go with their replaced rows
            assert (plan.tables["o__lines"].deleted, plan.tables["o__lines__parts"].deleted) == (3, 3)
        for name in ("o__lines", "o__lines__parts"):
            t = plan.tables[name]
            assert scalar(p, f"SELECT count(*) FROM {name}") == counts[name] + t.rows - (t.deleted or 0), name

    def test_scd2_merge_key_retires_only_in_the_partitions_loaded(self, target: Target) -> None:
        p = target.pipeline("scd2_partitions")
        hints = {
            "table_name": "s",
            "write_disposition": "merge",
            "merge_strategy": "scd2",
            "primary_key": "id",
            "merge_key": "day",
        }
        p.run([{"id": i, "day": i % 2, "v": 0} for i in range(8)], **hints)
        data = [{"id": 1, "day": 1, "v": 1}, {"id": 3, "day": 1, "v": 0}, {"id": 9, "day": 1, "v": 0}]
        with unchanged(target):
            plan = p.plan(data, **hints)
        s = plan.tables["s"]
        # day 1 held 1, 3, 5, 7: 1 changes, 3 stays, 5 and 7 are retired, 9 is new; day 0 is not touched
        assert (s.rows, s.inserted, s.updated, s.deleted) == (2, 1, 1, 2)
        open_before = scalar(p, f"SELECT count(*) FROM s WHERE {VALID_TO} IS NULL")
        info = p.run(data, **hints)
        assert plan.table_rows() == info.table_rows()
        assert scalar(p, f"SELECT count(*) FROM s WHERE {VALID_TO} IS NULL") == open_before + s.inserted - s.deleted

    def test_merge_key_replaces_partitions(self, target: Target) -> None:
        p = target.pipeline("partitions")
        hints = {"table_name": "events", "write_disposition": "merge", "merge_key": "day"}
        p.run([{"day": d, "n": i} for d in (1, 2, 3) for i in range(4)], **hints)
        with unchanged(target):
            plan = p.plan([{"day": 2, "n": 0}, {"day": 4, "n": 1}], **hints)
        events = plan.tables["events"]
        assert (events.rows, events.inserted, events.updated, events.deleted) == (2, 2, 0, 4)
        before = scalar(p, "SELECT count(*) FROM events")
        info = p.run([{"day": 2, "n": 0}, {"day": 4, "n": 1}], **hints)
        assert plan.table_rows() == info.table_rows()
        assert scalar(p, "SELECT count(*) FROM events") == before + events.inserted - events.deleted

    def test_replace_counts_rows_replaced(self, target: Target) -> None:
        p = target.pipeline("replace")
        p.run(first_rows(6), table_name="users", write_disposition="replace")
        with unchanged(target):
            plan = p.plan(first_rows(2), table_name="users", write_disposition="replace")
        assert (plan.tables["users"].replaced, plan.tables["users__tags"].replaced) == (6, 12)
        info = p.run(first_rows(2), table_name="users", write_disposition="replace")
        assert plan.table_rows() == info.table_rows() == {"users": 2, "users__tags": 4}
        with unchanged(target):
            plan = p.plan([], table_name="users", write_disposition="replace")  # empties the table
        assert (plan.tables["users"].replaced, plan.tables["users__tags"].replaced) == (2, 4)
        info = p.run([], table_name="users", write_disposition="replace")
        assert plan.table_rows() == info.table_rows() == {"users": 0}
        assert scalar(p, "SELECT count(*) FROM users__tags") == 0

    def test_columns_type_changes_and_variants(self, target: Target) -> None:
        p = target.pipeline("evolve")
        p.run([{"id": 1, "amount": 1, "label": "x"}], table_name="t")
        data = [{"id": 2, "amount": 2.5, "label": True, "extra": "e"}]
        with unchanged(target):
            plan = p.plan(data, table_name="t")
        t = plan.tables["t"]
        assert not t.new
        assert [(c.column, c.from_type, c.to_type) for c in t.type_changes] == [("amount", "bigint", "double")]
        assert t.variant_columns == ["label__v_bool"]
        assert [(c.name, c.data_type) for c in t.columns_to_add] == [("label__v_bool", "bool"), ("extra", "text")]
        info = p.run(data, table_name="t")
        assert [c.name for c in t.columns_to_add] == info.loads[-1].tables["t"].new_columns
        assert set(t.variant_columns) <= set(p.query("SELECT * FROM t").column_names)
        assert p.query("SELECT amount FROM t ORDER BY id").column(0).to_pylist() == [1.0, 2.5]

    def test_quarantine_counts_the_rows_set_aside(self, target: Target) -> None:
        p = target.pipeline("contract")
        p.run([{"id": 1, "a": "x"}], table_name="t")
        data = [{"id": 2, "a": "y"}, {"id": 3, "a": "z", "b": 1}, {"id": 4, "c": 2}]
        contract = {"columns": "quarantine"}
        with unchanged(target):
            plan = p.plan(data, table_name="t", schema_contract=contract)
        assert sum(q.rows for q in plan.quarantined) == 2
        assert {(q.table, q.resource) for q in plan.quarantined} == {("t", "t")}
        info = p.run(data, table_name="t", schema_contract=contract)
        assert plan.table_rows() == info.table_rows()
        stored = p.query("SELECT table_name, reason, count(*) AS n FROM _hw_quarantine GROUP BY 1, 2").to_pylist()
        assert {(r["table_name"], r["reason"], r["n"]) for r in stored} == {
            (q.table, q.reason, q.rows) for q in plan.quarantined
        }

    def test_frozen_schema_refuses_as_the_run_would(self, target: Target) -> None:
        p = target.pipeline("frozen")
        p.run([{"id": 1}], table_name="t")
        with unchanged(target), pytest.raises(HeadwaterError) as planned:
            p.plan([{"id": 2, "new": 1}], table_name="t", schema_contract="freeze")
        with pytest.raises(HeadwaterError) as ran:
            p.run([{"id": 2, "new": 1}], table_name="t", schema_contract="freeze")
        assert type(planned.value) is type(ran.value)

    def test_a_failing_extraction_raises_and_keeps_nothing(self, target: Target) -> None:
        p = target.pipeline("failing")
        p.run([{"id": 1}], table_name="t")

        def rows() -> Any:
            yield from ({"id": i} for i in range(3))
            raise ValueError("the API went away")

        with unchanged(target), pytest.raises(HeadwaterError, match="the API went away") as planned:
            p.plan(rows(), table_name="t")
        assert "partial package" not in str(planned.value)
        with pytest.raises(HeadwaterError, match="partial package"):
            p.run(rows(), table_name="t")

    def test_cursor_moves_and_state_is_not_advanced(self, target: Target) -> None:
        p = target.pipeline("cursor")

        def make(upto: int) -> Any:
            @hw.resource(name="items", primary_key="id", write_disposition="merge")
            def items(cursor: Any = hw.incremental("id")) -> Any:
                yield from ({"id": i} for i in range(upto) if cursor.start_value is None or i > cursor.start_value)

            return items

        with unchanged(target):
            first = p.plan(make(5))
        assert [(c.resource, c.cursor_path, c.from_value, c.to_value) for c in first.cursors] == [
            ("items", "id", None, 4)
        ]
        p.run(make(5))
        state = p.state.to_json()
        with unchanged(target):
            plan = p.plan(make(9))
        assert [(c.from_value, c.to_value, c.moved) for c in plan.cursors] == [(4, 8, True)]
        as_json = json.loads(plan.to_json())
        assert as_json["cursors"] == [
            {
                "source": "cursor",
                "resource": "items",
                "cursor_path": "id",
                "from_value": 4,
                "to_value": 8,
                "moved": True,
            }
        ]
        assert as_json["tables"]["items"]["rows"] == 4 and as_json["tables"]["items"]["updated"] == 0
        assert "cursor cursor.items id: 4 -> 8" in str(plan)
        assert plan.table_rows() == {"items": 4}
        assert p.state.to_json() == state
        info = p.run(make(9))
        assert info.table_rows() == plan.table_rows()
        assert p.state.incremental_state("cursor", "items")["id"]["last_value"] == 8

    def test_limit_takes_at_most_n_items_per_resource(self, target: Target) -> None:
        p = target.pipeline("limited")

        @hw.source(name="two")
        def two() -> Any:
            return [
                hw.resource(({"i": i} for i in range(10)), name="a"),
                hw.resource(({"i": i} for i in range(10)), name="b"),
            ]

        with unchanged(target):
            plan = p.plan(two(), limit=3)
        assert plan.table_rows() == {"a": 3, "b": 3}
        with pytest.raises(HeadwaterError):
            p.plan([{"i": 1}], table_name="x", limit=-1)

    def test_pending_packages_load_first(self, target: Target) -> None:
        p = target.pipeline("pending")
        hints = {**MERGE_HINTS, "merge_strategy": "delete-insert"}
        p.run(first_rows(10), **hints)
        waiting = p.extract(first_rows(12, "v3"), **hints)  # updates 0..9, adds 10, 11
        with unchanged(target):
            plan = p.plan(second_rows(), **hints)
        assert [(w.load_id, w.status) for w in plan.pending] == [(waiting, "normalized")]
        users = plan.tables["users"]
        # the waiting package: +2 new, 10 updated; then the new one: +3 new (12..14), 7 updated, 1 deleted
        assert (users.inserted, users.updated, users.deleted) == (5, 17, 1)
        info = p.run(second_rows(), **hints)
        assert info.load_ids[0] == waiting
        assert plan.table_rows() == info.table_rows()
        assert scalar(p, "SELECT count(*) FROM users") == 10 + users.inserted - users.deleted

    def test_nothing_to_extract_still_reports_waiting_packages(self, target: Target) -> None:
        p = target.pipeline("only_pending")
        p.extract(first_rows(3), table_name="users")

        def failing() -> Any:
            yield {"id": 1}
            raise ValueError("down")

        with pytest.raises(HeadwaterError):
            p.extract(failing(), table_name="other")  # a partial package: kept, not loaded by a run
        with unchanged(target):
            plan = p.plan()
        assert plan.load_id is None
        assert [w.status for w in plan.pending] == ["normalized", "partial"]
        info = p.run()
        assert plan.table_rows() == info.table_rows() == {"users": 3, "users__tags": 6}
        assert "waiting package" in plan.render()
