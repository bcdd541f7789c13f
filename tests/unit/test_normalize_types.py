"""Type inference and the reconciliation rule across and within batches."""

from __future__ import annotations

import datetime as dt
import decimal
import math
from typing import Any

import pyarrow as pa
import pytest

from headwater.errors import DataError
from headwater.normalize.values import ARROW_DEPTH, Unconvertible, to_array
from headwater.schema.hints import build_hints
from tests.unit.normalize_helpers import column, normalize, types

UTC = dt.UTC


def test_scalar_types_are_inferred() -> None:
    row = {
        "i": 1,
        "f": 1.5,
        "b": True,
        "s": "x",
        "ts": "2024-01-02T03:04:05Z",
        "d": "2024-01-02",
        "dec": decimal.Decimal("1.25"),
        "bin": b"\x00\x01",
        "dt": dt.datetime(2024, 1, 1, tzinfo=UTC),
        "day": dt.date(2024, 1, 1),
        "t": dt.time(12, 30),
    }
    schema, out = normalize([[row]])
    assert types(schema) == {
        "i": "bigint",
        "f": "double",
        "b": "bool",
        "s": "text",
        "ts": "timestamp",
        "d": "date",
        "dec": "decimal(3,2)",
        "bin": "binary",
        "dt": "timestamp",
        "day": "date",
        "t": "time",
    }
    assert column(out["t"], "ts") == [dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)]


def test_timestamps_with_offsets_and_naive_ones_land_in_utc() -> None:
    values = ["2024-01-02T03:04:05+02:00", "2024-01-02 03:04:05", "2024-01-02T03:04:05.123456Z", None]
    schema, out = normalize([[{"ts": v} for v in values]])
    assert types(schema) == {"ts": "timestamp"}
    assert column(out["t"], "ts") == [
        dt.datetime(2024, 1, 2, 1, 4, 5, tzinfo=UTC),
        dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        dt.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC),
        None,
    ]


def test_strings_that_only_partly_look_like_dates_stay_text() -> None:
    schema, _ = normalize([[{"s": "2024-01-02"}, {"s": "soon"}]])
    assert types(schema) == {"s": "text"}
    schema, _ = normalize([[{"s": "2024-13-45"}]])
    assert types(schema) == {"s": "text"}


def test_int_then_float_widens_the_column_to_double() -> None:
    schema, out = normalize([[{"x": 1}], [{"x": 2.5}]])
    assert types(schema) == {"x": "double"}
    assert column(out["t"], "x") == [1, 2.5]


def test_whole_floats_stay_in_a_bigint_column() -> None:
    schema, out = normalize([[{"x": 1}], [{"x": 2.0}]])
    assert types(schema) == {"x": "bigint"}
    assert column(out["t"], "x") == [1, 2]


def test_widening_is_a_variant_when_the_destination_cannot_alter() -> None:
    schema, out = normalize([[{"x": 1}], [{"x": 2.5}]], widening=frozenset())
    assert types(schema) == {"x": "bigint", "x__v_double": "double"}
    assert column(out["t"], "x__v_double") == [None, 2.5]


def test_int_then_text_goes_to_a_variant_column() -> None:
    schema, out = normalize([[{"x": 1}], [{"x": "one"}]])
    assert types(schema) == {"x": "bigint", "x__v_text": "text"}
    assert column(out["t"], "x") == [1, None]
    assert column(out["t"], "x__v_text") == [None, "one"]
    variant = schema.tables["t"].columns["x__v_text"]
    assert variant.variant_of == "x"


def test_text_column_keeps_later_numbers_and_bools_in_variants_of_their_own_type() -> None:
    schema, out = normalize([[{"x": "a"}], [{"x": 5}], [{"x": True}], [{"x": 2.5}]])
    assert types(schema) == {"x": "text", "x__v_bigint": "bigint", "x__v_bool": "bool", "x__v_double": "double"}
    assert column(out["t"], "x") == ["a", None, None, None]
    assert column(out["t"], "x__v_bigint") == [None, 5, None, None]
    assert column(out["t"], "x__v_bool") == [None, None, True, None]
    assert column(out["t"], "x__v_double") == [None, None, None, 2.5]


