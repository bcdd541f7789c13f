"""The numpy-free kernels (headwater/normalize/arrays.py and the steps built on them) give what the numpy
code they replaced gave, on random inputs; the steps that use numpy when it is loaded give the same
arrays both ways (docs/benchmarks.md, "Footprint")."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.destinations.lake.arrow import uuid_text
from headwater.normalize import arrays
from headwater.normalize.flatten import list_positions
from headwater.normalize.ids import row_ids


@contextmanager
def without_numpy() -> Iterator[None]:
    """arrays' numpy-when-loaded steps take their Arrow way, as in a process without numpy."""
    saved = arrays._numpy
    arrays._numpy = lambda: None  # type: ignore[assignment]
    try:
        yield
    finally:
        arrays._numpy = saved  # type: ignore[assignment]


def both(fn: Any, *args: Any) -> list[Any]:
    """``fn(*args)`` with numpy and without, as Python values."""
    with_numpy = fn(*args).to_pylist()
    with without_numpy():
        assert fn(*args).to_pylist() == with_numpy
    return with_numpy


bools = st.lists(st.one_of(st.booleans(), st.none()), max_size=300)


@settings(max_examples=200, derandomize=True, deadline=None)
@given(values=bools, cut=st.integers(0, 20))
def test_positions_are_numpys_flatnonzero(values: list[bool | None], cut: int) -> None:
    arr = pa.array(values, pa.bool_()).slice(min(cut, len(values)))
    want = np.flatnonzero(np.array([bool(v) for v in values[min(cut, len(values)) :]], dtype=bool)).tolist()
    assert both(arrays.positions, arr) == want


@settings(max_examples=200, derandomize=True, deadline=None)
@given(n=st.integers(0, 300), data=st.data())
def test_mask_sets_the_rows_as_numpy_does(n: int, data: Any) -> None:
    rows = data.draw(st.lists(st.integers(0, n - 1), max_size=2 * n)) if n else []
    want = np.zeros(n, dtype=bool)
    want[np.array(rows, dtype=np.int64)] = True
    assert both(arrays.mask, arrays.int64s(rows), n) == want.tolist()


@settings(max_examples=100, derandomize=True, deadline=None)
@given(
    values=st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=50), data=st.data(), cut=st.integers(0, 3)
)
def test_gather_is_numpys_fancy_indexing(values: list[int], data: Any, cut: int) -> None:
    indices = data.draw(st.lists(st.integers(0, len(values) - 1), max_size=100))
    source = arrays.int64s([0] * cut + values).slice(cut)
    taken = arrays.int64s([0] * cut + indices).slice(cut)
    want = np.array(values, dtype=np.int64)[np.array(indices, dtype=np.int64)].tolist()
    assert both(arrays.gather, source, taken) == want


@settings(max_examples=100, derandomize=True, deadline=None)
@given(start=st.integers(-(2**40), 2**40), length=st.integers(0, 2000))
def test_arange_and_its_fallback_are_numpys(start: int, length: int) -> None:
    want = np.arange(start, start + length, dtype=np.int64).tolist()
    assert arrays.arange(start, start + length).to_pylist() == want
    assert arrays._arange_by_sum(start, start + length).to_pylist() == want


def test_full_count_and_zeros() -> None:
    for n in (0, 1, 7, 8, 9, 100):
        assert arrays.full(n, True).to_pylist() == [True] * n
        assert arrays.full(n, False).to_pylist() == [False] * n
        assert arrays.count(arrays.full(n, True)) == n
        assert arrays.zeros(n).to_pylist() == [0] * n


def numpy_list_positions(arr: pa.Array) -> tuple[list[int], list[int]]:
    """flatten's ``_arrow_list`` before issue 17's footprint change."""
    lengths = pc.fill_null(pc.list_value_length(arr), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    total = int(lengths.sum())
    parent_index = np.repeat(np.arange(len(arr), dtype=np.int64), lengths)
    starts = np.cumsum(lengths) - lengths
    list_idx = np.arange(total, dtype=np.int64) - np.repeat(starts, lengths)
    return parent_index.tolist(), list_idx.tolist()


lists = st.lists(st.one_of(st.none(), st.lists(st.integers(0, 9), max_size=6)), max_size=80)


@settings(max_examples=200, derandomize=True, deadline=None)
@given(values=lists, cut=st.integers(0, 10), large=st.booleans())
def test_list_positions_are_the_numpy_ones(values: list[list[int] | None], cut: int, large: bool) -> None:
    arr = pa.array(values, pa.large_list(pa.int64()) if large else pa.list_(pa.int64()))
    arr = arr.slice(min(cut, len(values)))
    parent_index, list_idx = list_positions(arr)
    assert (parent_index.to_pylist(), list_idx.to_pylist()) == numpy_list_positions(arr)
    assert parent_index.type == list_idx.type == pa.int64()
    assert len(parent_index) == len(pc.list_flatten(arr))


def test_list_positions_skip_values_behind_a_null_list() -> None:
    """A null list may hold values in the child array (Arrow allows it): list_flatten drops them, as do positions."""
    arr = pa.ListArray.from_arrays(
        pa.array([0, 2, 4, 5], pa.int32()), pa.array([1, 2, 3, 4, 5]), mask=pa.array([False, True, False])
    )
    assert pc.list_flatten(arr).to_pylist() == [1, 2, 5]
    parent_index, list_idx = list_positions(arr)
    assert (parent_index.to_pylist(), list_idx.to_pylist()) == numpy_list_positions(arr) == ([0, 0, 2], [0, 1, 0])


def numpy_row_id_bytes(n: int) -> list[bytes]:
    """ids.row_ids' bytes 8 to 15 (the counter and variant) before issue 17's footprint change."""
    raw = np.empty((n, 16), dtype=np.uint8)
    raw[:, 8:] = np.arange(n, dtype=">u8").view(np.uint8).reshape(n, 8)
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    return [bytes(row[8:]) for row in raw]


@pytest.mark.parametrize("n", [0, 1, 255, 256, 257, 65_535, 65_537, 70_001])
def test_row_ids_keep_their_layout(n: int) -> None:
    ids = row_ids(n).to_pylist()
    assert [u.bytes[8:] for u in ids] == numpy_row_id_bytes(n)
    assert all(u.version == 8 and u.variant == uuid.RFC_4122 for u in ids)
    assert len({u.bytes[:8] for u in ids}) <= 1  # one random prefix per batch


@settings(max_examples=100, derandomize=True, deadline=None)
@given(nulls=st.lists(st.booleans(), max_size=60), cut=st.integers(0, 5), binary=st.booleans())
def test_uuid_text_is_the_canonical_form(nulls: list[bool], cut: int, binary: bool) -> None:
    values = [None if null else os.urandom(16) for null in nulls]
    storage = pa.array(values, pa.binary(16))
    arr = storage if binary else pa.ExtensionArray.from_storage(pa.uuid(), storage)
    arr = arr.slice(min(cut, len(values)))
    want = [None if v is None else str(uuid.UUID(bytes=v)) for v in values[min(cut, len(values)) :]]
    assert uuid_text(arr).to_pylist() == want
    assert uuid_text(pa.chunked_array([arr, arr], arr.type)).to_pylist() == want * 2
