"""Schema contracts: evolve, freeze, discard_row, discard_value and quarantine, per kind of change."""

from __future__ import annotations

import json
from typing import Any

import pytest

import headwater as hw
from headwater.errors import ContractViolation
from headwater.testing import rows, scalar

BASE = [{"id": 1, "name": "ann", "n": 1, "tags": ["a"]}, {"id": 2, "name": "bob", "n": 2, "tags": []}]


def load(p: Any, data: list[dict[str, Any]], contract: Any) -> Any:
    return p.run(hw.resource([data], name="people", schema_contract=contract, primary_key="id"))


def test_a_brand_new_table_takes_its_first_schema_even_when_frozen(make_pipeline: Any) -> None:
    p = make_pipeline("first_freeze")
    assert load(p, BASE, "freeze").table_rows() == {"people": 2, "people__tags": 1}


def test_freeze_names_table_column_and_first_value(make_pipeline: Any) -> None:
    p = make_pipeline("freeze")
    load(p, BASE, "evolve")
    with pytest.raises(ContractViolation) as err:
        load(p, [{"id": 3, "name": "cy", "n": 3}, {"id": 4, "name": "di", "email": "di@example.org"}], "freeze")
    exc = err.value
    assert exc.where["table"] == "people"
    assert exc.where["column"] == "email"
    assert "first offending value: 'di@example.org'" in str(exc)
    assert scalar(p, "select count(*) from people") == 2  # nothing of the refused run landed


def test_columns_discard_value_and_discard_row(make_pipeline: Any) -> None:
    p = make_pipeline("discard")
    load(p, BASE, "evolve")
    batch = [{"id": 3, "name": "cy", "extra": "x"}, {"id": 4, "name": "di"}]
    load(p, batch, {"columns": "discard_value"})
    assert rows(p, "select id, name from people where id > 2 order by id") == [(3, "cy"), (4, "di")]
    assert "extra" not in p.schema().tables["people"].columns
    load(p, [{"id": 5, "name": "ed", "extra": "y", "tags": ["z"]}, {"id": 6, "name": "fi"}], {"columns": "discard_row"})
    assert [r[0] for r in rows(p, "select id from people where id > 4 order by id")] == [6]
    assert scalar(p, "select count(*) from people__tags where value = 'z'") == 0  # its children went too


def test_quarantine_keeps_offending_rows_in_the_same_commit(make_pipeline: Any) -> None:
    p = make_pipeline("quarantine")
    load(p, BASE, "evolve")
    batch = [
        {"id": 3, "name": "cy", "n": "three"},  # a text value in a bigint column: data_type
        {"id": 4, "name": "di", "email": "di@example.org"},  # a new column: columns
        {"id": 5, "name": "ed", "n": 5},
    ]
    info = load(p, batch, {"columns": "quarantine", "data_type": "quarantine"})
    assert rows(p, "select id from people where id > 2") == [(5,)]
    got = rows(p, "select table_name, reason, row, _hw_load_id from _hw_quarantine order by reason")
    assert [(g[0], g[3]) for g in got] == [("people", info.load_id)] * 2
    reasons = [g[1] for g in got]
    assert "new column 'email' (columns contract: quarantine)" in reasons
    assert any("text values in column 'n'" in r and "data_type contract: quarantine" in r for r in reasons)
    quarantined = sorted(json.loads(g[2])["id"] for g in got)
    assert quarantined == [3, 4]
    assert json.loads(scalar(p, f"select table_rows from _hw_loads where load_id = '{info.load_id}'")) == {
        "people": 1,
        "_hw_quarantine": 2,
    }


def test_data_type_freeze_and_widening(make_pipeline: Any) -> None:
    p = make_pipeline("types")
    load(p, BASE, "evolve")
    with pytest.raises(
        ContractViolation, match=r"double values in column 'n' of type bigint.*first offending value: 2\.5"
    ):
        load(p, [{"id": 9, "n": 2.5}], {"data_type": "freeze"})
    load(p, [{"id": 9, "n": 2.5}, {"id": 10, "n": 7}], {"data_type": "discard_value"})
    assert rows(p, "select id, n from people where id >= 9 order by id") == [(9, None), (10, 7)]
    assert p.schema().tables["people"].columns["n"].data_type == "bigint"


def test_tables_contract_governs_new_child_tables(make_pipeline: Any) -> None:
    p = make_pipeline("tables")
    load(p, BASE, "evolve")
    with pytest.raises(ContractViolation, match="new table 'people__pets'"):
        load(p, [{"id": 7, "pets": ["cat"]}], {"tables": "freeze"})
    load(p, [{"id": 7, "name": "gus", "pets": ["cat"]}], {"tables": "discard_value"})
    assert rows(p, "select id, name from people where id = 7") == [(7, "gus")]
    assert "people__pets" not in p.schema().tables
    load(p, [{"id": 8, "name": "hal", "pets": ["dog"]}, {"id": 9, "name": "ivy"}], {"tables": "quarantine"})
    assert [r[0] for r in rows(p, "select id from people where id >= 8")] == [9]
    assert json.loads(scalar(p, "select row from _hw_quarantine"))["pets"] == ["dog"]


def test_new_root_tables_of_a_dynamic_resource(make_pipeline: Any) -> None:
    p = make_pipeline("dynamic")

    def events(kinds: list[str], contract: str) -> Any:
        return hw.resource(
            [[{"kind": k, "n": 1} for k in kinds]],
            name="events",
            table_name=lambda e: e["kind"],
            schema_contract=contract,
        )

    p.run(events(["push"], "evolve"))
    with pytest.raises(ContractViolation, match="new table 'watch'"):
        p.run(events(["push", "watch"], "freeze"))
    info = p.run(events(["push", "watch"], "discard_row"))
    assert info.table_rows() == {"push": 1}


def test_null_primary_keys_are_quarantined_when_the_contract_quarantines(make_pipeline: Any) -> None:
    p = make_pipeline("nullkey")
    load(p, [{"id": 1, "name": "a"}, {"id": None, "name": "nokey"}], {"columns": "quarantine"})
    assert rows(p, "select id, name from people") == [(1, "a")]
    assert rows(p, "select reason from _hw_quarantine") == [("no value for primary key column 'id'",)]
