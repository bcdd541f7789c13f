"""The filesystem destination's configuration: folder or URL, file format, layout, partitions, URIs.

The client that writes the files and the commit markers is
:class:`~headwater.destinations.filesystem.client.FilesystemClient`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode

from headwater import names
from headwater.destinations.lake.partitions import decode_partitions, encode_partitions
from headwater.destinations.protocol import Capabilities
from headwater.errors import ConfigError
from headwater.redact import is_secret_name, redact_url, register, url_secrets

if TYPE_CHECKING:
    from headwater.destinations.filesystem.client import FilesystemClient

FORMATS = {"parquet": "parquet", "csv": "csv", "jsonl": "json"}
EXTENSIONS = {"parquet": "parquet", "csv": "csv", "jsonl": "jsonl"}
DEFAULT_LAYOUT = "{table}/{load_id}.{file_id}.{ext}"
_PLACEHOLDERS = {"table", "load_id", "file_id", "ext"}

CAPABILITIES = Capabilities(
    name="filesystem",
    transactional=False,
    write_dispositions=frozenset({"append", "replace"}),
    run_history=True,
    # every file keeps the types it was written with; readers that union files by name (DuckDB,
    # pyarrow datasets, Spark) widen bigint to double or decimal, decimals, dates to timestamps
)


class FilesystemDestination:
    """Files under a folder or an fsspec URL.

    Args:
        url: a local folder or an fsspec URL (``s3://bucket/path``, ``memory://x``); default
            ``<pipeline name>.files`` in the current folder. Datasets are folders under it.
        format: ``parquet`` (default), ``csv`` or ``jsonl``.
        layout: where a table's files go, relative to the dataset folder; placeholders ``{table}``,
            ``{load_id}``, ``{file_id}`` and ``{ext}`` (``{table}`` and ``{load_id}`` are required).
        partition_by: ``{table: [column, ...]}``: Hive-style folders (``column=value/``) in the order
            given; the partition columns live in the folder names, not in the files.
        compression: passed to DuckDB (``zstd``/``snappy`` for Parquet, ``gzip`` for CSV and JSONL).
        storage_options: passed to ``fsspec.filesystem`` for URLs (credentials; never shown).
    """

    name = "filesystem"
    capabilities = CAPABILITIES

    def __init__(
        self,
        url: str | os.PathLike[str] | None = None,
        *,
        format: str = "parquet",
        layout: str = DEFAULT_LAYOUT,
        partition_by: dict[str, list[str]] | None = None,
        compression: str | None = None,
        storage_options: dict[str, Any] | None = None,
    ) -> None:
        if format not in FORMATS:
            raise ConfigError(
                f"unknown file format {format!r} for the filesystem destination",
                hint=f"use one of: {', '.join(FORMATS)}",
            )
        layout = names.layout(layout)
        fields = set(re.findall(r"{(\w*)}", layout))
        unknown = fields - _PLACEHOLDERS
        if unknown:
            raise ConfigError(
                f"the layout {layout!r} has unknown placeholders: {', '.join(sorted(unknown))}",
                hint=f"placeholders: {', '.join('{' + p + '}' for p in sorted(_PLACEHOLDERS))}",
            )
        if not {"table", "load_id"} <= fields or layout.startswith("/"):
            raise ConfigError(
                f"the layout {layout!r} must be relative and contain {{table}} and {{load_id}}",
                hint=f"e.g. {DEFAULT_LAYOUT!r}",
            )
        self.url = os.fspath(url) if url is not None else None
        self.format = format
        self.layout = layout
        self.partition_by = {k: list(v) for k, v in (partition_by or {}).items()}
        self.compression = compression
        self.storage_options = dict(storage_options or {})
        register(*(str(v) for k, v in self.storage_options.items() if is_secret_name(str(k)) and isinstance(v, str)))
        register(*url_secrets(self.url or ""))

    @classmethod
    def from_uri(cls, uri: str) -> FilesystemDestination:
        """``filesystem:///abs/folder``, ``filesystem:rel/folder`` or ``filesystem:s3://bucket/path``, with
        options as query parameters: ``?format=csv&compression=gzip&layout=...&partition_by=events:day,kind``
        (``;`` between tables)."""
        rest = uri[len("filesystem:") :]
        rest, _, query = rest.partition("?")
        options: dict[str, Any] = {}
        for key, values in parse_qs(query, keep_blank_values=True).items():
            if key not in ("format", "layout", "compression", "partition_by"):
                raise ConfigError(
                    f"unknown option {key!r} in the filesystem URI {uri!r}",
                    hint="options: format, layout, compression, partition_by (credentials go in storage_options)",
                )
            options[key] = values[-1]
        if "partition_by" in options:
            options["partition_by"] = decode_partitions(options["partition_by"])
        if "://" not in rest or rest.startswith("//"):
            rest = rest.removeprefix("//")
        if not rest:
            raise ConfigError(f"the filesystem URI {uri!r} names no folder", hint="e.g. filesystem:///data/lake")
        return cls(rest, **options)

    def _with(self, url: str) -> FilesystemDestination:
        return FilesystemDestination(
            url,
            format=self.format,
            layout=self.layout,
            partition_by=self.partition_by,
            compression=self.compression,
            storage_options=self.storage_options,
        )

    def for_pipeline(self, pipeline_name: str) -> FilesystemDestination:
        """This destination, or one writing to ``<pipeline_name>.files`` when no URL was given."""
        return self if self.url is not None else self._with(f"{pipeline_name}.files")

    @property
    def is_local(self) -> bool:
        """Whether the URL is a local path (or a ``file://`` URL)."""
        return self.url is not None and ("://" not in self.url or self.url.startswith("file://"))

    def root(self) -> str:
        """The base location: an absolute path if local, else the URL without a trailing slash."""
        assert self.url is not None
        if self.is_local:
            return str(Path(self.url.removeprefix("file://")).resolve())
        return self.url.rstrip("/")

    def to_uri(self) -> str | None:
        """A URI that reopens this destination (None when it needs storage options: they hold secrets)."""
        if self.url is None or self.storage_options:
            return None
        options: dict[str, str] = {}
        if self.format != "parquet":
            options["format"] = self.format
        if self.layout != DEFAULT_LAYOUT:
            options["layout"] = self.layout
        if self.compression:
            options["compression"] = self.compression
        if self.partition_by:
            options["partition_by"] = encode_partitions(self.partition_by)
        base = f"filesystem://{self.root()}" if self.is_local else f"filesystem:{self.root()}"
        return f"{base}?{urlencode(options)}" if options else base

    def describe(self) -> str:
        """Where the data goes, for humans, without secrets: the location and the file format."""
        return f"filesystem ({redact_url(self.root()) if self.url else '?'}, {self.format})"

    def client(self, dataset: str) -> FilesystemClient:
        """Open a client on ``dataset``."""
        from headwater.destinations.filesystem.client import FilesystemClient

        return FilesystemClient(self, dataset)

    def __repr__(self) -> str:
        return f"<FilesystemDestination {self.describe()}>"
