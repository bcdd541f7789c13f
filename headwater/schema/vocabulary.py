"""The words hints and options take, as ``Literal`` types, with the tuples that check them at the edge.

``typing.get_args`` keeps each tuple equal to its type, so mypy and the runtime check agree::

    WriteDisposition = Literal["append", "replace", "merge"]
    WRITE_DISPOSITIONS = get_args(WriteDisposition)
"""

from __future__ import annotations

from typing import Final, Literal, get_args

WriteDisposition = Literal["append", "replace", "merge"]
MergeStrategy = Literal["delete-insert", "upsert", "scd2"]
ContractMode = Literal["evolve", "freeze", "discard_row", "discard_value", "quarantine"]
PackageFormat = Literal["arrow", "parquet"]

WRITE_DISPOSITIONS: Final[tuple[WriteDisposition, ...]] = get_args(WriteDisposition)
MERGE_STRATEGIES: Final[tuple[MergeStrategy, ...]] = get_args(MergeStrategy)
CONTRACT_MODES: Final[tuple[ContractMode, ...]] = get_args(ContractMode)
PACKAGE_FORMATS: Final[tuple[PackageFormat, ...]] = get_args(PackageFormat)
