"""Schema contracts: what a resource allows its data to change in the schema.

``schema_contract`` governs three kinds of change, each with one mode::

    schema_contract="freeze"                                   # all three
    schema_contract={"tables": "evolve", "columns": "quarantine", "data_type": "freeze"}

Kinds of change:

- ``tables``: a new table (a new child table, or a new table of a dynamic ``table_name``) for a
  resource that already loaded;
- ``columns``: a new column in a table that already exists;
- ``data_type``: a value its column cannot hold: a widening or a new variant column.

Modes:

- ``evolve``: the schema changes (the default);
- ``freeze``: the run fails with :class:`~headwater.errors.ContractViolation` naming the table, the
  column and the first offending value;
- ``discard_row``: the row (with its child rows) is dropped;
- ``discard_value``: the offending value is dropped, the rest of the row loads;
- ``quarantine``: the row goes to ``_hw_quarantine`` (table, reason, the row as JSON, load id), in the
  same commit as the data.

A brand-new table takes its first columns and types as they come: contracts apply to what exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from headwater.errors import ConfigError
from headwater.schema.vocabulary import CONTRACT_MODES

MODES: Final = CONTRACT_MODES
KINDS: Final = ("tables", "columns", "data_type")


@dataclass(frozen=True)
class Contract:
    """The mode for each kind of schema change."""

    tables: str = "evolve"
    columns: str = "evolve"
    data_type: str = "evolve"

    def mode(self, kind: str) -> str:
        """The mode for ``kind`` of change: ``"tables"``, ``"columns"`` or ``"data_type"``."""
        return str(getattr(self, kind))

    @property
    def quarantines(self) -> bool:
        """Whether any kind of change quarantines rows."""
        return "quarantine" in (self.tables, self.columns, self.data_type)

    @property
    def is_evolve(self) -> bool:
        """Whether every kind of change evolves the schema (the default: the contract checks nothing)."""
        return self.tables == self.columns == self.data_type == "evolve"


def parse_contract(value: str | Mapping[str, str], *, resource: str | None = None) -> Contract:
    """A contract from a mode (for all kinds) or a dict of modes per kind."""
    if isinstance(value, str):
        _check(value, "schema_contract", resource)
        return Contract(value, value, value)
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"schema_contract must be a mode or a dict of modes, got {value!r}",
            hint=f"modes: {', '.join(MODES)}; kinds: {', '.join(KINDS)}",
            resource=resource,
        )
    unknown = set(value) - set(KINDS)
    if unknown:
        raise ConfigError(
            f"unknown schema_contract kind(s) {sorted(unknown)}", hint=f"use {', '.join(KINDS)}", resource=resource
        )
    for kind, mode in value.items():
        _check(mode, f"schema_contract[{kind!r}]", resource)
    return Contract(**dict(value))


def _check(mode: str, where: str, resource: str | None) -> None:
    if mode not in MODES:
        raise ConfigError(
            f"unknown mode {mode!r} for {where}", hint=f"use one of: {', '.join(MODES)}", resource=resource
        )