def test_a_text_hint_casts_numbers_and_bools_to_text() -> None:
    hints = build_hints(resource="r", columns={"x": "text"})
    schema, out = normalize([[{"x": "a"}], [{"x": 5}], [{"x": True}], [{"x": 2.5}]], hints=hints)
    assert types(schema) == {"x": "text"}
    assert column(out["t"], "x") == ["a", "5", "true", "2.5"]


def test_mixed_kinds_within_one_batch_lose_nothing() -> None:
    rows = [{"m": 1}, {"m": "two"}, {"m": {"k": 3}}, {"m": [4]}, {"m": None}, {"m": True}, {"m": 5.5}]
    schema, out = normalize([rows])
    t = types(schema)
    assert t["m"] == "double"  # ints and floats are one kind, the first kind seen
    assert t["m__v_text"] == "text"
    assert t["m__v_bool"] == "bool"
    assert t["m__k"] == "bigint"
    assert column(out["t"], "m") == [1.0, None, None, None, None, None, 5.5]
    assert column(out["t"], "m__v_text") == [None, "two", None, None, None, None, None]
    assert column(out["t"], "m__k") == [None, None, 3, None, None, None, None]
    assert column(out["t"], "m__v_bool") == [None, None, None, None, None, True, None]
    assert column(out["t__m"], "value") == [4]


def test_conflict_inside_a_nested_object_only_affects_that_field() -> None:
    rows = [{"p": {"a": 1, "b": "x"}}, {"p": {"a": "one", "b": "y"}}]
    schema, out = normalize([rows])
    assert types(schema) == {"p__a": "bigint", "p__b": "text", "p__a__v_text": "text"}
    assert column(out["t"], "p__b") == ["x", "y"]


def test_conflict_inside_list_elements() -> None:
    rows = [{"l": [{"v": 1}, {"v": "a"}, 7]}]
    schema, out = normalize([rows])
    assert types(schema, "t__l") == {"v": "bigint", "v__v_text": "text", "value": "bigint"}
    assert column(out["t__l"], "value") == [None, None, 7]


def test_integers_beyond_64_bits() -> None:
    rows = [{"n": 1}, {"n": 2**70}, {"n": -(2**65)}]
    schema, out = normalize([rows])
    assert types(schema) == {"n": "decimal(38,0)"}
    assert column(out["t"], "n") == [1, 2**70, -(2**65)]
    schema, out = normalize([[{"n": 10**40}]])
    assert types(schema) == {"n": "text"}
    assert column(out["t"], "n") == [str(10**40)]


def test_bigint_widens_to_decimal_for_big_values_in_later_batches() -> None:
    schema, out = normalize([[{"n": 1}], [{"n": 2**70}]])
    assert types(schema) == {"n": "decimal(38,0)"}
    assert column(out["t"], "n") == [1, 2**70]


def test_decimals_widen_precision_and_scale() -> None:
    schema, out = normalize([[{"d": decimal.Decimal("1.5")}], [{"d": decimal.Decimal("123.125")}]])
    assert types(schema) == {"d": "decimal(6,3)"}
    assert column(out["t"], "d") == [decimal.Decimal("1.500"), decimal.Decimal("123.125")]


def test_date_column_widens_to_timestamp() -> None:
    schema, out = normalize([[{"d": "2024-01-02"}], [{"d": "2024-01-03T10:00:00Z"}]])
    assert types(schema) == {"d": "timestamp"}
    assert column(out["t"], "d")[1] == dt.datetime(2024, 1, 3, 10, tzinfo=UTC)


def test_timestamp_column_keeps_unparseable_text_in_a_variant() -> None:
    schema, out = normalize([[{"ts": "2024-01-02T00:00:00Z"}], [{"ts": "2024-02-02T00:00:00Z"}, {"ts": "never"}]])
    assert types(schema) == {"ts": "timestamp", "ts__v_text": "text"}
    assert column(out["t"], "ts") == [dt.datetime(2024, 1, 2, tzinfo=UTC), dt.datetime(2024, 2, 2, tzinfo=UTC), None]
    assert column(out["t"], "ts__v_text") == [None, None, "never"]


