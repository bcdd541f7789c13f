"""Row identifiers and constant columns, generated vectorized.

A row id is 24 hexadecimal characters: 16 random ones shared by a batch (64 bits from the operating
system's random source), then the row's position in the batch. Ids are unique within a batch by
construction and across batches with overwhelming probability (two batches collide with probability
2^-64), without any coordination between processes or machines.
"""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_PREFIX = 16
_COUNTER = 8
WIDTH = _PREFIX + _COUNTER


def row_ids(n: int) -> pa.Array:
    """``n`` fresh row ids as a string array."""
    if n >= 16**_COUNTER:
        raise ValueError(f"a batch of {n} rows is too large for row ids; lower the batch size")
    buf = np.empty((n, WIDTH), dtype=np.uint8)
    buf[:, :_PREFIX] = np.frombuffer(os.urandom(_PREFIX // 2).hex().encode("ascii"), dtype=np.uint8)
    counter = np.arange(n, dtype=">u4").view(np.uint8).reshape(n, 4)  # big-endian bytes of the position
    buf[:, _PREFIX::2] = _HEX[counter >> 4]
    buf[:, _PREFIX + 1 :: 2] = _HEX[counter & 0xF]
    offsets = np.arange(0, (n + 1) * WIDTH, WIDTH, dtype=np.int64 if n * WIDTH >= 2**31 else np.int32)
    kind = pa.LargeStringArray if n * WIDTH >= 2**31 else pa.StringArray
    return kind.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(buf))


def constant(value: str, n: int) -> pa.Array:
    """A column of ``n`` copies of ``value`` (dictionary-encoded: one copy in memory)."""
    indices = pa.array(np.zeros(n, dtype=np.int32))
    return pa.DictionaryArray.from_arrays(indices, pa.array([value], type=pa.string()))
