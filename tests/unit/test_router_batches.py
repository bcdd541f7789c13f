"""The router cuts a table's rows into batches at ``batch_size`` rows or ``batch_bytes`` bytes, whichever
comes first; the batches go through the real normalizer, and the tables come out the same however the
rows were cut."""

from __future__ import annotations

import decimal
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import orjson
import pyarrow as pa

import headwater as hw
from headwater.normalize.jsonlines import read_json_rows
from headwater.normalize.normalizer import Normalizer
from headwater.observe.progress import NullProgress
from headwater.pipelines.router import DEFAULT_BATCH_BYTES, SAMPLE_EVERY, ItemRouter
from headwater.schema.hints import build_hints
from headwater.schema.model import Schema
from headwater.schema.types import WIDENINGS
from headwater.streams.resource import Resource

IDS = ["_hw_id", "_hw_parent_id", "_hw_root_id"]  # random per row: left out when tables are compared


def route(
    items: Iterable[Any], *, batch_size: int = 100_000, batch_bytes: int = DEFAULT_BATCH_BYTES
) -> dict[str, list[pa.Table]]:
    """Every item through a router into a real normalizer: the Arrow batches it made, per table."""
    out: dict[str, list[pa.Table]] = defaultdict(list)
    normalizer = Normalizer(Schema("s"), load_id="L1", sink=lambda t, a: out[t].append(a), widening=WIDENINGS)
    router = ItemRouter(normalizer, batch_size=batch_size, batch_bytes=batch_bytes, progress=NullProgress())
    resource = Resource(None, name="records", hints=build_hints(resource="records"))
    for item in items:
        router(resource, item)
    router.flush_all()
    return dict(out)


def whole(batches: dict[str, list[pa.Table]]) -> dict[str, pa.Table]:
    """Each table's batches as one table, without the random ids, its columns in order of name (a column
    first seen in a later batch comes last)."""
    out = {}
    for name, tables in batches.items():
        table = pa.concat_tables(tables, promote_options="default")
        out[name] = table.select(sorted(c for c in table.column_names if c not in IDS))
    return out


def record(i: int, text: int = 1000) -> dict[str, Any]:
    return {"id": i, "text": "x" * text, "labels": [{"name": f"l{i % 3}"}, {"name": "b"}]}


def pages(rows: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


def test_large_rows_are_cut_by_bytes_and_the_tables_stay_the_same() -> None:
    rows = [record(i) for i in range(400)]
    size = len(orjson.dumps(rows[0]))  # about 1,070 bytes, the same for every row within a few digits
    cut = route(pages(rows, 20), batch_bytes=10_000)
    by_rows = route(pages(rows, 20))
    assert len(by_rows["records"]) == 1  # 400 rows: under both default bounds
    assert len(cut["records"]) >= 400 * size // 10_000
    assert max(t.num_rows for t in cut["records"]) * (size - 5) <= 10_000
    assert whole(cut) == whole(by_rows)  # the child table too
    assert sum(t.num_rows for t in cut["records__labels"]) == 800


def test_rows_yielded_one_by_one_are_cut_by_bytes() -> None:
    rows = [record(i, text=2000) for i in range(300)]
    cut = route(rows, batch_bytes=20_000)
    assert {t.num_rows for t in cut["records"][:-1]} == {9}  # 20,000 // 2,07x bytes
    assert whole(cut) == whole(route(rows))


def test_the_row_bound_still_cuts_small_rows() -> None:
    rows = [{"id": i} for i in range(1050)]
    cut = route(pages(rows, 100), batch_size=200)
    assert [t.num_rows for t in cut["records"]] == [200] * 5 + [50]
    assert whole(cut) == whole(route(rows))


def test_batches_shrink_when_the_rows_grow() -> None:
    rows = [record(i, text=10) for i in range(2000)] + [record(i, text=5000) for i in range(2000, 2200)]
    cut = route(pages(rows, 50), batch_bytes=100_000)
    small = cut["records"][0].num_rows
    large = [t.num_rows for t in cut["records"] if pa.compute.min(t["id"]).as_py() >= 2000]
    assert small > 1000 and large and max(large) <= 100_000 // 5000
    # a batch that starts small may take up to SAMPLE_EVERY large rows before a sample sees them
    mixed = [t for t in cut["records"] if pa.compute.min(t["id"]).as_py() < 2000 <= pa.compute.max(t["id"]).as_py()]
    assert all(pa.compute.sum(pa.compute.greater_equal(t["id"], 2000)).as_py() <= SAMPLE_EVERY for t in mixed)
    assert whole(cut) == whole(route(pages(rows, 50)))


def test_rows_json_cannot_hold_are_still_sized() -> None:
    rows = [{"id": i, "price": decimal.Decimal("1.25"), "blob": b"a" * 500} for i in range(100)]
    cut = route(pages(rows, 10), batch_bytes=10_000)  # bytes and decimals are sized as their text
    assert [t.num_rows for t in cut["records"]] == [18] * 5 + [10]  # 10,000 // 540 bytes
    assert whole(cut) == whole(route(pages(rows, 10)))
    deep: Any = "leaf"
    for _ in range(260):  # deeper than orjson serializes (255): sized by its keys
        deep = {"d": deep}
    nested = [{"id": i, "deep": deep} for i in range(3)]
    assert [t.num_rows for t in route([nested], batch_bytes=2 * 64)["records"]] == [1, 1, 1]


def test_arrow_tables_are_sliced_by_bytes() -> None:
    table = pa.table({"id": list(range(1000)), "text": ["y" * 1000] * 1000})
    cut = route([table], batch_bytes=100_000)
    assert len(cut["records"]) >= table.nbytes // 100_000
    assert all(t.num_rows <= 100 for t in cut["records"])
    assert whole(cut) == whole(route([table]))


def test_rows_from_json_lines_are_cut_by_the_bytes_of_their_lines() -> None:
    lines = [orjson.dumps({"id": i, "text": "z" * 1000}) for i in range(200)]
    data = read_json_rows(lines)
    assert data is not None
    hinted = hw.with_hints([], "lines")
    items = [hw.streams.hinted.Hinted(data.slice(i, i + 50), "lines", hinted.hints) for i in range(0, 200, 50)]
    cut = route(items, batch_bytes=20_000)
    assert len(cut["lines"]) >= 200 * len(lines[0]) // 20_000
    assert whole(cut) == whole(route(items))
