"""Packages left waiting: stale partial packages, partial packages loaded late, packages the
destination refuses, and ``drop-pending``; on DuckDB and on PostgreSQL, with the same assertions.

The invariants: no row is loaded twice, no row is skipped, ``_hw_state`` never holds two rows with
one version, and every way out an error names works when followed.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import headwater as hw
from headwater.errors import ExtractError, HeadwaterError, StateError
from tests.conftest import env_with_path, rows, scalar

both = pytest.mark.parametrize("destination_kind", ["duckdb", "postgres"], indirect=True)


def shop(resource: str, *, fail_after: int | None = None, total: int = 1500) -> Any:
    """Source ``shop`` with one of its resources (each has a cursor on ``id``); ``a`` fails after
    ``fail_after`` rows when set. (Built with that resource alone: a source runs every root resource,
    selected or not.)"""

    @hw.resource(primary_key="id")
    def a(cursor: Any = hw.incremental("id")) -> Any:
        start = 0 if cursor.start_value is None else cursor.start_value + 1
        for lo in range(start, total, 500):
            if fail_after is not None and lo >= fail_after:
                raise ConnectionError("connection reset by peer")
            yield [{"id": i, "v": f"a{i}"} for i in range(lo, min(lo + 500, total))]

    @hw.resource(primary_key="id")
    def b(cursor: Any = hw.incremental("id")) -> Any:
        yield [{"id": i, "v": f"b{i}"} for i in range(total)]

    @hw.source(name="shop")
    def source() -> Any:
        return a if resource == "a" else b

    return source()


def state_versions(p: Any) -> list[int]:
    return [r[0] for r in rows(p, "SELECT version FROM _hw_state ORDER BY version")]


def assert_versions_unique(p: Any) -> None:
    versions = state_versions(p)
    assert len(versions) == len(set(versions)), f"_hw_state holds a version twice: {versions}"


def command_of(text: str) -> str:
    found = re.search(r"`(headwater [^`]+)`", text)
    assert found, f"no headwater command in: {text}"
    return found.group(1)


def run_cli(command: str, *, answer: str = "y\n") -> subprocess.CompletedProcess[str]:
    argv = shlex.split(command)
    argv[0] = str(Path(sys.executable).parent / "headwater")
    return subprocess.run(argv, input=answer, capture_output=True, text=True, env=env_with_path(), timeout=300)


@both
def test_a_stale_partial_package_is_refused_and_the_way_out_works(make_pipeline: Callable[..., Any]) -> None:
    p = make_pipeline("stale")
    with pytest.raises(ExtractError) as failed:
        p.run(shop("a", fail_after=1000))
    partial_id = p.pending_packages()[0].load_id
    assert "1,000 rows extracted before the failure" in str(failed.value)
    info = p.run(shop("a"))  # the source is fixed
    assert info.table_rows() == {"a": 1500}
    assert info.stale_partial == [partial_id] and "is stale" in str(info)

    with pytest.raises(StateError) as refused:
        p.load(include_partial=True)
    text = str(refused.value)
    assert "stale" in text and partial_id in text and "would load rows twice" in text
    assert f"drop-pending stale --load-id {partial_id}" in text
    assert scalar(p, "SELECT count(*) FROM a") == 1500
    assert_versions_unique(p)

    done = run_cli(command_of(text))
    assert done.returncode == 0, done.stderr
    assert f"dropped {partial_id}" in done.stdout
    assert p.pending_packages() == []
    assert p.load(include_partial=True).loads == []
    assert p.run(shop("a")).table_rows() == {}
    assert scalar(p, "SELECT count(*) FROM a") == scalar(p, "SELECT count(DISTINCT id) FROM a") == 1500
    assert_versions_unique(p)


@both
def test_a_partial_package_loaded_after_other_loads_commits_a_new_version(make_pipeline: Callable[..., Any]) -> None:
    """Resource ``a`` fails (a partial package of ids 0-999); resource ``b`` of the same source loads
    twice since. The partial package is not stale (nothing extracted ``a`` again): it loads, its
    state is committed as a new version on top of ``b``'s, and both cursors hold."""
    p = make_pipeline("late")
    with pytest.raises(ExtractError):
        p.run(shop("a", fail_after=1000))
    p.run(shop("b", total=300))
    p.run(shop("b", total=400))
    assert scalar(p, "SELECT count(*) FROM b") == 400
    before = state_versions(p)

    info = p.load(include_partial=True)
    assert info.table_rows() == {"a": 1000}
    assert info.kept_partial == []
    versions = state_versions(p)
    assert_versions_unique(p)
    assert versions[-1] == max(before) + 1
    # both cursors hold: a continues after 999, b after 399
    assert p.run(shop("a")).table_rows() == {"a": 500}
    assert p.run(shop("b", total=400)).table_rows() == {}
    assert scalar(p, "SELECT count(*) FROM a") == scalar(p, "SELECT count(DISTINCT id) FROM a") == 1500
    assert scalar(p, "SELECT count(*) FROM b") == 400
    assert_versions_unique(p)


