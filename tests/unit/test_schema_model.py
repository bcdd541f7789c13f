from __future__ import annotations

from headwater.schema.model import Column, Schema, Table


def make() -> Schema:
    s = Schema("src")
    t = Table("events", resource="events")
    t.add_column(Column("id", "bigint", path=("id",), primary_key=True, nullable=False))
    t.add_column(Column("amount", "decimal", 10, 2, path=("amount",)))
    t.add_column(Column("amount__v_text", "text", variant_of="amount"))
    s.tables["events"] = t
    s.tables["events__labels"] = Table("events__labels", parent="events", path=("labels",))
    return s


def test_json_round_trip_keeps_everything() -> None:
    s = make()
    s.bump_version()
    back = Schema.from_json(s.to_json())
    assert back.to_dict() == s.to_dict()
    assert back.tables["events"].column_for_path(("amount",)).name == "amount"  # index rebuilt
    assert back.tables["events"].columns["amount"].type.precision == 10


def test_version_increases_only_when_content_changes() -> None:
    s = make()
    assert s.bump_version() and s.version == 1
    assert not s.bump_version() and s.version == 1
    s.tables["events"].add_column(Column("new", "text", path=("new",)))
    assert s.bump_version() and s.version == 2


def test_diff_reports_new_tables_columns_and_widening() -> None:
    old = make()
    new = old.copy()
    new.tables["events"].columns["amount"].precision = 20
    new.tables["events"].add_column(Column("x", "text", path=("x",)))
    new.tables["other"] = Table("other")
    diff = new.diff(old)
    assert diff.new_tables == ["other"]
    assert diff.new_columns("events") == ["x"]
    assert [(c.column, c.kind, c.previous_type) for c in diff.changes if c.kind == "widen"] == [
        ("amount", "widen", "decimal(10,2)")
    ]


def test_children_and_child_table_names() -> None:
    s = make()
    s.tables["events__labels__x"] = Table("events__labels__x", parent="events__labels", path=("x",))
    assert [t.name for t in s.children_of("events")] == ["events__labels", "events__labels__x"]
    assert s.child_table_name("events", ("labels",)) == "events__labels"
    assert s.child_table_name("events", ("Other List",)) == "events__other_list"
