"""The filesystem source: CSV, TSV, JSON, JSONL and Parquet files (plain, gzip or zstd) as Arrow streams.

``hw.sources.filesystem(url, glob="**/*", format=None, ...)`` returns a source with one stream per
file pattern, read in bulk (pyarrow's streaming CSV reader, DuckDB's ``read_json``, Parquet row
groups) and incrementally: each run reads only new and changed files. Local paths need nothing more;
other URLs (``s3://``, ``gs://``, ``memory://``...) need fsspec. See
:mod:`headwater.sources.filesystem.source` and docs/filesystem.md.
"""

from __future__ import annotations

from headwater._callable_module import make_callable
from headwater.sources.filesystem.files import FileEntry, Location
from headwater.sources.filesystem.formats import FORMATS
from headwater.sources.filesystem.source import FileStream, filesystem

__all__ = ["FORMATS", "FileEntry", "FileStream", "Location", "filesystem"]


make_callable(__name__, filesystem)  # hw.<package>(...) calls filesystem
