"""Files: ``destination="filesystem:///data/lake"`` or ``hw.destinations.filesystem(url, format=...)``.

Parquet (default), CSV or JSONL, on local disk or any fsspec URL, with a configurable layout and
Hive-style partitions; append and replace; a commit marker per load, written last, so readers that go
through the markers (``pipeline.query``, :meth:`FilesystemClient.files`) never see half a load. See
:mod:`headwater.destinations.filesystem.client` and docs/destinations.md.
"""

from __future__ import annotations

from headwater._callable_module import make_callable
from headwater.destinations.filesystem.client import FilesystemClient
from headwater.destinations.filesystem.destination import FilesystemDestination

__all__ = ["FilesystemClient", "FilesystemDestination"]


make_callable(__name__, FilesystemDestination)  # hw.<package>(...) calls FilesystemDestination
