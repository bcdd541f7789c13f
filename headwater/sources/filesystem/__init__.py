"""The filesystem source: CSV, TSV, JSON, JSONL and Parquet files (plain, gzip or zstd) as Arrow streams.

``hw.sources.filesystem(url, glob="**/*", format=None, ...)`` returns a source with one stream per
file pattern, read in bulk (pyarrow's streaming CSV reader, DuckDB's ``read_json``, Parquet row
groups) and incrementally: each run reads only new and changed files. Local paths need nothing more;
other URLs (``s3://``, ``gs://``, ``memory://``...) need fsspec. See
:mod:`headwater.sources.filesystem.source` and docs/filesystem.md.
"""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Mapping, Sequence
from typing import Any

from headwater.sources.filesystem.files import FileEntry, Location
from headwater.sources.filesystem.formats import FORMATS
from headwater.sources.filesystem.source import DEFAULT_CHUNK_SIZE, FileStream, filesystem
from headwater.streams.source import Source

__all__ = ["FORMATS", "FileEntry", "FileStream", "Location", "filesystem"]


class _CallableModule(types.ModuleType):
    """Lets ``hw.sources.filesystem(url)`` build a source although ``filesystem`` is also this
    package's name (importing a subpackage rebinds the parent's attribute to the module)."""

    def __call__(
        self,
        url: str | os.PathLike[str],
        glob: str = "**/*",
        format: str | None = None,
        *,
        name: str | None = None,
        streams: Mapping[str, str] | None = None,
        source_name: str = "filesystem",
        delimiter: str | None = None,
        header: bool = True,
        null_values: Sequence[str] | None = None,
        encoding: str = "utf8",
        file_name: bool = False,
        row_number: bool = False,
        required: bool = False,
        incremental: bool | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        **hints: Any,
    ) -> Source:
        return filesystem(
            url,
            glob,
            format,
            name=name,
            streams=streams,
            source_name=source_name,
            delimiter=delimiter,
            header=header,
            null_values=null_values,
            encoding=encoding,
            file_name=file_name,
            row_number=row_number,
            required=required,
            incremental=incremental,
            chunk_size=chunk_size,
            **hints,
        )


sys.modules[__name__].__class__ = _CallableModule