def test_hinted_type_casts_values() -> None:
    hints = build_hints(resource="r", columns={"price": "decimal(10,2)", "code": "text", "n": "double"})
    schema, out = normalize(
        [[{"price": "12.50", "code": 7, "n": 3}, {"price": 1.25, "code": "x", "n": 4}]], hints=hints
    )
    assert types(schema) == {"price": "decimal(10,2)", "code": "text", "n": "double"}
    assert column(out["t"], "price") == [decimal.Decimal("12.50"), decimal.Decimal("1.25")]
    assert column(out["t"], "code") == ["7", "x"]


def test_hinted_type_is_not_widened_and_uncastable_values_go_to_a_variant() -> None:
    hints = build_hints(resource="r", columns={"n": "bigint"})
    schema, out = normalize([[{"n": 1}, {"n": 2.5}]], hints=hints)
    assert types(schema) == {"n": "bigint", "n__v_double": "double"}
    assert column(out["t"], "n") == [1, None]


def test_null_primary_key_is_a_clear_error() -> None:
    hints = build_hints(resource="r", primary_key="id")
    with pytest.raises(DataError) as err:
        normalize([[{"id": 1}, {"id": None}, {"other": 1}]], hints=hints)
    text = str(err.value)
    assert "2 row(s) have no value for primary key column 'id'" in text
    assert "first at row 1" in text
    assert "table='t'" in text and "resource='r'" in text


def test_unsupported_value_names_the_column() -> None:
    class Thing:
        pass

    with pytest.raises(DataError) as err:
        normalize([[{"ok": 1, "bad": Thing()}]])
    assert "column='bad'" in str(err.value)
    assert "Thing" in str(err.value)


def test_strings_with_lone_surrogates_are_kept_as_bytes_in_a_variant() -> None:
    rows = [{"s": "ok"}, {"s": "bad\ud800x"}, {"k\udc00ey": 1, "nested": {"t": "\udfff"}}]
    schema, out = normalize([rows])
    t = types(schema)
    assert t["s"] == "text" and t["s__v_binary"] == "binary"
    assert column(out["t"], "s") == ["ok", None, None]
    assert column(out["t"], "s__v_binary") == [None, "bad\ud800x".encode("utf-8", "surrogatepass"), None]
    assert t["k_udc00ey"] == "bigint"  # the odd key is escaped, not dropped
    # alone in its column, the value makes it a binary column
    assert column(out["t"], "nested__t") == [None, None, "\udfff".encode("utf-8", "surrogatepass")]
    schema.to_json()  # the schema (with the escaped source path) serializes


def test_uuid_values_get_a_uuid_column_and_keep_their_type_next_to_text() -> None:
    import uuid

    a, b = uuid.uuid4(), uuid.uuid4()
    schema, out = normalize([[{"u": a, "t": "x"}], [{"u": b, "t": b}]])
    assert types(schema) == {"u": "uuid", "t": "text", "t__v_uuid": "uuid"}
    assert column(out["t"], "u") == [a, b]
    assert column(out["t"], "t") == ["x", None]
    assert column(out["t"], "t__v_uuid") == [None, b]
    _, out = normalize([[{"t": "x"}], [{"t": b}]], hints=build_hints(resource="r", columns={"t": "text"}))
    assert column(out["t"], "t") == ["x", str(b)]


