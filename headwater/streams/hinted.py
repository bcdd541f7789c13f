"""Items that carry their own table and hints: one resource feeding several tables, each with hints of its own.

A Singer tap or an Airbyte connector is one process (one resource) whose records belong to many
streams, each with its primary key and column types, learned while the process runs. The resource
yields :class:`Hinted` items, and the extraction routes each to its table with its hints::

    users = hw.with_hints(rows, "users", primary_key="id", write_disposition="merge")
    yield users

Hints are validated once, when built (:func:`with_hints`, or :func:`~headwater.schema.hints.build_hints`
for a source that builds :class:`Hinted` itself and reuses its hints for every batch). A table whose
hints say ``replace`` is replaced by this load, even when its items carry no rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Unpack

from headwater.errors import ConfigError
from headwater.schema.hints import HintArgs, TableHints, build_hints


@dataclass(frozen=True, slots=True)
class Hinted:
    """Data (a row, a list of rows, an Arrow table or batch) for ``table``, with that table's hints."""

    data: Any
    table: str
    hints: TableHints


def with_hints(data: Any, table: str, **hints: Unpack[HintArgs]) -> Hinted:
    """``data`` for table ``table`` with its own hints (``primary_key``, ``columns``,
    ``write_disposition``...), whatever the hints of the resource that yields it.

    Raises:
        ConfigError: a hint that cannot be right (validated here, once per call: build the hints once
            with :func:`~headwater.schema.hints.build_hints` for many batches).
    """
    for key in ("table_name", "incremental"):
        if key in hints:
            raise ConfigError(
                f"with_hints() does not take {key!r}",
                hint="the table is its second argument; an incremental cursor belongs to the resource",
                table=table,
            )
    given: dict[str, Any] = dict(hints)
    return Hinted(data, table, build_hints(resource=table, table_name=table, **given))
