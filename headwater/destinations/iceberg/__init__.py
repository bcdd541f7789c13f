"""Apache Iceberg: ``destination="iceberg"`` (a local warehouse ``./<pipeline>.iceberg`` with a SQLite
catalog in it), ``iceberg:///abs/warehouse`` or ``iceberg:rel/warehouse``; in code
``hw.destinations.iceberg(warehouse, catalog=..., catalog_properties=..., partition_by=..., namespace=...)``
for a REST catalog (or any catalog pyiceberg knows) and partitioned tables.

The dataset is an Iceberg namespace. Every table write is one catalog commit whose snapshots carry
the load id; the load is recorded last in ``_hw_loads`` (see :mod:`headwater.destinations.lake`).
Needs the ``iceberg`` extra (``pip install 'headwater[iceberg]'``).
"""

from __future__ import annotations

from headwater._callable_module import make_callable
from headwater.destinations.iceberg.client import IcebergClient
from headwater.destinations.iceberg.destination import IcebergDestination
from headwater.destinations.iceberg.partitions import parse_partition

__all__ = ["IcebergClient", "IcebergDestination", "parse_partition"]


make_callable(__name__, IcebergDestination)  # hw.<package>(...) calls IcebergDestination
