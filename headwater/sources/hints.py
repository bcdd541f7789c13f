"""The hints the built-in sources take for their streams, typed with Headwater's vocabularies.

The same hints as :class:`~headwater.schema.hints.HintArgs` (each source passes them on to it), with
the words spelled as ``Literal`` types, so that a misspelled disposition is a type error where the
source is called::

    hw.sources.filesystem("data/", "*.csv", write_disposition="merge", primary_key="id")
    hw.sources.sql_database(url, table_hints={"orders": {"merge_strategy": "upsert"}})

The sources still check every value when called: plain dicts (a TOML table, JSON) are as welcome.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypedDict

from headwater.schema.vocabulary import ContractMode, MergeStrategy, WriteDisposition


class WriteDispositionConfig(TypedDict, total=False):
    """The dict form of ``write_disposition``: the disposition with its merge settings.

    Attributes:
        disposition: ``append``, ``replace`` or ``merge`` (the default of the dict form).
        strategy: the merge strategy: ``delete-insert`` (default), ``upsert`` or ``scd2``.
        validity_column_names: for ``scd2``, the names of the valid-from and valid-to columns.
    """

    disposition: WriteDisposition
    strategy: MergeStrategy
    validity_column_names: Sequence[str]


class StreamHints(TypedDict, total=False):
    """The hints of a stream, but its cursor (a source that takes ``incremental`` itself uses these).

    Attributes:
        table_name: the table, a string or a function of each item.
        write_disposition: ``append`` (default), ``replace``, ``merge``, or the dict form.
        merge_strategy: ``delete-insert`` (default), ``upsert`` or ``scd2``.
        primary_key: a column or columns identifying a row.
        merge_key: a column or columns whose values select what a merge replaces.
        dedup_sort: which of the rows with the same key in one load is kept.
        columns: column hints: types, ``nullable``, ``primary_key``, ``hard_delete``.
        max_nesting: levels of objects and lists unpacked before values are stored as JSON.
        schema_contract: a contract mode for all changes, or one per kind (``{"columns": "freeze"}``).
        partition_by: a column or columns the root table is partitioned by.
        checks: data-quality checks on the root table (see docs/quality.md).
    """

    table_name: str | Callable[[Any], str] | None
    write_disposition: WriteDisposition | WriteDispositionConfig | None
    merge_strategy: MergeStrategy | None
    primary_key: str | Sequence[str] | None
    merge_key: str | Sequence[str] | None
    dedup_sort: str | Sequence[str] | Mapping[str, str] | None
    columns: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None
    max_nesting: int | None
    schema_contract: ContractMode | Mapping[str, ContractMode] | None
    partition_by: str | Sequence[str] | None
    checks: Any


class ResourceHints(StreamHints, total=False):
    """Every hint of a stream: :class:`StreamHints` and its cursor.

    Attributes:
        incremental: a cursor (``hw.incremental(...)``) applied as a filter to the stream's items.
    """

    incremental: Any
