"""Sources, resources, transformers, steps and concurrency."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

import headwater as hw
from headwater.errors import ConfigError, DataError, ExtractError
from headwater.pipelines.extract import Extractor
from headwater.streams.engine import plan


def collect(resources: list[Any]) -> list[tuple[str, Any]]:
    got: list[tuple[str, Any]] = []
    Extractor(plan(resources), lambda r, item: got.append((r.name, item))).run()
    return got


def test_resource_decorator_and_binding() -> None:
    @hw.resource(table_name="events", write_disposition="replace", primary_key="id")
    def events(start: int = 0, stop: int = 3):
        for i in range(start, stop):
            yield {"id": i}

    assert events.name == "events"
    assert events.hints.write_disposition == "replace"
    assert list(events) == [{"id": 0}, {"id": 1}, {"id": 2}]
    bound = events(5, 7)
    assert list(bound) == [{"id": 5}, {"id": 6}]
    assert list(events) == [{"id": 0}, {"id": 1}, {"id": 2}]  # the definition is unchanged


def test_resource_from_data_and_plain_decorator() -> None:
    r = hw.resource([{"a": 1}, {"a": 2}], name="numbers")
    assert list(r) == [[{"a": 1}, {"a": 2}]]  # a list is one item: a page of rows

    @hw.resource
    def plain():
        yield 1

    assert plain.name == "plain"


def test_resource_needing_arguments_says_so() -> None:
    @hw.resource
    def needs(token: str):
        yield {"t": token}

    with pytest.raises(ConfigError, match=r"needs arguments \(token\): call it"):
        list(needs)


def test_maps_filters_and_limits_apply_in_order_and_to_rows_in_pages() -> None:
    @hw.resource
    def pages():
        for p in range(100):
            yield [{"n": p * 10 + i} for i in range(10)]

    r = pages().add_filter(lambda row: row["n"] % 2 == 0).add_map(lambda row: {**row, "half": row["n"] // 2})
    r.add_limit(3)
    items = list(r)
    assert len(items) == 3
    assert items[0][:2] == [{"n": 0, "half": 0}, {"n": 2, "half": 1}]


def test_limit_stops_an_endless_generator_and_closes_it() -> None:
    closed = threading.Event()

    @hw.resource
    def endless():
        try:
            i = 0
            while True:
                yield {"i": i}
                i += 1
        finally:
            closed.set()

    assert [x["i"] for x in endless().add_limit(5)] == [0, 1, 2, 3, 4]
    assert closed.is_set()


def test_transformer_is_fed_by_its_parent() -> None:
    @hw.resource
    def repos():
        yield [{"name": "a"}, {"name": "b"}]

    @hw.transformer(data_from=repos)
    def issues(page: list[dict[str, Any]]):
        for repo in page:
            yield [{"repo": repo["name"], "n": i} for i in range(2)]

    got = collect([repos, issues])
    assert [name for name, _ in got] == ["repos", "issues", "issues"]
    assert got[1][1] == [{"repo": "a", "n": 0}, {"repo": "a", "n": 1}]


def test_pipe_syntax_and_unlisted_parent_feeds_without_loading() -> None:
    @hw.resource
    def numbers():
        yield from ({"n": i} for i in range(3))

    @hw.transformer
    def doubled(item: dict[str, int], factor: int = 2):
        yield {"n": item["n"] * factor}

    got = collect([numbers | doubled(factor=10)])
    assert got == [("doubled", {"n": 0}), ("doubled", {"n": 10}), ("doubled", {"n": 20})]


def test_source_groups_resources_and_selects() -> None:
    @hw.resource
    def a():
        yield {"x": 1}

    @hw.resource
    def b():
        yield {"y": 2}

    @hw.source(max_nesting=2)
    def src(flag: bool = True):
        return [a, b]

    s = src()
    assert s.name == "src" and list(s.resources) == ["a", "b"] and s.max_nesting == 2
    assert s.a is s.resources["a"]
    only_b = s.with_resources("b")
    assert [r.name for r in only_b.selected_resources] == ["b"]
    with pytest.raises(ConfigError, match="no resource"):
        s.with_resources("c")


def test_source_rejects_duplicates_and_non_resources() -> None:
    @hw.resource(name="same")
    def one():
        yield 1

    @hw.resource(name="same")
    def two():
        yield 2

    @hw.source
    def dup():
        return [one, two]

    with pytest.raises(ConfigError, match="two resources named 'same'"):
        dup()

    @hw.source
    def bad():
        return [1, 2]

    with pytest.raises(ConfigError, match="not a resource"):
        bad()


def test_independent_resources_run_concurrently() -> None:
    """Two slow resources overlap: each waits for the other to have started before it finishes."""
    started = {"a": threading.Event(), "b": threading.Event()}

    def slow(name: str, other: str):
        def gen():
            started[name].set()
            assert started[other].wait(timeout=10), f"{other} never started while {name} ran"
            yield {"from": name}

        return hw.resource(gen, name=name)

    got = collect([slow("a", "b"), slow("b", "a")])
    assert sorted(name for name, _ in got) == ["a", "b"]


def test_async_generators_run_concurrently_on_one_loop() -> None:
    order: list[str] = []

    @hw.resource
    async def first():
        for i in range(3):
            order.append(f"first{i}")
            await asyncio.sleep(0.01)
            yield {"i": i}

    @hw.resource
    async def second():
        for i in range(3):
            order.append(f"second{i}")
            await asyncio.sleep(0.01)
            yield {"i": i}

    got = collect([first, second])
    assert len(got) == 6
    # interleaved, not one after the other
    assert order.index("second0") < order.index("first2")


def test_a_failing_resource_does_not_lose_items_of_the_others() -> None:
    @hw.resource
    def good():
        for i in range(1000):
            yield {"i": i}
            if i % 100 == 0:
                time.sleep(0.001)

    @hw.resource
    def bad():
        yield {"ok": 1}
        raise RuntimeError("connection dropped")

    got: list[tuple[str, Any]] = []
    with pytest.raises(ExtractError) as err:
        Extractor(plan([good, bad]), lambda r, item: got.append((r.name, item))).run()
    assert "resource 'bad' failed: RuntimeError: connection dropped" in str(err.value)
    assert err.value.resource == "bad"
    assert ("bad", {"ok": 1}) in got


def test_map_failure_names_the_resource() -> None:
    r = hw.resource([{"a": 1}], name="rows").add_map(lambda row: row["missing"])
    with pytest.raises(DataError, match="resource='rows'"):
        collect([r])


def test_transformer_without_parent_is_a_config_error() -> None:
    @hw.transformer
    def orphan(item: Any):
        yield item

    with pytest.raises(ConfigError, match="has no parent"):
        collect([orphan])


@pytest.mark.parametrize("parent_is_async", [False, True])
def test_async_transformers_under_sync_and_async_parents(parent_is_async: bool) -> None:
    if parent_is_async:

        @hw.resource
        async def numbers():
            for i in range(3):
                yield {"n": i}

    else:

        @hw.resource
        def numbers():
            for i in range(3):
                yield {"n": i}

    @hw.transformer(data_from=numbers)
    async def doubled(item):
        await asyncio.sleep(0)
        yield {"n": item["n"], "twice": item["n"] * 2}
        yield {"n": item["n"], "twice": item["n"] * 2 + 100}

    @hw.transformer(data_from=doubled)
    def labelled(item):
        yield {"label": f"{item['n']}:{item['twice']}"}

    got = collect([numbers, doubled, labelled])
    assert [item["twice"] for name, item in got if name == "doubled"] == [0, 100, 2, 102, 4, 104]
    assert [item["label"] for name, item in got if name == "labelled"][:2] == ["0:0", "0:100"]
    assert len([1 for name, _ in got if name == "numbers"]) == 3
    # and iterating a transformer directly, outside a pipeline
    assert [item["twice"] for item in doubled] == [0, 100, 2, 102, 4, 104]


def test_a_coroutine_function_as_transformer_says_what_to_do() -> None:
    @hw.resource
    def numbers():
        yield {"n": 1}

    @hw.transformer(data_from=numbers)
    async def not_a_generator(item):
        return item

    with pytest.raises(ConfigError, match="coroutine function: make it a generator"):
        collect([numbers, not_a_generator])
