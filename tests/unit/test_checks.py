"""Data-quality checks: declared once and checked where declared; row checks agree with a plain oracle."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import headwater as hw
from headwater.errors import ConfigError, DataError
from headwater.normalize.checks import RowChecks
from headwater.schema.checks import parse_check, parse_duration
from headwater.schema.hints import build_hints


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"check": "not_nul", "column": "id"}, "did you mean 'not_null'"),
        ({"check": "not_null", "colum": "id"}, "did you mean 'column'"),
        ({"check": "between", "column": "x"}, "needs min, max or both"),
        ({"check": "accepted_values", "column": "x"}, "needs 'values'"),
        ({"check": "accepted_values", "column": "x", "values": "abc"}, "non-empty list"),
        ({"check": "matches", "column": "x", "pattern": "(unclosed"}, "not a valid regular expression"),
        ({"check": "max_length", "column": "x", "length": -1}, "whole number"),
        ({"check": "unique"}, "needs a column or columns"),
        ({"check": "unique", "column": "x", "severity": "quarantine"}, "cannot quarantine"),
        ({"check": "row_count", "min": 1, "severity": "warnn"}, "did you mean 'warn'"),
        ({"check": "row_count", "min": -1}, "whole numbers >= 0"),
        ({"check": "freshness", "column": "t", "max_age": "soon"}, "must be a duration"),
        ({"check": "expression", "sql": "  "}, "needs SQL text"),
        ({"check": "python", "function": "no.such.module:fn"}, "cannot import the check function"),
        ({"check": "python", "function": "math:pi"}, "needs a function"),
        ("not_null", "must be a check or a table"),
    ],
)
def test_mistakes_are_refused_where_the_check_is_declared(spec: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_check(spec, resource="orders")


def test_checks_hint_names_the_resource_and_refuses_duplicate_names() -> None:
    twice = [hw.checks.not_null("id"), {"check": "not_null", "column": "id"}]
    with pytest.raises(ConfigError) as err:
        hw.resource([{"id": 1}], name="orders", checks=twice)
    assert "two checks are named 'not_null(id)'" in str(err.value)
    assert err.value.where["resource"] == "orders"
    with pytest.raises(ConfigError, match="must be a list of checks"):
        hw.resource([{"id": 1}], name="orders", checks="not_null")


def test_columns_follow_the_naming_convention_and_functions_import_by_path() -> None:
    check = parse_check({"check": "between", "column": "Customer.TotalSpent", "min": 0})
    assert check.column == "customer__total_spent"
    assert check.name == "between(customer__total_spent)"
    fn = parse_check({"check": "python", "function": "numpy:isfinite"})
    assert fn.fn is np.isfinite
    assert parse_duration("36h") == 36 * 3600
    assert parse_duration(dt.timedelta(minutes=5)) == 300
    assert parse_duration(90) == 90


def test_freshness_defaults_to_the_incremental_cursor() -> None:
    hints = build_hints(
        resource="events",
        incremental=hw.incremental("meta.updatedAt"),
        checks=[hw.checks.freshness(max_age="2d")],
    )
    [check] = hints.table_checks
    assert (check.column, check.name, check.max_age) == ("meta__updated_at", "freshness(meta__updated_at)", 172800)
    with pytest.raises(ConfigError, match="freshness needs a column"):
        build_hints(resource="events", checks=[hw.checks.freshness(max_age="2d")])


VALUES = st.lists(st.one_of(st.none(), st.integers(-1000, 1000)), min_size=1, max_size=60)


@settings(max_examples=80, deadline=None)
@given(values=VALUES, low=st.integers(-500, 500), span=st.integers(0, 500), accepted=st.sets(st.integers(-5, 5)))
def test_row_checks_agree_with_a_plain_oracle(
    values: list[int | None], low: int, span: int, accepted: set[int]
) -> None:
    checks = [
        hw.checks.not_null("n"),
        hw.checks.between("n", min=low, max=low + span),
        hw.checks.expression(f"n <> {low}"),
        hw.checks.python(lambda batch: [v is None or v >= 0 for v in batch["n"].to_pylist()], name="non_negative"),
    ]
    if accepted:
        checks.append(hw.checks.accepted_values("n", sorted(accepted)))
    runner = RowChecks()
    try:
        runner.run("t", {"n": pa.array(values, pa.int64())}, len(values), tuple(checks), None)
    finally:
        runner.close()
    got = {name: r.failing for (_, name), r in runner.results.items()}
    present = [v for v in values if v is not None]
    want = {
        "not_null(n)": values.count(None),
        "between(n)": sum(not low <= v <= low + span for v in present),
        "expression": sum(v == low for v in present),
        "non_negative": sum(v < 0 for v in present),
    }
    if accepted:
        want["accepted_values(n)"] = sum(v not in accepted for v in present)
    assert got == want
    assert all(r.checked == len(values) for r in runner.results.values())


def test_text_checks_and_rows_already_set_aside() -> None:
    words = pa.array(["ok", "toolongword", None, "a b", "ünïcode"])
    runner = RowChecks()
    checks = (hw.checks.max_length("w", 7), hw.checks.matches("w", r"^\S+$"))
    skip = pa.array([False, False, False, True, False])
    runner.run("t", {"w": words}, 5, checks, skip)
    runner.drain()  # these count only: they ran on the checks thread
    got = {name: (r.checked, r.failing) for (_, name), r in runner.results.items()}
    assert got == {"max_length(w)": (4, 1), "matches(w)": (4, 0)}  # "a b" was set aside: not counted
    assert runner.results[("t", "max_length(w)")].samples == [{"w": "toolongword"}]


@pytest.mark.parametrize(
    ("check", "message"),
    [
        (hw.checks.python(lambda batch: [True], name="short"), "returned 1 value"),
        (hw.checks.expression("no_such_column > 1"), "could not run on table 't'"),
        (hw.checks.between("n", min="not a number"), "could not run on table 't'"),
    ],
)
def test_a_check_that_cannot_run_says_which_and_why(check: Any, message: str) -> None:
    runner = RowChecks()

    def run_and_wait() -> None:
        runner.run("t", {"n": pa.array([1, 2, 3])}, 3, (check,), None)
        runner.drain()  # a check on the checks thread raises here (or at the next batch)

    with pytest.raises(DataError, match=message):
        run_and_wait()
    runner.close()


def test_checks_on_the_checks_thread_tally_every_batch_in_order() -> None:
    """fail/warn kernel checks run on a thread of their own: many batches (more than its backlog) give
    the counts and the first samples a single pass would; quarantine checks answer at once."""
    runner = RowChecks()
    counting = (hw.checks.between("n", max=9, severity="warn"), hw.checks.not_null("n"))
    held = hw.checks.between("n", min=2, severity="quarantine", name="from_two")
    try:
        for start in range(0, 500, 10):
            batch = pa.array([None if v % 7 == 0 else v for v in range(start, start + 10)], pa.int64())
            answered = runner.run("t", {"n": batch}, 10, (*counting, held), None)
            assert [(c.name, rows.to_pylist()) for c, rows in answered] == ([("from_two", [1])] if start == 0 else [])
        runner.drain()
    finally:
        runner.close()
    nulls = sum(v % 7 == 0 for v in range(500))
    assert runner.results[("t", "not_null(n)")].failing == nulls
    over = runner.results[("t", "between(n)")]
    assert (over.checked, over.failing) == (500, sum(v > 9 and v % 7 != 0 for v in range(500)))
    assert [s["n"] for s in over.samples] == [10, 11, 12, 13, 15]
