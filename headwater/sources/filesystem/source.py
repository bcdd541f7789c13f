"""``filesystem(url, glob, format)``: a source with one stream per file pattern.

::

    source = hw.sources.filesystem("data/", glob="flights/*.csv.gz", null_values=["NA", ""])
    source = hw.sources.filesystem("s3://bucket/exports", streams={"orders": "orders/*.parquet",
                                                                     "events": "events/**/*.jsonl"})

Each run reads only the files that are new or changed since the last run (by modification time and
size), and remembers them in the stream's state, committed with the rows. See docs/filesystem.md.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import os
import re
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Unpack

import pyarrow as pa

from headwater.errors import ConfigError, SourceError, unknown_argument
from headwater.normalize.arrays import arange, zeros
from headwater.observe import metrics
from headwater.observe.access import record_access
from headwater.schema.hints import HintArgs, build_hints
from headwater.schema.state import current, state
from headwater.sources.filesystem.files import FileEntry, Location, list_files, locate
from headwater.sources.filesystem.formats import CsvOptions, check_format, check_null_values, read_file
from headwater.sources.hints import StreamHints
from headwater.streams.resource import Resource
from headwater.streams.source import Source

log = logging.getLogger("headwater.filesystem")

DEFAULT_CHUNK_SIZE: Final = 100_000
HINT_KEYS: Final = tuple(k for k in HintArgs.__annotations__ if k != "incremental")
FILE_NAME: Final = "_file_name"
ROW_NUMBER: Final = "_file_row_number"


@dataclass(frozen=True)
class FileStream:
    """What one stream reads: the files of ``glob`` under ``location``, and how."""

    name: str
    location: Location
    glob: str
    format: str | None
    csv: CsvOptions
    file_name: bool
    row_number: bool
    required: bool
    incremental: bool
    chunk_size: int
    partitions: int = 1

    def read(self, partition: int | None = None) -> Iterator[pa.Table]:
        """The stream's tables: every matching file not read yet (all with ``incremental`` off); with
        ``partition``, only the files of that file set (:func:`file_set`).

        Raises:
            SourceError: no file matches and the stream is ``required``.
        """
        files = list_files(self.location, self.glob)
        if not files:
            where = f"{self.glob!r} under {self.location.url!r}"
            if self.required:
                raise SourceError(
                    f"no file matches {where}",
                    hint="check the url and glob=, or pass required=False to accept an empty folder",
                    resource=self.name,
                    path=self.location.url,
                )
            log.warning("stream %r: no file matches %s; nothing to read", self.name, where)
        seen: dict[str, Any] | None = None
        if self.incremental and current() is not None:  # outside a pipeline, every file is read
            st = state()
            seen = st["files"] = forget_missing(st.get("files") or {}, files)
        figures = metrics.current()
        for entry in files_to_read(files, seen or {}):
            if partition is not None and file_set(entry.path, self.partitions) != partition:
                continue
            yield from self.read_one(entry)
            if seen is not None:
                seen[entry.path] = entry.signature  # after the file's last rows: saved with them
            if figures is not None:
                figures.read(nbytes=entry.size, files=1)  # the file as stored (compressed, if it is)

    def read_one(self, entry: FileEntry) -> Iterator[pa.Table]:
        """The tables of one file, with ``_file_name`` and ``_file_row_number`` when asked for."""
        rows = 0
        try:
            for batch in read_file(self.location, entry, self.format, self.csv, self.chunk_size):
                if batch.num_rows:
                    table = self._with_file_columns(pa.Table.from_batches([batch]), entry, rows)
                    rows += batch.num_rows
                    yield table
        finally:  # a read stopped early (a limit, a failure) is a read too
            record_access("filesystem", url=entry.path, rows=rows, resource=self.name)

    def _with_file_columns(self, table: pa.Table, entry: FileEntry, first: int) -> pa.Table:
        n = table.num_rows
        if self.file_name:
            table = table.append_column(FILE_NAME, pa.array([entry.name], pa.string()).take(zeros(n)))
        if self.row_number:
            table = table.append_column(ROW_NUMBER, arange(first + 1, first + n + 1))
        return table


def file_set(path: str, sets: int) -> int:
    """The file set a file belongs to: a hash of its path, so a file stays in its set whatever else
    is listed (files added while a run reads cannot land in two sets, or in none)."""
    return zlib.crc32(path.encode("utf-8", "surrogatepass")) % sets


# -- incremental state: pure functions of the listing and of what was read -------------------------
def files_to_read(files: Sequence[FileEntry], seen: Mapping[str, Any]) -> list[FileEntry]:
    """The files that are new, or whose signature (mtime, size) changed since they were read."""
    return [f for f in files if list(seen.get(f.path) or ()) != f.signature]


def forget_missing(seen: Mapping[str, Any], files: Sequence[FileEntry]) -> dict[str, Any]:
    """``seen`` without the files that no longer match: the state stays as big as the listing."""
    present = {f.path for f in files}
    return {path: sig for path, sig in seen.items() if path in present}


# -- the source ------------------------------------------------------------------------------------
def filesystem(
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
    partitions: int | None = None,
    **hints: Unpack[StreamHints],
) -> Source:
    """A source that reads the files under ``url`` matching ``glob``, one stream per pattern.

    Args:
        url: a local folder or file, ``file://...``, or any fsspec URL (``s3://bucket/prefix``,
            ``gs://...``, ``memory://...``; needs ``fsspec`` and the filesystem's package).
        glob: the files to read, relative to ``url`` (``**`` crosses folders).
        format: ``csv``, ``tsv``, ``json`` (arrays or lines), ``jsonl`` or ``parquet``; default: by
            extension. ``.gz`` and ``.zst`` files are decompressed.
        name: the stream's (and table's) name; default: derived from ``glob`` (``flights*.csv`` gives
            ``flights``), else from the folder's name.
        streams: ``{stream name: glob}``: one stream per pattern instead of ``glob`` and ``name``.
        source_name: the source's name (the schema of its tables).
        delimiter: the CSV field separator (default ``,``; tab for ``tsv``).
        header: whether CSV files start with a header line (without one, columns are ``f0``, ``f1``...).
        null_values: the CSV strings read as null (default ``""``, ``NA``, ``N/A``, ``NULL``, ``null``).
        encoding: the CSV files' text encoding.
        file_name: add ``_file_name``, the file's path relative to ``url``.
        row_number: add ``_file_row_number``, the row's number in its file (from 1).
        required: fail when no file matches (default: a warning, and no rows).
        incremental: read only files that are new or changed since the last run (default: true,
            except with ``write_disposition="replace"``).
        chunk_size: rows per Arrow batch for JSON and Parquet (CSV is read in blocks of 4 MB).
        partitions: read each stream as this many file sets (by a hash of the path), the partitions
            of its resource, in parallel on the pipeline's executor (docs/scale.md).
        **hints: resource hints for every stream (``write_disposition``, ``primary_key``,
            ``columns``, ``table_name``...).

    Raises:
        ConfigError: a wrong argument, an unknown format, fsspec missing for a URL.
    """
    fmt = check_format(format)
    unknown = sorted(set(hints) - set(HINT_KEYS))
    if unknown:
        own = {p for p in inspect.signature(filesystem).parameters if p != "hints"}
        raise unknown_argument("hw.sources.filesystem", unknown[0], own | set(HINT_KEYS))
    if not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or chunk_size < 1:
        raise ConfigError(f"filesystem: chunk_size must be a positive integer, got {chunk_size!r}")
    if partitions is not None and (isinstance(partitions, bool) or not isinstance(partitions, int) or partitions < 1):
        raise ConfigError(f"filesystem: partitions must be a positive integer (file sets), got {partitions!r}")
    if delimiter is not None and (not isinstance(delimiter, str) or len(delimiter) != 1):
        raise ConfigError(f"filesystem: delimiter must be one character, got {delimiter!r}")
    loc = locate(url)
    patterns = _patterns(loc, glob, name, streams)
    chosen = incremental
    if incremental is None:
        incremental = _disposition(hints.get("write_disposition")) != "replace"
    csv = CsvOptions(delimiter, bool(header), check_null_values(null_values), encoding)
    resources = []
    for stream, pattern in patterns.items():
        spec = FileStream(
            stream,
            loc,
            pattern,
            fmt,
            csv,
            file_name,
            row_number,
            required,
            bool(incremental),
            chunk_size,
            partitions or 1,
        )
        resources.append(_resource(spec, hints, follows_disposition=chosen is None))
    return Source(source_name, resources)


def _disposition(value: Any) -> Any:
    return value.get("disposition") if isinstance(value, Mapping) else value


class FileResource(Resource):
    """A stream of files. Unless ``incremental=`` was given, whether it reads only new files follows
    its write disposition, however the disposition is set (the source's hints, a flow's, or
    ``apply_hints`` later): a ``replace`` reads every file, since reading only new ones would replace
    the table with them, or with nothing."""

    def __init__(self, spec: FileStream, hints: Mapping[str, Any], *, follows_disposition: bool) -> None:
        self.spec = spec
        self.follows_disposition = follows_disposition
        super().__init__(self._function(), name=spec.name, hints=build_hints(resource=spec.name, **hints))
        if spec.partitions > 1:  # file sets are partitions; they share the stream's state of files read
            self.partitions = list(range(spec.partitions))
            self.partition_state = "shared"

    def _function(self) -> Any:
        spec = self.spec

        def read_files(partition: int | None = None) -> Iterator[pa.Table]:
            yield from spec.read(partition)

        read_files.__name__ = read_files.__qualname__ = spec.name
        return read_files

    def apply_hints(self, **hints: Any) -> FileResource:
        """Change the hints (see :meth:`Resource.apply_hints`); a new write disposition decides
        whether only new files are read, unless ``incremental=`` was given to the source."""
        super().apply_hints(**hints)
        if self.follows_disposition and "write_disposition" in hints:
            incremental = self.hints.write_disposition != "replace"
            if incremental != self.spec.incremental:
                self.spec = dataclasses.replace(self.spec, incremental=incremental)
                self._data = self._function()
        return self


def _resource(spec: FileStream, hints: Mapping[str, Any], *, follows_disposition: bool = False) -> Resource:
    return FileResource(spec, hints, follows_disposition=follows_disposition)


def _patterns(loc: Location, glob: str, name: str | None, streams: Mapping[str, str] | None) -> dict[str, str]:
    if streams is not None:
        if name is not None:
            raise ConfigError("filesystem: pass name= (one stream) or streams= (one per glob), not both")
        if not isinstance(streams, Mapping) or not streams:
            raise ConfigError(f"filesystem: streams must be a non-empty {{name: glob}} dict, got {streams!r}")
        for key, pattern in streams.items():
            if not isinstance(key, str) or not key.strip() or not isinstance(pattern, str) or not pattern:
                raise ConfigError(f"filesystem: streams: {key!r} must name a non-empty glob, got {pattern!r}")
        return dict(streams)
    if not isinstance(glob, str) or not glob:
        raise ConfigError(f"filesystem: glob must be a non-empty pattern, got {glob!r}")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ConfigError(f"filesystem: name must be a non-empty string, got {name!r}")
    return {name or stream_name(loc.root, glob): glob}


def stream_name(root: str, glob: str) -> str:
    """A stream name from a glob: its last part's literal stem (``flights_*.csv.gz`` gives
    ``flights``), else its last literal folder, else the URL's last part, else ``files``."""
    for part in reversed([p for p in glob.split("/") if p]):
        stem = re.split(r"[*?\[{]", part, maxsplit=1)[0].split(".", 1)[0].strip("_-. ")
        if stem:
            return stem
    base = root.rstrip("/").rsplit("/", 1)[-1].split(".", 1)[0].strip("_-. ")
    return base or "files"
