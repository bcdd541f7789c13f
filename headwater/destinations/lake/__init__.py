"""What the destinations made of table formats and files share (Iceberg, Delta, plain files).

* :mod:`~headwater.destinations.lake.client`: :class:`LakeClient`, the load algorithm (per-table
  commits tagged with the load id, ``_hw_loads`` written last) and the types a format stores;
* :mod:`~headwater.destinations.lake.hooks`: :class:`TableFormat`, the table hooks a format
  implements, and :class:`Delete`;
* :mod:`~headwater.destinations.lake.loads`: the ``_hw_loads`` rows and the commit properties;
* :mod:`~headwater.destinations.lake.arrow`: Arrow types and chunks as table formats store them;
* :mod:`~headwater.destinations.lake.merge_plan`: :class:`LakeMergePlanner`, merges planned in DuckDB;
* :mod:`~headwater.destinations.lake.partitions`: the ``partition_by`` URI option.
"""

from __future__ import annotations

from headwater.destinations.lake.client import LakeClient
from headwater.destinations.lake.hooks import Delete, TableFormat
from headwater.destinations.lake.loads import (
    COMPLETED,
    LOAD_ID_PROPERTY,
    PIPELINE_PROPERTY,
    STATE_ONLY,
    STATE_PROPERTY,
    loads_schema,
)
from headwater.destinations.lake.merge_plan import LakeMergePlanner
from headwater.destinations.lake.partitions import decode_partitions, encode_partitions

__all__ = [
    "COMPLETED",
    "LOAD_ID_PROPERTY",
    "PIPELINE_PROPERTY",
    "STATE_ONLY",
    "STATE_PROPERTY",
    "Delete",
    "LakeClient",
    "LakeMergePlanner",
    "TableFormat",
    "decode_partitions",
    "encode_partitions",
    "loads_schema",
]
