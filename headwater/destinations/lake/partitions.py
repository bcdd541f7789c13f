"""The ``partition_by`` option of a lake destination's URI: ``{table: [spec, ...]}`` as text and back.

``events:day(ts),kind;other:x`` is ``{"events": ["day(ts)", "kind"], "other": ["x"]}``; the specs
themselves (columns, or Iceberg transforms) are checked where tables are created.
"""

from __future__ import annotations

import re


def encode_partitions(partition_by: dict[str, list[str]]) -> str:
    """``{table: [spec, ...]}`` as the ``partition_by`` URI option: ``events:day(ts),kind;other:x``."""
    return ";".join(f"{table}:{','.join(specs)}" for table, specs in partition_by.items())


def decode_partitions(option: str) -> dict[str, list[str]]:
    """The inverse of :func:`encode_partitions` (commas inside a transform, ``bucket(16, id)``, stay)."""
    out: dict[str, list[str]] = {}
    for part in option.split(";"):
        table, _, specs = part.partition(":")
        if table:
            out[table] = [s.strip() for s in re.split(r",(?![^(]*\))", specs) if s.strip()]
    return out
