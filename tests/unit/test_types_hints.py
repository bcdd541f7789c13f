from __future__ import annotations

import pytest

from headwater.errors import ConfigError
from headwater.schema.hints import build_hints
from headwater.schema.types import DataType, parse_data_type, variant_column_name, widen_decimal


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("bigint", DataType("bigint")),
        ("INT", DataType("bigint")),
        ("string", DataType("text")),
        ("varchar", DataType("text")),
        ("float", DataType("double")),
        ("boolean", DataType("bool")),
        ("datetime", DataType("timestamp")),
        ("jsonb", DataType("json")),
        ("decimal(18,2)", DataType("decimal", 18, 2)),
        ("numeric(10)", DataType("decimal", 10, 0)),
        ("decimal", DataType("decimal", 38, 9)),
        (" DECIMAL ( 5 , 1 ) ", DataType("decimal", 5, 1)),
    ],
)
def test_parse_data_type(spec: str, expected: DataType) -> None:
    assert parse_data_type(spec) == expected


@pytest.mark.parametrize("spec", ["integerr", "decimal(39,2)", "decimal(5,6)", "decimal(0,0)", "", "map"])
def test_parse_data_type_rejects(spec: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_data_type(spec)
    assert "hint:" in str(err.value)


def test_widen_decimal() -> None:
    assert widen_decimal(DataType("decimal", 10, 2), DataType("decimal", 12, 4)) == DataType("decimal", 12, 4)
    assert widen_decimal(DataType("decimal", 10, 2), DataType("decimal", 10, 6)) == DataType("decimal", 14, 6)
    assert widen_decimal(DataType("bigint"), DataType("decimal", 5, 2)) == DataType("decimal", 21, 2)
    assert widen_decimal(DataType("decimal", 38, 0), DataType("decimal", 38, 10)) is None


def test_variant_column_name() -> None:
    assert variant_column_name("amount", DataType("text")) == "amount__v_text"


def test_column_hints_in_all_forms() -> None:
    hints = build_hints(
        resource="r",
        columns={"Price": "decimal(18,2)", "payload": {"data_type": "json"}, "n": {"type": "int", "nullable": False}},
        primary_key="Id",
    )
    assert hints.columns["price"].data_type == DataType("decimal", 18, 2)
    assert hints.columns["payload"].data_type == DataType("json")
    assert hints.columns["n"].nullable is False
    assert hints.primary_key == ("id",)
    assert hints.columns["id"].primary_key and hints.columns["id"].nullable is False
    assert hints.json_columns() == frozenset({"payload"})

    listed = build_hints(resource="r", columns=[{"name": "x", "data_type": "decimal", "precision": 10, "scale": 3}])
    assert listed.columns["x"].data_type == DataType("decimal", 10, 3)


def test_primary_key_from_column_hint() -> None:
    hints = build_hints(resource="r", columns={"k": {"data_type": "text", "primary_key": True}})
    assert hints.primary_key == ("k",)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"columns": {"x": "money"}}, "unknown data type 'money'"),
        ({"columns": {"x": {"data_tipe": "text"}}}, "unknown key(s) ['data_tipe']"),
        ({"columns": {"x": {"nullable": "no"}}}, "nullable must be true or false"),
        ({"columns": {"x": 5}}, "must be a type name or a dict"),
        ({"columns": "x"}, "columns must be a dict"),
        ({"write_disposition": "upsert"}, "unknown write_disposition 'upsert'"),
        ({"write_disposition": "merge", "merge_strategy": "fancy"}, "unknown merge strategy 'fancy'"),
        ({"write_disposition": {"disposition": "merge", "strategi": "scd2"}}, "unknown key(s) ['strategi']"),
        ({"dedup_sort": ("ts", "up")}, "dedup_sort order must be 'asc' or 'desc'"),
        ({"schema_contract": "melt"}, "unknown mode 'melt'"),
        ({"schema_contract": {"rows": "freeze"}}, "unknown schema_contract kind(s) ['rows']"),
        (
            {"columns": {"a": {"hard_delete": True}, "b": {"hard_delete": True}}},
            "only one column can be the hard_delete",
        ),
        ({"incremental": "updated_at"}, "incremental must be made with hw.incremental"),
        ({"max_nesting": -1}, "max_nesting must be a non-negative integer"),
        ({"primary_key": []}, "primary_key must be a column name"),
        ({"table_name": ""}, "table_name must not be empty"),
        ({"table_name": 5}, "table_name must be a string or a function"),
    ],
)
def test_bad_hints_name_resource_and_column(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        build_hints(resource="events", **kwargs)
    assert message in str(err.value)
    assert "resource='events'" in str(err.value)


def test_merge_hints_in_both_spellings() -> None:
    from headwater.schema.hints import check_merge

    a = build_hints(resource="r", write_disposition="merge", merge_strategy="scd2", primary_key=["Id", "Region"])
    assert (a.write_disposition, a.merge_strategy, a.primary_key, a.source_primary_key) == (
        "merge",
        "scd2",
        ("id", "region"),
        ("Id", "Region"),
    )
    b = build_hints(
        resource="r",
        write_disposition={"disposition": "merge", "strategy": "scd2", "validity_column_names": ["From", "To"]},
    )
    assert b.merge_strategy == "scd2" and b.validity_columns == ("from", "to")
    c = build_hints(
        resource="r",
        write_disposition="merge",
        merge_key="day",
        dedup_sort={"updated": "asc"},
        columns={"gone": {"data_type": "bool", "hard_delete": True}},
    )
    assert c.merge_key == ("day",) and c.dedup_sort == ("updated", "asc") and c.hard_delete_column == "gone"
    check_merge(c, "r")
    with pytest.raises(ConfigError, match="needs a primary_key or a merge_key"):
        check_merge(build_hints(resource="r", write_disposition="merge"), "r")
    with pytest.raises(ConfigError, match="'upsert' needs a primary_key"):
        check_merge(build_hints(resource="r", write_disposition="merge", merge_strategy="upsert", merge_key="d"), "r")


def test_contract_modes() -> None:
    from headwater.schema.contract import Contract

    assert build_hints(resource="r", schema_contract="freeze").contract == Contract("freeze", "freeze", "freeze")
    mixed = build_hints(resource="r", schema_contract={"columns": "quarantine"}).contract
    assert mixed == Contract("evolve", "quarantine", "evolve") and mixed.quarantines
