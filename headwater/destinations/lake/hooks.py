"""What a table format implements for :class:`~headwater.destinations.lake.client.LakeClient`.

Seven operations on one table each: list, find the load ids its commits carry, create or evolve,
write (one atomic commit: append, overwrite, or delete-and-insert), scan, read lazily, drop.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass
class Delete:
    """Rows to delete in the same commit as an insert: those whose ``column`` is in ``values``."""

    column: str
    values: pa.Array


class TableFormat(ABC):
    """The table hooks of a lake destination's client (a table format, or plain files)."""

    @abstractmethod
    def table_names(self) -> list[str]:
        """The tables of the dataset (system tables included)."""

    @abstractmethod
    def committed_load_ids(self, name: str) -> set[str]:
        """The load ids recorded in the commit metadata of table ``name`` (empty if it does not exist)."""

    @abstractmethod
    def evolve(self, name: str, schema: pa.Schema, partition_by: list[str]) -> None:
        """Create table ``name`` with ``schema`` (partitioned by those columns), or add the columns of
        ``schema`` it lacks."""

    @abstractmethod
    def write(
        self,
        name: str,
        chunks: Iterable[pa.Table],
        schema: pa.Schema,
        *,
        mode: str,
        delete: Delete | None,
        properties: dict[str, str],
    ) -> None:
        """One atomic commit of table ``name``: ``append`` the chunks, ``overwrite`` the table with
        them, or (``merge``) delete the rows selected by ``delete`` and append the chunks. The commit
        metadata carries ``properties`` (the load id among them)."""

    @abstractmethod
    def scan(self, name: str, columns: list[str], where: Delete | None = None) -> pa.Table:
        """Columns of table ``name``, optionally only rows whose ``where.column`` is in ``where.values``."""

    @abstractmethod
    def reader(self, name: str) -> Any:
        """Table ``name`` as something DuckDB scans lazily (a pyarrow dataset or a batch reader)."""

    @abstractmethod
    def drop_table(self, name: str) -> None:
        """Delete table ``name`` and its data; a missing table is not an error."""

    def table_schema(self, name: str) -> pa.Schema | None:
        """The Arrow schema table ``name`` holds now (None if it does not exist or has no types)."""
        return None
