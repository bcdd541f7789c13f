"""Nested objects, lists, child tables, nesting limits and system columns."""

from __future__ import annotations

import pyarrow as pa

from headwater.schema.hints import build_hints
from tests.unit.normalize_helpers import column, normalize, types


def test_nested_objects_become_double_underscore_columns() -> None:
    schema, out = normalize([[{"id": 1, "actor": {"login": "ann", "address": {"city": "Oslo"}}}]])
    assert types(schema) == {"id": "bigint", "actor__login": "text", "actor__address__city": "text"}
    assert column(out["t"], "actor__address__city") == ["Oslo"]


def test_lists_of_objects_become_child_tables_linked_and_ordered() -> None:
    docs = [
        {"id": 1, "labels": [{"name": "a"}, {"name": "b"}]},
        {"id": 2, "labels": []},
        {"id": 3, "labels": None},
        {"id": 4, "labels": [{"name": "c"}]},
    ]
    _schema, out = normalize([docs])
    root = out["t"][0]
    child = out["t__labels"][0]
    ids = dict(zip(root.column("id").to_pylist(), root.column("_hw_id").to_pylist(), strict=True))
    assert child.column("name").to_pylist() == ["a", "b", "c"]
    assert child.column("_hw_list_idx").to_pylist() == [0, 1, 0]
    assert child.column("_hw_parent_id").to_pylist() == [ids[1], ids[1], ids[4]]
    # every row has its own id and the load id
    assert len(set(root.column("_hw_id").to_pylist() + child.column("_hw_id").to_pylist())) == 7
    assert set(child.column("_hw_load_id").to_pylist()) == {"L1"}


def test_lists_of_scalars_get_a_value_column_and_keep_nulls_and_positions() -> None:
    _schema, out = normalize([[{"tags": ["x", None, "z"]}, {"tags": ["y"]}]])
    child = out["t__tags"][0]
    assert child.column("value").to_pylist() == ["x", None, "z", "y"]
    assert child.column("_hw_list_idx").to_pylist() == [0, 1, 2, 0]


def test_nesting_to_any_depth() -> None:
    depth = 25
    doc: dict = {"leaf": 1}
    for i in range(depth):
        doc = {f"l{i}": doc, "items": [{"v": i, "more": [i, i + 1]}]}
    schema, out = normalize([[doc]])
    deepest = "__".join(f"l{i}" for i in reversed(range(depth))) + "__leaf"
    assert column(out["t"], deepest) == [1]
    # lists at every level became tables of their own, down to the bottom
    child_tables = [t for t in schema.tables if t != "t"]
    assert len(child_tables) == 2 * depth
    assert max(len(t.split("__")) for t in child_tables) >= depth


def test_lists_of_lists_become_grandchildren() -> None:
    _schema, out = normalize([[{"m": [[1, 2], [], [3]]}]])
    assert out["t__m"][0].num_rows == 3
    grand = out["t__m__value"][0]
    assert grand.column("value").to_pylist() == [1, 2, 3]
    parents = out["t__m"][0].column("_hw_id").to_pylist()
    assert grand.column("_hw_parent_id").to_pylist() == [parents[0], parents[0], parents[2]]


def test_empty_lists_and_empty_objects_create_nothing_but_keep_the_row() -> None:
    schema, out = normalize([[{"id": 1, "l": [], "o": {}}]])
    assert list(schema.tables) == ["t"]
    assert types(schema) == {"id": "bigint"}
    assert out["t"][0].num_rows == 1


def test_all_null_column_is_not_created_until_a_value_arrives() -> None:
    schema, _ = normalize([[{"id": 1, "x": None}], [{"id": 2, "x": 5}]])
    assert types(schema) == {"id": "bigint", "x": "bigint"}


def test_max_nesting_stores_deeper_values_as_json() -> None:
    hints = build_hints(resource="r", max_nesting=1)
    docs = [{"a": {"b": {"c": 1, "d": [1, 2]}, "x": 2}, "l": [{"k": {"deep": True}, "s": 1}]}]
    schema, out = normalize([docs], hints=hints)
    assert types(schema) == {"a__b": "json", "a__x": "bigint"}
    assert column(out["t"], "a__b") == ['{"c":1,"d":[1,2]}']
    assert types(schema, "t__l") == {"k": "json", "s": "bigint"}
    assert column(out["t__l"], "k") == ['{"deep":true}']


def test_max_nesting_zero_keeps_objects_as_json_without_inventing_keys() -> None:
    hints = build_hints(resource="r", max_nesting=0)
    schema, out = normalize([[{"a": {"x": 1}}, {"a": {"y": 2}}, {"a": [1, {"z": None}]}]], hints=hints)
    assert types(schema) == {"a": "json"}
    assert column(out["t"], "a") == ['{"x":1}', '{"y":2}', '[1,{"z":null}]']


def test_json_hint_keeps_a_column_as_json() -> None:
    hints = build_hints(resource="r", columns={"payload": "json", "meta__raw": "json"})
    docs = [{"payload": {"a": [1, 2]}, "meta": {"raw": {"k": "v"}, "n": 1}}, {"payload": "plain", "meta": None}]
    schema, out = normalize([docs], hints=hints)
    assert types(schema) == {"payload": "json", "meta__raw": "json", "meta__n": "bigint"}
    assert column(out["t"], "payload") == ['{"a":[1,2]}', '"plain"']
    assert column(out["t"], "meta__raw") == ['{"k":"v"}', None]
    assert list(schema.tables) == ["t"]


def test_odd_identifiers() -> None:
    docs = [
        {
            "User Name": "a",
            "userName": "b",
            "user_name": "c",
            "select": 1,
            "from": 2,
            "名前": "x",
            "1st": True,
            "a.b": 1,
            "": "empty",
            "_hw_id": "mine",
        }
    ]
    schema, out = normalize([docs])
    names = list(types(schema))
    assert names[:3] == ["user_name", "user_name_2", "user_name_3"]
    assert {"select", "from", "名前", "_1st", "a_b", "_", "_hw_id_2"} <= set(names)
    assert column(out["t"], "_hw_id_2") == ["mine"]
    paths = {c.name: c.path for c in schema.tables["t"].columns.values()}
    assert paths["user_name_2"] == ("userName",)


def test_huge_strings_survive_intact() -> None:
    big = "x" * (64 * 1024 * 1024) + "end"
    odd = "\x00nul\u2028line\ud7ff" + "é" * 1000
    _schema, out = normalize([[{"s": big}, {"s": odd}, {"s": ""}]])
    values = column(out["t"], "s")
    assert len(values[0]) == len(big) and values[0].endswith("end")
    assert values[1] == odd
    assert values[2] == ""


def test_arrow_input_is_flattened_without_row_work() -> None:
    table = pa.table(
        {
            "id": [1, 2],
            "obj": pa.array([{"a": 1, "b": "x"}, None]),
            "lst": pa.array([[1, 2], None]),
            "dict_col": pa.array(["u", "v"]).dictionary_encode(),
        }
    )
    schema, out = normalize([table], arrow=True)
    assert types(schema) == {"id": "bigint", "obj__a": "bigint", "obj__b": "text", "dict_col": "text"}
    assert column(out["t"], "obj__a") == [1, None]
    assert column(out["t__lst"], "value") == [1, 2]


def test_arrow_strings_are_not_reinterpreted() -> None:
    table = pa.table({"when": ["2024-01-01T00:00:00Z"]})
    schema, _ = normalize([table], arrow=True)
    assert types(schema) == {"when": "text"}
