from __future__ import annotations

import pytest

from headwater.schema.model import Table
from headwater.schema.naming import deduplicate, snake_case


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("userId", "user_id"),
        ("UserID", "user_id"),
        ("HTTPCode", "http_code"),
        ("getHTTPResponseCode", "get_http_response_code"),
        ("already_snake", "already_snake"),
        ("with space", "with_space"),
        ("  padded  ", "padded"),
        ("a.b-c/d", "a_b_c_d"),
        ("price ($)", "price"),
        ("multiple___underscores", "multiple_underscores"),
        ("a__b", "a_b"),
        ("_id", "_id"),
        ("__v", "_v"),
        ("1st", "_1st"),
        ("123", "_123"),
        ("", "_"),
        ("$$$", "_"),
        ("Größe", "größe"),
        ("名前", "名前"),
        ("café", "café"),
        ("e\u0301", "é"),  # combining accent normalized (NFC)
        ("select", "select"),
        ("Order", "order"),
        ("emoji🎉name", "emoji_name"),
        ("tab\tand\nnewline", "tab_and_newline"),
    ],
)
def test_snake_case(raw: str, expected: str) -> None:
    assert snake_case(raw) == expected


def test_snake_case_is_idempotent() -> None:
    for raw in ["userId", "a b c", "Größe", "_x", "1a", "HTTPCode"]:
        once = snake_case(raw)
        assert snake_case(once) == once


def test_deduplicate_appends_first_free_suffix() -> None:
    assert deduplicate("a", set()) == "a"
    assert deduplicate("a", {"a"}) == "a_2"
    assert deduplicate("a", {"a", "a_2", "a_3"}) == "a_4"


def test_reserved_system_names_are_never_given_to_data() -> None:
    assert deduplicate("_hw_id", set()) == "_hw_id_2"


def test_collisions_resolved_in_order_of_arrival_and_stable() -> None:
    table = Table("t")
    from headwater.schema.model import Column

    first = table.name_for_path(("userId",))
    table.add_column(Column(first, "text", path=("userId",)))
    second = table.name_for_path(("user_id",))
    table.add_column(Column(second, "text", path=("user_id",)))
    third = table.name_for_path(("User ID",))
    assert (first, second, third) == ("user_id", "user_id_2", "user_id_3")
    # the same path always maps to the same name
    assert table.name_for_path(("user_id",)) == "user_id_2"
    assert table.name_for_path(("userId",)) == "user_id"


def test_nested_path_and_flat_key_that_look_alike_get_distinct_columns() -> None:
    from headwater.schema.model import Column

    table = Table("t")
    nested = table.name_for_path(("a", "b"))
    table.add_column(Column(nested, "bigint", path=("a", "b")))
    flat = table.name_for_path(("a__b",))
    assert nested == "a__b"
    assert flat == "a_b"  # a key never produces the path separator