@both
def test_a_partial_package_loaded_right_away_keeps_its_own_version(make_pipeline: Callable[..., Any]) -> None:
    p = make_pipeline("right_away")
    p.run(shop("b", total=100))
    with pytest.raises(ExtractError):
        p.run(shop("a", fail_after=500))
    assert p.load(include_partial=True).table_rows() == {"a": 500}
    assert state_versions(p) == [1, 2]
    assert p.run(shop("a", total=700)).table_rows() == {"a": 200}
    assert scalar(p, "SELECT count(DISTINCT id) FROM a") == scalar(p, "SELECT count(*) FROM a") == 700


@both
def test_failed_runs_leave_partial_packages_that_drop_pending_removes(make_pipeline: Callable[..., Any]) -> None:
    p = make_pipeline("piles")
    for _ in range(3):
        with pytest.raises(ExtractError):
            p.run(shop("a", fail_after=500))
    partial = [x.load_id for x in p.pending_packages()]
    assert len(partial) == 3
    # the two older ones are stale already: the newest extracted their rows again
    with pytest.raises(StateError, match="stale"):
        p.load(include_partial=True)
    assert p.drop_pending(partial[:2]) == partial[:2]
    assert p.load(include_partial=True).table_rows() == {"a": 500}
    assert p.drop_pending() == []
    assert p.run(shop("a")).table_rows() == {"a": 1000}
    assert scalar(p, "SELECT count(DISTINCT id) FROM a") == scalar(p, "SELECT count(*) FROM a") == 1500
    assert_versions_unique(p)


@both
def test_a_package_the_destination_refuses_names_the_way_out_and_it_works(
    make_pipeline: Callable[..., Any], destination_kind: str
) -> None:
    """Another writer constrained the table (a CHECK the data breaks): the load fails, and every
    later run would try that package first. The error names ``drop-pending``; following it, and
    fixing the source, the next run loads the fixed rows, with the cursor where the destination
    had it (nothing skipped)."""
    data = [{"id": i, "qty": 1} for i in range(10)]

    @hw.resource(primary_key="id", name="orders")
    def orders(cursor: Any = hw.incremental("id")) -> Any:
        yield [r for r in data if cursor.start_value is None or r["id"] > cursor.start_value]

    p = make_pipeline("refused")
    p.run(orders())
    with p._client() as client:  # another writer adds a constraint the next rows break
        ref = client.qualified("orders")
        client.begin()
        if destination_kind == "postgres":
            client.execute(f"ALTER TABLE {ref} ADD CONSTRAINT qty_positive CHECK (qty > 0)")
        else:  # DuckDB cannot add a constraint to a table: the other writer rebuilds it with one
            columns = client.read_columns()[client.ident("orders")]
            ddl = ", ".join(f'"{c}" {t}' + (" CHECK (qty > 0)" if c == "qty" else "") for c, t in columns.items())
            old = client.qualified("orders_old")
            client.execute(f"ALTER TABLE {ref} RENAME TO orders_old")
            client.execute(f"CREATE TABLE {ref} ({ddl})")
            client.execute(f"INSERT INTO {ref} SELECT * FROM {old}")
            client.execute(f"DROP TABLE {old}")
        client.commit()
    data.extend({"id": i, "qty": -1} for i in range(10, 15))
    committed = rows(p, "SELECT id, qty FROM orders ORDER BY id")

    for _ in range(2):  # it blocks every later run, even one with nothing new
        with pytest.raises(HeadwaterError) as refused:
            p.run(orders())
        assert rows(p, "SELECT id, qty FROM orders ORDER BY id") == committed
    text = str(refused.value)
    (blocked,) = [x.load_id for x in p.pending_packages()]
    assert f"drop-pending refused --load-id {blocked}" in text

    for r in data[10:]:
        r["qty"] = 2  # the source is fixed
    done = run_cli(command_of(text))
    assert done.returncode == 0, done.stderr
    info = p.run(orders())
    assert info.table_rows() == {"orders": 5}
    assert rows(p, "SELECT id, qty FROM orders ORDER BY id") == committed + [(i, 2) for i in range(10, 15)]
    assert_versions_unique(p)


