"""The Delta Lake destination's configuration: location, storage options, partitions, URIs.

The client that writes the tables is :class:`~headwater.destinations.delta.client.DeltaClient`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlencode, urlsplit
from urllib.request import url2pathname

from headwater import names
from headwater.destinations.lake.partitions import decode_partitions, encode_partitions
from headwater.destinations.protocol import Capabilities
from headwater.errors import ConfigError
from headwater.redact import is_secret_name, redact_url, register, url_secrets

if TYPE_CHECKING:
    from headwater.destinations.delta.client import DeltaClient

CAPABILITIES = Capabilities(
    name="delta",
    transactional=False,
    write_dispositions=frozenset({"append", "replace", "merge"}),
    type_widening=frozenset(),  # Delta cannot change a column's type: a changed type becomes a variant column
    # merges by primary key only (see lake.Merge): refused before extraction otherwise
    merge_strategies=frozenset({"delete-insert", "upsert"}),
    merge_key=False,
    needs_primary_key=True,
    run_history=True,
)


def split_location(location: str) -> tuple[str, bool]:
    """``(location, remote)``: a ``file://`` URL becomes a local path; ``scheme://...`` is remote."""
    if location.startswith("file://"):
        return url2pathname(urlsplit(location).path), False
    scheme = location.split("://", 1)[0] if "://" in location else ""
    return location, len(scheme) > 1  # "C://x" is a Windows drive, not a scheme


def safe_location(location: str) -> str:
    """The location as shown to people: no password in the URL, no query string (SAS tokens...)."""
    if len(urlsplit(location).scheme) <= 1:
        return location
    return redact_url(location).split("?", 1)[0]  # the password is masked first: a "?" in it is gone


class DeltaDestination:
    """Delta tables at ``<location>/<dataset>/<table>``.

    Args:
        location: a local folder (default ``<pipeline name>.delta`` in the current folder) or an
            object-store URL deltalake understands (``s3://bucket/prefix``, ``gs://...``, ``az://...``).
        storage_options: passed to deltalake as they are (credentials, region, endpoint...); never
            shown in messages, ``describe()`` or ``to_uri()``.
        partition_by: ``{"table": ["column", ...]}``: partition these tables by these columns when
            they are created (an existing table keeps its layout).
    """

    name = "delta"
    capabilities = CAPABILITIES

    def __init__(
        self,
        location: str | os.PathLike[str] | None = None,
        *,
        storage_options: Mapping[str, str] | None = None,
        partition_by: Mapping[str, Sequence[str] | str] | None = None,
    ) -> None:
        self.location: str | None = None
        self.remote = False
        if location is not None:
            text = os.fspath(location)
            if not text:
                raise ConfigError("the Delta Lake location is empty", hint="pass a folder or a URL such as s3://b/p")
            self.location, self.remote = split_location(text)
        if storage_options is not None and not isinstance(storage_options, Mapping):
            raise ConfigError("storage_options must be a mapping of option names to values")
        self.storage_options = {str(k): str(v) for k, v in (storage_options or {}).items()}
        register(*(v for k, v in self.storage_options.items() if is_secret_name(k)), *url_secrets(self.location or ""))
        self.partition_by: dict[str, list[str]] = {}
        if partition_by is not None:
            if not isinstance(partition_by, Mapping):
                raise ConfigError(
                    f"partition_by must map table names to column lists, got {partition_by!r}",
                    hint='e.g. partition_by={"events": ["day"]}',
                )
            for table, columns in partition_by.items():
                cols = [columns] if isinstance(columns, str) else list(columns)
                if not cols or not all(isinstance(c, str) and c for c in cols):
                    raise ConfigError(f"partition_by[{table!r}] must be a list of column names, got {columns!r}")
                self.partition_by[str(table)] = cols

    @classmethod
    def from_uri(cls, uri: str) -> DeltaDestination:
        """``delta:///abs/path``, ``delta:rel/path`` or ``delta:s3://bucket/prefix``, optionally with
        ``?partition_by=events:day,kind`` (``;`` between tables)."""
        rest, _, query = uri[len("delta:") :].partition("?")
        partition_by: dict[str, list[str]] | None = None
        for key, values in parse_qs(query, keep_blank_values=True).items():
            if key != "partition_by":
                raise ConfigError(
                    f"unknown option {key!r} in the Delta Lake URI {uri!r}",
                    hint="the only option is partition_by (credentials go in storage_options)",
                )
            partition_by = decode_partitions(values[-1])
        if rest.startswith("//"):
            rest = rest[2:]
            if rest.startswith("//"):  # delta:////abs, the SQLAlchemy spelling of an absolute path
                rest = rest[1:]
        if not rest or rest == "/":
            raise ConfigError(f"the Delta Lake URI {uri!r} names no location", hint="e.g. delta:///data/lake")
        return cls(rest, partition_by=partition_by)

    def for_pipeline(self, pipeline_name: str) -> DeltaDestination:
        """This destination, or one writing to ``<pipeline_name>.delta`` when no location was given."""
        if self.location is not None:
            return self
        return DeltaDestination(
            f"{pipeline_name}.delta", storage_options=self.storage_options, partition_by=self.partition_by
        )

    def shown_location(self) -> str:
        """The location for messages: absolute if local, without credentials if remote; ``?`` if unset."""
        if self.location is None:
            return "?"
        return safe_location(self.location) if self.remote else os.path.abspath(self.location)

    def to_uri(self) -> str | None:
        """``delta:///abs/path`` or ``delta:s3://...`` (with ``?partition_by=...``), or None when the
        destination needs storage options: they hold secrets, and are never written down."""
        if self.location is None or self.storage_options:
            return None
        base = f"delta:{self.shown_location()}" if self.remote else f"delta://{self.shown_location()}"
        if not self.partition_by:
            return base
        return f"{base}?{urlencode({'partition_by': encode_partitions(self.partition_by)})}"

    def describe(self) -> str:
        """Where the data goes, for humans, without secrets."""
        return f"delta ({self.shown_location()})"

    def dataset_uri(self, dataset: str) -> str:
        """The location of dataset ``dataset``: a folder (or prefix) under the destination's location.

        Raises:
            ConfigError: the destination has no location.
        """
        if self.location is None:
            raise ConfigError("the Delta Lake destination has no location", hint="pass one, or use it in a pipeline")
        dataset = names.dataset_name(dataset)  # it names a folder
        if self.remote:
            return f"{self.location.rstrip('/')}/{dataset}"
        return os.path.join(os.path.abspath(self.location), dataset)

    def client(self, dataset: str) -> DeltaClient:
        """Open a client on ``dataset``."""
        from headwater.destinations.delta.client import DeltaClient

        return DeltaClient(self, dataset)

    def __repr__(self) -> str:
        return f"<DeltaDestination {self.describe()}>"
