"""Another writer's table: values meet the column types the destination really holds (whoever made them);
a mismatch is a type conflict (a variant column), never an implicit cast.

Two pipelines write one table of one dataset: the first makes column ``v`` with one type, the second
brings values of another type. Before the fix, DuckDB cast them (``7`` became ``'7'``, ``5`` became
``True``) or failed and wedged every later run (``'abc'`` into a bigint column).
"""

from __future__ import annotations

from typing import Any

import pytest

from headwater.testing import values

CASES = {
    "text then int": ("007", 7, "v__v_bigint"),
    "bool then int": (True, 5, "v__v_bigint"),
    "int then text": (5, "abc", "v__v_text"),
    "double then big int": (1.5, 2**60 + 1, "v__v_bigint"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_values_meet_the_type_another_pipeline_gave_the_column(make_pipeline: Any, destination: Any, case: str) -> None:
    first, then, variant = CASES[case]
    shared = destination.at("shared")
    a = make_pipeline("writer_a", dataset="shared", destination=shared)
    b = make_pipeline("writer_b", dataset="shared", destination=shared)
    a.run([{"id": 1, "v": first}], table_name="t")
    b.run([{"id": 2, "v": then}], table_name="t")
    b.run([{"id": 3, "v": then}], table_name="t")  # and every later run loads too
    assert values(b, "t", "id", "v", variant) == [(1, first, None), (2, None, then), (3, None, then)]
    column = b.schema().tables["t"].columns["v"]
    assert column.data_type == a.schema().tables["t"].columns["v"].data_type  # the first writer's type, kept
