"""The destination protocol: small on purpose.

A :class:`Destination` is configuration (cheap to build, no connection, no secrets in ``describe``).
Its :meth:`~Destination.client` opens a :class:`DestinationClient`, which does three things:

* read back the newest stored schema and state (so a new machine keeps column names stable and
  cursors where they were);
* load one package atomically: migrate tables, write every table by its disposition, record the
  load, the schema and the pipeline state, all in one commit; a package whose load id is already
  recorded is not loaded again (a rerun after a crash between the commit and the local bookkeeping);
* close.

A new built-in destination is one folder under ``headwater/destinations/`` and one line in
``headwater.destinations._BUILTIN``; another package's destination is one entry point in the
``headwater.destinations`` group. Nothing else changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol, Self, runtime_checkable

from headwater.packages.package import LoadPackage
from headwater.schema.hints import TableHints
from headwater.schema.model import Schema
from headwater.schema.state import PipelineState
from headwater.schema.stored import StoredTables
from headwater.schema.types import WIDENINGS


@dataclass(frozen=True)
class Capabilities:
    """What a destination can do; the normalizer and the loader adapt to it.

    Attributes:
        name: the destination type (``duckdb``).
        transactional: a load commits data, schema and load record atomically.
        write_dispositions: the dispositions it implements.
        type_widening: ``(from, to)`` type changes it can apply to existing columns.
        max_identifier_length: longest identifier in bytes, if limited.
        merge_strategies: the merge strategies it implements.
        merge_key: whether a merge can replace partitions by ``merge_key``.
        needs_primary_key: whether a merge needs a primary key.
        text_holds_nul: whether text columns can hold the NUL character; where they cannot, such
            strings keep their bytes in a binary variant column.
        sql_models: whether SQL models (``models=``) can run in it after a load (its client is a
            :class:`~headwater.destinations.sql.client.SqlClient`).
        run_history: whether it keeps a row per run in ``_hw_runs`` (its client has ``record_run(row)``,
            see :mod:`headwater.destinations.runs`).
    """

    name: str
    transactional: bool = True
    write_dispositions: frozenset[str] = frozenset({"append", "replace", "merge"})
    type_widening: frozenset[tuple[str, str]] = field(default_factory=lambda: WIDENINGS)
    max_identifier_length: int | None = None
    merge_strategies: frozenset[str] = frozenset({"delete-insert", "upsert", "scd2"})
    merge_key: bool = True
    needs_primary_key: bool = False
    text_holds_nul: bool = True
    sql_models: bool = False
    run_history: bool = False

    def refusal(self, hints: TableHints) -> tuple[str, str] | None:
        """Why a resource with these table hints cannot load here (and what to do), or None."""
        disposition = hints.write_disposition
        if isinstance(disposition, str) and disposition not in self.write_dispositions:
            return (
                f"write_disposition {disposition!r} is not supported",
                f"it supports: {', '.join(sorted(self.write_dispositions))}",
            )
        if disposition != "merge":
            return None
        if hints.merge_strategy not in self.merge_strategies:
            return (
                f"merge_strategy {hints.merge_strategy!r} is not supported",
                f"it supports: {', '.join(sorted(self.merge_strategies))}",
            )
        if hints.merge_key and not self.merge_key:
            return "merge_key (partition replacement) is not supported", "merge by primary key, or use replace"
        if self.needs_primary_key and not hints.primary_key:
            return "a merge needs a primary key", "give the resource primary_key=..."
        return None


@dataclass
class LoadResult:
    """What one load wrote: rows per table, and whether it had already landed before."""

    load_id: str
    rows: dict[str, int] = field(default_factory=dict)
    already_loaded: bool = False
    seconds: float = 0.0
    #: the data-quality check results committed with the load (:class:`~headwater.schema.checks.CheckResult`)
    checks: list[Any] = field(default_factory=list)


class ClosingClient:
    """A client used as a context manager: leaving the block closes it."""

    #: whether :meth:`load` runs the package's data-quality checks and commits ``_hw_checks`` (the
    #: built-in clients do; for others, Headwater judges the row checks before the load and refuses
    #: table checks: see :mod:`headwater.destinations.checks`)
    runs_checks: bool = False

    def close(self) -> None:
        """Release what the client holds."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@runtime_checkable
class DestinationClient(Protocol):
    """An open connection to a destination dataset."""

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def stored_schema(self, schema_name: str) -> Schema | None:
        """The newest version of a schema stored in the destination, if any."""
        ...

    def stored_state(self, pipeline_name: str) -> PipelineState | None:
        """The newest committed state of a pipeline, if any."""
        ...

    def store_state(self, pipeline_name: str, state: PipelineState) -> None:
        """Commit a state without data (after a reset)."""
        ...

    def drop(self, pipeline_name: str, tables: list[str], schema_names: list[str]) -> None:
        """Drop a pipeline's tables and its state, loads and schemas, in one commit."""
        ...

    def load(self, package: LoadPackage, schema: Schema) -> LoadResult:
        """Load a package atomically. Raises :class:`~headwater.errors.LoadError` and changes nothing
        on failure."""
        ...

    def stored_tables(self) -> StoredTables:
        """The dataset's tables and their column types as they are now (read before an extraction, so
        that values meet the types the destination really has, whoever made them)."""
        ...

    def query_arrow(self, sql: str) -> Any:
        """Run SQL on the dataset (unqualified table names are its tables) and return a
        ``pyarrow.Table``; what ``pipeline.query`` runs. Every built-in client implements it."""
        ...


@runtime_checkable
class Destination(Protocol):
    """A configured destination."""

    name: str
    capabilities: Capabilities

    def for_pipeline(self, pipeline_name: str) -> Destination:
        """This destination with defaults that depend on the pipeline filled in (e.g. a file name)."""
        ...

    def describe(self) -> str:
        """Where the data goes, for humans, without secrets."""
        ...

    def to_uri(self) -> str | None:
        """A URI that reopens the destination from the command line (no secrets), if there is one."""
        ...

    def client(self, dataset: str) -> DestinationClient:
        """Open a client on ``dataset``."""
        ...
