"""Delta Lake: ``destination="delta"`` (tables under ``./<pipeline>.delta``), a
``delta:///abs/path`` / ``delta:rel/path`` / ``delta:s3://bucket/prefix`` URI, or
``hw.destinations.delta(location, storage_options=..., partition_by=...)`` in code.

Each table is a Delta table at ``<location>/<dataset>/<table>``, written with ``deltalake``
(delta-rs): one Delta commit per table per load, carrying the load id in its commit metadata, and
a ``_hw_loads`` Delta table recording loads, schemas and state last (see
:mod:`headwater.destinations.lake` and ``docs/delta.md``). Needs the ``delta`` extra
(``pip install 'headwater[delta]'``).
"""

from __future__ import annotations

from headwater._callable_module import make_callable
from headwater.destinations.delta.client import DeltaClient
from headwater.destinations.delta.destination import DeltaDestination

__all__ = ["DeltaClient", "DeltaDestination"]


make_callable(__name__, DeltaDestination)  # hw.destinations.delta(...) calls DeltaDestination
