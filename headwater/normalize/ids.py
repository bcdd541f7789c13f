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

import pyarrow as pa

from headwater.normalize import pandas_gate

#: 2^56 rows would take an exbibyte of ids: the counter's top byte (which holds the UUID variant) stays 0
_MAX_ROWS = 2**56
_VARIANT = 0x80  # RFC 9562 variant bits over the counter's top byte (the counter keeps 62 bits)


def row_ids(n: int) -> pa.Array:
    """``n`` fresh row ids as an Arrow ``uuid`` array."""
    if n >= _MAX_ROWS:
        raise ValueError(f"a batch of {n} rows is too large for row ids; lower the batch size")
    prefix = bytearray(os.urandom(8))
    prefix[6] = (prefix[6] & 0x0F) | 0x80  # version 8
    raw = bytearray(bytes(prefix) + bytes((_VARIANT,)) + bytes(7)) * n  # every row: prefix, counter 0
    # the counter, big-endian in bytes 8-15: its byte k (from the low end) is the row number's, which
    # runs through 0..255, each value repeated 256^k times; written into every 16th byte at once
    k = 0
    while 256**k < n:
        run = 256**k
        cycle = b"".join(bytes((v,)) * run for v in range(min(256, -(-n // run))))
        raw[15 - k :: 16] = (cycle * -(-n // len(cycle)))[:n]
        k += 1
    storage = pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), n, [None, pa.py_buffer(raw)])
    return pa.ExtensionArray.from_storage(pa.uuid(), storage)


def constant(value: str, n: int) -> pa.Array:
    """A column of ``n`` copies of ``value`` (dictionary-encoded: one copy in memory)."""
    indices = pa.Array.from_buffers(pa.int32(), n, [None, pa.py_buffer(bytes(4 * n))])
    return pa.DictionaryArray.from_arrays(indices, pandas_gate.array([value], pa.string()))
