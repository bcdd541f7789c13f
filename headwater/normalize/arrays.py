"""Index and mask arrays for the normalizer, built by Arrow kernels or from buffers, without numpy.

Python values are never handed to ``pa.array`` here without a type: type inference would import
pandas (:mod:`headwater.normalize.pandas_gate`). Each helper replaced a numpy expression and was timed
against it (``bench/numpy_free.py``, docs/benchmarks.md "Footprint"); where numpy stayed clearly faster
(:func:`positions`, :func:`gather`, :func:`mask`), numpy is used when the process has it loaded.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

import pyarrow as pa

from headwater.normalize import pandas_gate
from headwater.normalize.compute import pc


def arange(start: int, stop: int) -> pa.Int64Array:
    """``start, start + 1, ..., stop - 1`` as int64 (numpy's ``arange``)."""
    make = getattr(pa, "arange", None)  # pyarrow 21 and later
    if make is not None:
        return make(start, stop)
    return _arange_by_sum(start, stop)


def _arange_by_sum(start: int, stop: int) -> pa.Int64Array:
    """:func:`arange` for a pyarrow without ``pa.arange``: a running sum of ones."""
    n = max(stop - start, 0)
    ones = pa.Array.from_buffers(pa.int64(), n, [None, pa.py_buffer((1).to_bytes(8, sys.byteorder) * n)])
    return pc.cumulative_sum(ones, start=pandas_gate.scalar(start - 1, pa.int64()))


def zeros(n: int) -> pa.Int64Array:
    """``n`` zeros as int64, from a zero-filled buffer."""
    return pa.Array.from_buffers(pa.int64(), n, [None, pa.py_buffer(bytes(8 * n))])


def full(n: int, value: bool) -> pa.BooleanArray:
    """``n`` copies of ``value`` as a boolean array, from a bitmap."""
    whole, rest = divmod(n, 8)
    bits = (b"\xff" * whole + (bytes(((1 << rest) - 1,)) if rest else b"")) if value else bytes((n + 7) // 8)
    return pa.Array.from_buffers(pa.bool_(), n, [None, pa.py_buffer(bits)])


def int64s(values: Iterable[int]) -> pa.Int64Array:
    """Python ints as an int64 array (typed: no pandas)."""
    return pandas_gate.array(list(values), pa.int64())


def booleans(values: Iterable[bool]) -> pa.BooleanArray:
    """Python bools as a boolean array (typed: no pandas)."""
    return pandas_gate.array(list(values), pa.bool_())


def positions(mask: pa.BooleanArray | pa.ChunkedArray) -> pa.Int64Array:
    """The positions where ``mask`` is true (numpy's ``flatnonzero``; nulls count as false)."""
    if isinstance(mask, pa.ChunkedArray):
        mask = mask.combine_chunks()
    if mask.null_count:
        mask = pc.fill_null(mask, False)
    np = _numpy()
    if np is None:
        return arange(0, len(mask)).filter(mask)
    return _from_numpy(np, np.flatnonzero(_bools_numpy(np, mask)))


def gather(values: pa.Int64Array, indices: pa.Int64Array) -> pa.Int64Array:
    """``values.take(indices)`` for int64 arrays without nulls (numpy's ``values[indices]``)."""
    np = _numpy()
    if np is None:
        return values.take(indices)
    return _from_numpy(np, _int64_numpy(np, values)[_int64_numpy(np, indices)])


def mask(rows: pa.Array, n: int) -> pa.BooleanArray:
    """A boolean array of length ``n``, true at ``rows`` (numpy's ``m = zeros(n, bool); m[rows] = True``)."""
    if len(rows) == 0:
        return full(n, False)
    rows = rows.cast(pa.int64())
    np = _numpy()
    if np is not None:
        out = np.zeros(n, dtype=bool)
        out[_int64_numpy(np, rows)] = True
        return pa.Array.from_buffers(pa.bool_(), n, [None, pa.py_buffer(np.packbits(out, bitorder="little"))])
    if hasattr(pc, "scatter"):  # pyarrow 20 and later
        return pc.fill_null(pc.scatter(full(len(rows), True), rows, max_index=n - 1), False)
    return pc.is_in(arange(0, n), value_set=rows)


def count(mask: pa.BooleanArray) -> int:
    """How many values of ``mask`` are true (numpy's ``count_nonzero``)."""
    total = pc.sum(mask).as_py()
    return int(total or 0)


# -- numpy, where it is loaded ---------------------------------------------------------------------
# numpy is no dependency of Headwater, but pyarrow imports it whenever it is installed, and three steps
# are clearly faster with it (positions of true values, gathering int64 values, setting rows of a mask):
# they use it when it is there. Both ways give the same arrays (tests/unit/test_arrays.py compares them).


def _numpy() -> Any:
    """numpy if this process has loaded it (else None: it is never imported here)."""
    return sys.modules.get("numpy")


def _bools_numpy(np: Any, mask: pa.BooleanArray) -> Any:
    """A boolean Arrow array without nulls as a numpy array (from its bitmap: ``to_numpy`` would
    ask for pandas)."""
    bits = np.frombuffer(mask.buffers()[1], dtype=np.uint8)
    return np.unpackbits(bits, count=mask.offset + len(mask), bitorder="little")[mask.offset :].view(bool)


def _int64_numpy(np: Any, arr: pa.Int64Array) -> Any:
    """An int64 Arrow array without nulls as a numpy array, sharing its buffer."""
    return np.frombuffer(arr.buffers()[1], dtype=np.int64, count=arr.offset + len(arr))[arr.offset :]


def _from_numpy(np: Any, values: Any) -> pa.Int64Array:
    """A numpy array of integers as an int64 Arrow array (from its buffer: ``pa.array`` would ask for pandas)."""
    data = np.ascontiguousarray(values, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), len(data), [None, pa.py_buffer(data)])
