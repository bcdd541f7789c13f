"""The schema: tables, columns, types, hints, naming and versions."""

from __future__ import annotations

from headwater.schema.hints import ColumnHint, TableHints, build_hints
from headwater.schema.model import Column, ColumnChange, Schema, SchemaDiff, Table
from headwater.schema.naming import snake_case
from headwater.schema.types import DATA_TYPES, DataType, parse_data_type

__all__ = [
    "DATA_TYPES",
    "Column",
    "ColumnChange",
    "ColumnHint",
    "DataType",
    "Schema",
    "SchemaDiff",
    "Table",
    "TableHints",
    "build_hints",
    "parse_data_type",
    "snake_case",
]
