"""Data-quality checks: each severity on data with known violations, table checks on the table as the
load leaves it, and nothing of a failed load visible."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

import headwater as hw
from headwater.errors import QualityError
from headwater.testing import requires, rows, scalar

ORDERS: list[dict[str, Any]] = [
    {"id": 1, "amount": 10, "status": "paid", "email": "ann@example.org"},
    {"id": 2, "amount": -5, "status": "paid", "email": "bob@example.org"},
    {"id": 3, "amount": 250, "status": "lost", "email": None},
    {"id": 4, "amount": 40, "status": "refund", "email": "cy@example.org"},
    {"id": 5, "amount": None, "status": "paid", "email": "not an address"},
]


def orders(data: list[dict[str, Any]], checks: list[Any], **hints: Any) -> Any:
    return hw.resource([data], name="orders", primary_key="id", checks=checks, **hints)


def checks_of(p: Any, load_id: str) -> dict[str, tuple[Any, ...]]:
    got = rows(
        p,
        "select check_name, severity, checked_rows, failing_rows, passed from _hw_checks "
        f"where load_id = '{load_id}' order by check_name",
    )
    return {r[0]: tuple(r[1:]) for r in got}


def test_each_severity_on_known_violations(make_pipeline: Any) -> None:
    p = make_pipeline("checks_severities")
    info = p.run(
        orders(
            ORDERS,
            [
                hw.checks.between("amount", min=0, max=100, severity="quarantine"),
                hw.checks.not_null("email", severity="warn"),
                {"check": "matches", "column": "email", "pattern": "^[^@ ]+@[^@ ]+$", "severity": "warn"},
                hw.checks.accepted_values("status", ["paid", "refund", "lost"]),
                hw.checks.max_length("status", 6),
                hw.checks.row_count(min=1, max=10),
            ],
        )
    )
    # between quarantined ids 2 and 3; the null amount of id 5 passes (nulls pass all but not_null)
    assert rows(p, "select id from orders order by id") == [(1,), (4,), (5,)]
    got = sorted(rows(p, "select check_name, reason, row, _hw_load_id from _hw_quarantine"), key=lambda g: str(g[2]))
    assert [(g[0], g[3]) for g in got] == [("between(amount)", info.load_id)] * 2
    assert sorted(json.loads(g[2])["id"] for g in got) == [2, 3]
    assert "check 'between(amount)' failed: amount between 0 and 100" in got[0][1]
    assert checks_of(p, info.load_id) == {
        "accepted_values(status)": ("fail", 5, 0, True),
        "between(amount)": ("quarantine", 5, 2, False),
        "matches(email)": ("warn", 5, 1, False),
        "max_length(status)": ("fail", 5, 0, True),
        "not_null(email)": ("warn", 5, 1, False),
        "row_count": ("fail", 3, 0, True),  # the table after the load: the quarantined rows are not in it
    }
    assert {c.check: c.failing for c in info.checks} == {
        "between(amount)": 2,
        "not_null(email)": 1,
        "matches(email)": 1,
        "accepted_values(status)": 0,
        "max_length(status)": 0,
        "row_count": 0,
    }
    sample = json.loads(scalar(p, "select samples from _hw_checks where check_name = 'not_null(email)'"))
    assert sample[0]["id"] == 3


def test_a_failed_check_commits_nothing_and_keeps_the_package(make_pipeline: Any) -> None:
    p = make_pipeline("checks_fail")
    first = p.run(orders(ORDERS[:1], [hw.checks.between("amount", min=0)]))
    with pytest.raises(QualityError) as err:
        p.run(orders(ORDERS[1:], [hw.checks.between("amount", min=0), hw.checks.expression("status <> 'lost'")]))
    text = str(err.value)
    assert "2 data-quality check(s) failed" in text
    assert "'between(amount)'" in text
    assert "1 of 4 rows failed" in text
    assert '"id":2' in text
    assert "'expression'" in text
    assert '"id":3' in text
    assert {r.check: r.failing for r in err.value.results} == {"between(amount)": 1, "expression": 1}
    assert "kept for inspection" in text
    assert rows(p, "select id from orders") == [(1,)]  # nothing of the failed load is visible
    assert scalar(p, "select count(*) from _hw_checks") == 1  # only the first load's check
    assert scalar(p, "select count(*) from _hw_loads") == 1
    [pending] = p.pending_packages()
    assert p.drop_pending(pending.load_id) == [pending.load_id]
    fixed = p.run(orders(ORDERS[3:4], [hw.checks.between("amount", min=0)]))
    assert rows(p, "select id from orders order by id") == [(1,), (4,)]
    assert checks_of(p, fixed.load_id) == {"between(amount)": ("fail", 1, 0, True)}
    assert first.load_id != fixed.load_id


@requires("write_dispositions", "merge")
def test_table_checks_see_the_table_after_a_merge(make_pipeline: Any) -> None:
    p = make_pipeline("checks_merge")
    unique = [hw.checks.unique("email"), hw.checks.row_count(max=2)]
    people = [{"id": 1, "email": "a@x.org"}, {"id": 2, "email": "b@x.org"}]
    p.run(hw.resource([people], name="people", write_disposition="merge", primary_key="id", checks=unique))
    # id 2 takes id 1's address while id 1 moves on: unique in the merged table
    swap = [{"id": 1, "email": "c@x.org"}, {"id": 2, "email": "a@x.org"}]
    ok = p.run(hw.resource([swap], name="people", write_disposition="merge", primary_key="id", checks=unique))
    assert checks_of(p, ok.load_id) == {"row_count": ("fail", 2, 0, True), "unique(email)": ("fail", 2, 0, True)}
    clash = [{"id": 1, "email": "a@x.org"}, {"id": 3, "email": "d@x.org"}]
    with pytest.raises(QualityError) as err:
        p.run(hw.resource([clash], name="people", write_disposition="merge", primary_key="id", checks=unique))
    failed = {r.check: r for r in err.value.results}
    assert failed["unique(email)"].failing == 2
    assert failed["unique(email)"].samples == [{"email": "a@x.org", "rows": 2}]
    assert failed["row_count"].samples == [{"row_count": 3}]
    assert rows(p, "select id, email from people order by id") == [(1, "c@x.org"), (2, "a@x.org")]


def test_assertion_and_freshness(make_pipeline: Any) -> None:
    p = make_pipeline("checks_assert")
    now = dt.datetime.now(dt.UTC)
    events = [
        {"id": 1, "kind": "open", "at": now - dt.timedelta(days=3)},
        {"id": 2, "kind": "close", "at": now - dt.timedelta(hours=1)},
    ]
    checks = [
        hw.checks.assertion("select id from records where kind = 'close' and id < 2", name="closes_after_open"),
        hw.checks.freshness("at", max_age="1d"),
        hw.checks.freshness("at", max_age="2h", severity="warn", name="fresh_2h"),
    ]
    info = p.run(hw.resource([events], name="events", checks=checks))
    assert checks_of(p, info.load_id) == {
        "closes_after_open": ("fail", 2, 0, True),
        "fresh_2h": ("warn", 2, 0, True),
        "freshness(at)": ("fail", 2, 0, True),
    }
    late = [{"id": 0, "kind": "close", "at": now - dt.timedelta(days=9)}]
    with pytest.raises(QualityError) as err:
        p.run(hw.resource([late], name="events", checks=checks))
    [failed] = err.value.results
    assert failed.check == "closes_after_open"
    assert failed.failing == 1
    assert failed.samples[0]["id"] == 0
    assert scalar(p, "select count(*) from events") == 2


def test_row_count_runs_when_a_resource_yields_nothing(make_pipeline: Any) -> None:
    p = make_pipeline("checks_empty")
    p.run(orders(ORDERS[:2], [hw.checks.row_count(min=3, severity="warn")]))
    with pytest.raises(QualityError, match="row_count"):
        p.run(hw.resource([[]], name="fresh_table", checks=[hw.checks.row_count(min=1)]))


def test_a_check_that_cannot_run_fails_the_load_and_says_why(make_pipeline: Any) -> None:
    p = make_pipeline("checks_broken")
    p.run(orders(ORDERS[:1], []))
    broken = [hw.checks.assertion("select * from records where no_such_column > 1", name="broken", severity="warn")]
    with pytest.raises(QualityError) as err:
        p.run(orders(ORDERS[1:3], broken))
    [result] = err.value.results
    assert result.check == "broken"
    assert result.error is not None
    assert "no_such_column" in result.error
    assert "could not run" in str(err.value)
    assert rows(p, "select id from orders") == [(1,)]
    p.drop_pending()
    assert p.run(orders(ORDERS[1:3], [])).table_rows() == {"orders": 2}  # the connection is usable again