# -- no silent value changes: each case is batches of one column, then what each column holds --------
FIDELITY_CASES = {
    "bool after float": ([[1.5, True, False]], {"v": [1.5, None, None], "v__v_bool": [None, True, False]}),
    "bool after int and float": ([[1, 2.5, True]], {"v": [1.0, 2.5, None], "v__v_bool": [None, None, True]}),
    "big int then float, one batch": ([[2**60 + 1, 2.5]], {"v": [2**60 + 1, None], "v__v_double": [None, 2.5]}),
    "float then big int, one batch": ([[2.5, 2**60 + 1]], {"v": [2.5, None], "v__v_bigint": [None, 2**60 + 1]}),
    "huge int then float, one batch": (
        [[2**70 + 1, 2.5]],
        {"v": [decimal.Decimal(2**70 + 1), None], "v__v_double": [None, 2.5]},
    ),
    "big int column then float: no lossy widening": (
        [[2**60 + 1], [2.5]],
        {"v": [2**60 + 1, None], "v__v_double": [None, 2.5]},
    ),
    "small int column then float: widening": ([[7], [2.5]], {"v": [7, 2.5]}),
    "double column then huge int": ([[1.5], [2**70 + 1]], {"v": [1.5, None], "v__v_decimal": [None, 2**70 + 1]}),
    "double column then big int": ([[1.5], [2**60 + 1]], {"v": [1.5, None], "v__v_bigint": [None, 2**60 + 1]}),
    "double column then exact int": ([[1.5], [2**53]], {"v": [1.5, float(2**53)]}),
    "-0.0 into a bigint column": ([[2**60 + 1], [-0.0]], {"v": [2**60 + 1, None], "v__v_double": [None, -0.0]}),
    "whole float into a bigint column": ([[2**60 + 1], [3.0]], {"v": [2**60 + 1, 3]}),
    "nan into a bigint column": ([[2**60 + 1], [float("nan")]], {"v": [2**60 + 1, None], "v__v_double": "nan"}),
    "ints beyond decimal next to small ints": ([[1, 10**40]], {"v": [1, None], "v__v_text": [None, str(10**40)]}),
    "bool column then numbers": ([[True], [1, 2.5]], {"v": [True, None, None], "v__v_double": [None, 1.0, 2.5]}),
    "text column then a number": ([["007"], [7]], {"v": ["007", None], "v__v_bigint": [None, 7]}),
}


@pytest.mark.parametrize("batches", list(FIDELITY_CASES), ids=list(FIDELITY_CASES))
def test_no_value_changes_its_type_family_or_value(batches: str) -> None:
    values, want = FIDELITY_CASES[batches]
    schema, out = normalize([[{"v": x} for x in batch] for batch in values])
    got = {name: column(out["t"], name) for name in types(schema)}
    if want.get("v__v_double") == "nan":
        assert math.isnan(got.pop("v__v_double")[1])
        want = {k: v for k, v in want.items() if k != "v__v_double"}
    assert got == want
    for name, wanted in want.items():  # the same family, not only equal: True == 1 in Python
        assert [_family(x) for x in got[name]] == [_family(x) for x in wanted], name


def _family(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float | decimal.Decimal):
        return "number"
    return type(value).__name__


@pytest.mark.parametrize("where", ["top", "object", "list"])
def test_booleans_next_to_doubles_keep_their_type_at_any_depth(where: str) -> None:
    def wrap(x: object) -> dict[str, object]:
        return {"top": {"v": x}, "object": {"o": {"v": x}}, "list": {"l": [x]}}[where]

    _, out = normalize([[wrap(1.5), wrap(True), wrap(0.5), wrap(False)]])
    tables = dict(out)
    bools = [
        v
        for ts in tables.values()
        for t in ts
        for c in t.column_names
        if "__v_bool" in c
        for v in t.column(c).to_pylist()
    ]
    assert [b for b in bools if b is not None] == [True, False]
    doubles = [
        v
        for ts in tables.values()
        for t in ts
        for c in t.column_names
        if not c.startswith("_hw_") and "__v_" not in c
        for v in t.column(c).to_pylist()
    ]
    assert [d for d in doubles if d is not None] == [1.5, 0.5]


