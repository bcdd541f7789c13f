"""What a destination already holds before a load: its tables and their column types.

Destinations read it (``stored_tables()``); the normalizer meets it (another writer's columns keep
their types, :mod:`headwater.normalize.placing`). It sits in the schema layer so both can.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from headwater.schema.types import DataType


@dataclass(frozen=True)
class StoredColumn:
    """A column as the destination holds it, written by anyone (this pipeline, another one, a person).

    Attributes:
        physical: the destination's own name of the type (``VARCHAR``, ``int32``), for messages.
        types: the Headwater types stored this way, the one to adopt first (a string column of a table
            format holds text, uuids and JSON); empty when Headwater never writes this type.
    """

    physical: str
    types: tuple[DataType, ...]

    def holds(self, data_type: DataType) -> bool:
        """Whether this column stores ``data_type``."""
        return data_type in self.types


class StoredTables:
    """The tables and column types a dataset holds before a load, looked up by schema names.

    Args:
        columns: ``{table: {column: StoredColumn}}`` by physical name.
        ident: the physical name of a schema name (destinations with short identifiers shorten them).
    """

    def __init__(self, columns: dict[str, dict[str, StoredColumn]] | None = None, ident: Any = None) -> None:
        self.columns = columns or {}
        self._ident = ident or _same  # a plain function: the tables travel to worker processes

    def column(self, table: str, column: str) -> StoredColumn | None:
        """The stored column ``column`` of ``table`` (schema names), if it exists."""
        return self.columns.get(self._ident(table), {}).get(self._ident(column))

    def table(self, table: str) -> dict[str, StoredColumn] | None:
        """The stored columns of ``table`` (a schema name) by physical name, or None if it does not exist."""
        return self.columns.get(self._ident(table))

    def __bool__(self) -> bool:
        return bool(self.columns)


def _same(name: str) -> str:
    return name
