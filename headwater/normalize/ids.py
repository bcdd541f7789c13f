"""Row identifiers and constant columns, generated vectorized.

A row id is a UUID (version 8, the "custom" layout of RFC 9562): 60 random bits shared by a batch
(from the operating system's random source), then the row's position in the batch. Ids are unique
within a batch by construction and across batches with overwhelming probability (two given batches
collide with probability 2^-60), without coordination between processes or machines. As UUIDs they
take 16 bytes and destinations store them natively (DuckDB and PostgreSQL ``UUID``), which costs a
sixth of what 24-character text ids cost to load.
"""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa

from headwater.normalize import pandas_gate

_MAX_ROWS = 2**62


def row_ids(n: int) -> pa.Array:
    """``n`` fresh row ids as an Arrow ``uuid`` array."""
    if n >= _MAX_ROWS:
        raise ValueError(f"a batch of {n} rows is too large for row ids; lower the batch size")
    raw = np.empty((n, 16), dtype=np.uint8)
    prefix = np.frombuffer(os.urandom(8), dtype=np.uint8).copy()
    prefix[6] = (prefix[6] & 0x0F) | 0x80  # version 8
    raw[:, :8] = prefix
    raw[:, 8:] = np.arange(n, dtype=">u8").view(np.uint8).reshape(n, 8)
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 9562 variant (the counter keeps 62 bits)
    storage = pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), n, [None, pa.py_buffer(raw)])
    return pa.ExtensionArray.from_storage(pa.uuid(), storage)


def constant(value: str, n: int) -> pa.Array:
    """A column of ``n`` copies of ``value`` (dictionary-encoded: one copy in memory)."""
    indices = pa.Array.from_buffers(pa.int32(), n, [None, pa.py_buffer(np.zeros(n, dtype=np.int32))])
    return pa.DictionaryArray.from_arrays(indices, pandas_gate.array([value], pa.string()))
