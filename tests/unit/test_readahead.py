"""Reading ahead (headwater.sources.sql_database.readahead): every item, in order, made on one thread of its own;
an error after the items made before it; closing early stops the thread and closes the iterator on it."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator

import pytest

from headwater.sources.sql_database.readahead import read_ahead

RUN: contextvars.ContextVar[str] = contextvars.ContextVar("RUN", default="none")


def test_every_item_in_order_made_on_one_other_thread() -> None:
    made_on: set[int] = set()

    def items() -> Iterator[int]:
        for i in range(1000):
            made_on.add(threading.get_ident())
            yield i

    assert list(read_ahead(items)) == list(range(1000))
    assert len(made_on) == 1
    assert threading.get_ident() not in made_on


def test_an_error_arrives_after_the_items_made_before_it() -> None:
    def items() -> Iterator[int]:
        yield from range(5)
        raise ConnectionError("connection reset by peer")

    got: list[int] = []

    def consume() -> None:
        got.extend(read_ahead(items, ahead=3))

    with pytest.raises(ConnectionError, match="reset by peer"):
        consume()
    assert got == [0, 1, 2, 3, 4]


def test_closing_early_stops_the_thread_and_closes_the_iterator_on_it() -> None:
    closed_on: list[int] = []
    made_on: list[int] = []

    def items() -> Iterator[int]:
        made_on.append(threading.get_ident())
        try:
            yield from range(1_000_000)
        finally:
            closed_on.append(threading.get_ident())

    ahead = read_ahead(items, name="hw-read-ahead-test")
    assert [next(ahead) for _ in range(3)] == [0, 1, 2]
    ahead.close()
    assert closed_on == made_on  # closed once, on the thread that made it
    assert not [t for t in threading.enumerate() if t.name == "hw-read-ahead-test"]


def test_the_iterator_runs_in_a_copy_of_the_callers_context() -> None:
    def items() -> Iterator[str]:
        yield RUN.get()

    token = RUN.set("run-1")
    try:
        assert list(read_ahead(items)) == ["run-1"]
    finally:
        RUN.reset(token)


def test_an_error_making_the_iterator_is_raised_too() -> None:
    def make() -> Iterator[int]:
        raise ValueError("no connection")

    with pytest.raises(ValueError, match="no connection"):
        list(read_ahead(make))