@both
def test_drop_pending_refuses_to_break_newer_packages(make_pipeline: Callable[..., Any]) -> None:
    """A normalized package continues the cursors of the one before it: dropping only the older
    one would skip its rows for good, so the error names the command that drops both."""
    p = make_pipeline("chain")
    first = p.extract(shop("a", total=100))
    second = p.extract(shop("a", total=200))
    assert first and second
    with pytest.raises(StateError, match="continue its") as refused:
        p.drop_pending(first)
    assert f"--load-id {first} --load-id {second}" in str(refused.value)
    typo = first[:-2] + ("8Z" if first[-2] == "9" else "9Z")  # a load id one digit off
    with pytest.raises(StateError, match="did you mean"):
        p.drop_pending(typo)
    assert sorted(p.drop_pending([first, second])) == [first, second]
    # the local state went back with them: the next run extracts every row again
    assert p.run(shop("a", total=200)).table_rows() == {"a": 200}


class _QuotaError(HeadwaterError):
    """An error of a plugin's own, with an attribute its handlers read."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


@pytest.mark.parametrize(
    "failure",
    [
        _QuotaError("quota exhausted", retry_after=30.0, endpoint="/items"),
        StateError("cursor gone backwards", hint="reset the state", resource="a"),
        ExtractError("the API said 500"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_the_error_that_keeps_a_partial_package_is_the_same_error_with_its_attributes(
    make_pipeline: Callable[..., Any], failure: HeadwaterError
) -> None:
    @hw.resource
    def items() -> Any:
        yield [{"id": 1}, {"id": 2}]
        raise failure

    p = make_pipeline("kept")
    with pytest.raises(type(failure)) as raised:
        p.run(items())
    error = raised.value
    assert "2 rows extracted before the failure are kept" in str(error) and error.__cause__ is failure
    assert error.message.startswith(failure.message) and error.where["package_path"]
    for key, value in vars(failure).items():  # every attribute of the error as raised, where included
        if key not in ("message", "hint", "where"):
            assert getattr(error, key) == value, key
    if failure.hint:
        assert error.hint and error.hint.startswith(failure.hint)


@pytest.mark.parametrize("after", [0, 2], ids=["before its first row", "after two rows"])
def test_a_resource_failure_says_what_was_kept_and_hints_once(make_pipeline: Callable[..., Any], after: int) -> None:
    """No rows: nothing kept, and the error claims nothing; rows: the partial package, named once."""

    @hw.resource
    def items() -> Any:
        yield [{"id": i} for i in range(after)]
        raise ConnectionError("connection reset by peer")

    p = make_pipeline("told")
    with pytest.raises(ExtractError) as raised:
        p.run(items())
    text = str(raised.value)
    assert "ConnectionError: connection reset by peer" in text and text.count("hint:") == 1
    if after:
        assert f"{after} rows extracted before the failure are kept in the partial package" in text
        assert "include_partial=True" in (raised.value.hint or "")
    else:  # nothing was extracted: nothing is said to be kept (the old hint said "the rows ... are kept")
        assert "kept" not in text and raised.value.hint == "fix the cause and run again"