@pytest.mark.parametrize(
    ("first", "then", "variant"),
    [(1, "one", "id__v_text"), ("a", 2, "id__v_bigint"), (2**60 + 1, 2.5, "id__v_double"), (1.5, True, "id__v_bool")],
)
def test_a_key_whose_type_changed_is_named_a_type_conflict(first: object, then: object, variant: str) -> None:
    with pytest.raises(DataError) as err:
        normalize([[{"id": first}], [{"id": then}, {"id": first}]], hints=build_hints(resource="r", primary_key="id"))
    text = str(err.value)
    assert "type conflict on primary key column 'id'" in text, text
    assert variant in text and "have no value" not in text
    assert err.value.column == "id"


def test_json_text_from_arrow_stays_as_written_and_other_text_goes_beside_it() -> None:
    """A declared JSON column fed JSON text (a SQL json column arrives as Arrow text) keeps the text; text
    that is not JSON goes to a variant, never to a load the destination refuses."""
    hints = build_hints(resource="r", columns={"doc": "json"})
    data = pa.table({"doc": ['{"a": [1, 2]}', "not json", None, "5"]})
    schema, out = normalize([data], hints=hints, arrow=True)
    assert types(schema) == {"doc": "json", "doc__v_text": "text"}
    assert column(out["t"], "doc") == ['{"a": [1, 2]}', None, None, "5"]
    assert column(out["t"], "doc__v_text") == [None, "not json", None, None]


def test_python_values_in_a_json_column_are_their_json_and_nan_quarantines_its_row() -> None:
    hints = build_hints(resource="r", columns={"doc": "json"})
    rows = [{"id": 1, "doc": "text"}, {"id": 2, "doc": {"k": [1, 2.5]}}, {"id": 3, "doc": float("nan")}]
    _, out = normalize([rows], hints=hints)
    assert column(out["t"], "doc") == ['"text"', '{"k":[1,2.5]}']
    assert column(out["t"], "id") == [1, 2]
    (quarantined,) = column(out["_hw_quarantine"], "row")
    assert quarantined == '{"id":3,"doc":"NaN"}'


@pytest.mark.parametrize(
    "text", ["2024-01-02T03:04:05.1234567Z", "2024-01-02 03:04:05.123456789+02:00", "2024-01-02T03:04:05.0000001"]
)
def test_timestamps_finer_than_microseconds_stay_text_never_truncated(text: str) -> None:
    schema, out = normalize([[{"ts": text}]])  # a new column: not inferred as a timestamp
    assert types(schema) == {"ts": "text"} and column(out["t"], "ts") == [text]
    schema, out = normalize([[{"ts": "2024-01-01T00:00:00Z"}], [{"ts": text}]])  # an existing timestamp column
    assert types(schema) == {"ts": "timestamp", "ts__v_text": "text"}
    assert column(out["t"], "ts__v_text") == [None, text]


def _nest(depth: int, leaf: Any) -> Any:
    value = leaf
    for i in range(depth):
        value = {"k": value} if i % 2 else [value]
    return value


@pytest.mark.parametrize(
    "leaf",
    [1, 2**70, {1: "a non-text key"}, decimal.Decimal("1.5"), dt.datetime(2020, 1, 2, tzinfo=dt.UTC)],
    ids=["int", "beyond-64-bits", "non-text-key", "decimal", "timestamp"],
)
@pytest.mark.parametrize("containers", [ARROW_DEPTH - 1, ARROW_DEPTH, ARROW_DEPTH + 1, 30_000])
def test_the_depth_probe_tells_deep_from_shallow_whatever_the_leaf(leaf: Any, containers: int) -> None:
    # Arrow's converter recurses on the C stack (30,000 levels crash the process), so values deeper
    # than ARROW_DEPTH never reach it: every leaf orjson refuses takes another route to the same answer
    own = 1 if isinstance(leaf, dict) else 0  # the leaf's own object is a level
    values = [None, _nest(containers - 1 - own, leaf)]  # the batch's list is a level too
    if containers > ARROW_DEPTH:
        with pytest.raises(Unconvertible, match="deeper"):
            to_array(values)
    elif leaf == 2**70 or isinstance(leaf, dict):  # refused for what it holds, not for its depth
        with pytest.raises(Unconvertible) as refused:
            to_array(values)
        assert "deeper" not in str(refused.value)
    else:
        assert to_array(values).type is not None
