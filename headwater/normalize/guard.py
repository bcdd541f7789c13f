"""The contract guard: decides, change by change, what a schema contract lets the data do.

The placer asks the guard before it adds a column to a table that existed when the load started,
before it widens a column or opens a variant column, and the normalizer asks before it creates a
new table for a resource that already loaded. The guard answers with the contract's mode and
records which rows broke the contract (to drop or quarantine them, with their child rows) and why.

Every question names the part it is about (a :class:`PartRows`, which the normalizer makes for each
part of a batch); the placer gets a :class:`PartGuard`, the guard bound to the part it places.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from headwater.errors import ContractViolation
from headwater.normalize import arrays
from headwater.normalize.flatten import Part
from headwater.schema.contract import Contract
from headwater.schema.model import Table

EVOLVE = "evolve"


@dataclass(eq=False)
class PartRows:
    """One part of a batch on its way into its table (the normalizer makes one per part, parents first).

    A part whose table the ``tables`` contract refuses gets no table and is not placed; nor are the
    parts under it.
    """

    part: Part
    #: for each row of the part, the row of the root part it belongs to (int64)
    root_index: pa.Array
    parent: PartRows | None = None
    table: Table | None = None
    #: the placed columns by name (set once the part is placed)
    columns: dict[str, pa.Array] = field(default_factory=dict)
    #: the rows' ``_hw_id`` values (set when the part is finished; its children take their parent ids here)
    ids: pa.Array | None = None


@dataclass
class Offense:
    """Rows of one part that broke the contract, and why."""

    part: PartRows
    rows: pa.Array  # row positions within the part (int64)
    reason: str
    quarantine: bool  # False: the rows are dropped
    check: str | None = None  # the data-quality check the rows failed (None: the contract)


@dataclass
class Guard:
    """One batch's view of a contract.

    Args:
        contract: the resource's contract.
        existing: tables that existed when the load started (contracts apply to what exists).
        resource: for messages.
    """

    contract: Contract
    existing: frozenset[str]
    resource: str
    offenses: list[Offense] = field(default_factory=list)

    def applies(self, table: str) -> bool:
        """Whether the contract applies to ``table``: it exists already and the contract is not all ``evolve``."""
        return table in self.existing and not self.contract.is_evolve

    def at(self, part: PartRows) -> PartGuard:
        """The guard for the changes ``part`` makes (what the placer asks)."""
        return PartGuard(self, part)

    def decide(
        self, kind: str, table: str, column: str | None, values: pa.Array | None, what: str, *, part: PartRows
    ) -> str:
        """The mode for a change ``part`` makes; records its offending rows for row modes, raises for freeze."""
        mode = self.contract.mode(kind)
        if mode == EVOLVE:
            return mode
        if mode == "freeze":
            first = _first_value(values)
            raise ContractViolation(
                f"{what} is not allowed: the schema contract freezes {kind}"
                + (f"; first offending value: {first!r}" if first is not None else ""),
                hint=f"change the data, or set schema_contract={{'{kind}': 'evolve'}} (or discard_row, "
                "discard_value, quarantine) on the resource",
                resource=self.resource,
                table=table,
                column=column,
            )
        if mode in ("discard_row", "quarantine") and values is not None:
            rows = arrays.positions(values.is_valid())
            if len(rows):
                reason = f"{what} ({kind} contract: {mode})"
                self.offenses.append(Offense(part, rows, reason, mode == "quarantine"))
        return mode

    def offend_rows(
        self, part: PartRows, rows: pa.Array, reason: str, *, quarantine: bool, check: str | None = None
    ) -> None:
        """Record rows that break a rule outside the placer (a null primary key, a new table, a check)."""
        if len(rows):
            self.offenses.append(Offense(part, rows, reason, quarantine, check))


@dataclass(frozen=True)
class PartGuard:
    """A :class:`Guard` bound to the part being placed."""

    guard: Guard
    part: PartRows

    @property
    def contract(self) -> Contract:
        """The contract of the guard."""
        return self.guard.contract

    def applies(self, table: str) -> bool:
        """Whether the contract applies to ``table``."""
        return self.guard.applies(table)

    def decide(self, kind: str, table: str, column: str | None, values: pa.Array | None, what: str) -> str:
        """The mode for a change the bound part makes (see :meth:`Guard.decide`)."""
        return self.guard.decide(kind, table, column, values, what, part=self.part)


def _first_value(values: pa.Array | None) -> Any:
    if values is None:
        return None
    valid = values.drop_null()
    if len(valid) == 0:
        return None
    value = valid[0].as_py()
    if isinstance(value, str) and len(value) > 80:
        return value[:77] + "..."
    return value
