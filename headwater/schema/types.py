"""Headwater's data types and the rules that reconcile them.

Types are plain names so that schemas stay readable JSON; ``decimal`` also carries precision and
scale. The reconciliation rule is documented in ``docs/schema.md``; in short:

* a value goes into its column when the column's type holds it losslessly (``text`` holds any scalar
  as its text; ``double`` holds integers; ``timestamp`` holds ISO-8601 strings that parse);
* otherwise the column is widened when the widening is lossless and the destination can alter the
  column (``bigint -> double``, ``bigint -> decimal``, ``decimal -> wider decimal``, ``date -> timestamp``);
* otherwise the value goes to a variant column ``<column>__v_<type>`` of its own type.

This module imports nothing heavy: it is used by the CLI and by schema files without Arrow.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from headwater.errors import ConfigError

DATA_TYPES: Final[tuple[str, ...]] = (
    "bigint",
    "double",
    "bool",
    "text",
    "timestamp",
    "date",
    "time",
    "decimal",
    "binary",
    "uuid",
    "json",
)

# Aliases accepted in hints, so that users can write what they are used to.
_ALIASES: Final[dict[str, str]] = {
    "int": "bigint",
    "integer": "bigint",
    "int64": "bigint",
    "long": "bigint",
    "smallint": "bigint",
    "tinyint": "bigint",
    "float": "double",
    "float64": "double",
    "real": "double",
    "number": "double",
    "boolean": "bool",
    "string": "text",
    "str": "text",
    "varchar": "text",
    "datetime": "timestamp",
    "timestamptz": "timestamp",
    "numeric": "decimal",
    "bytes": "binary",
    "blob": "binary",
    "guid": "uuid",
    "jsonb": "json",
    "object": "json",
}

MAX_DECIMAL_PRECISION: Final = 38
DEFAULT_DECIMAL: Final = (38, 9)

_DECIMAL_RE = re.compile(r"^\s*(decimal|numeric)\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class DataType:
    """A Headwater data type: a name, plus precision and scale for ``decimal``."""

    name: str
    precision: int | None = None
    scale: int | None = None

    def __str__(self) -> str:
        if self.name == "decimal" and self.precision is not None:
            return f"decimal({self.precision},{self.scale or 0})"
        return self.name


def parse_data_type(spec: str, *, where: str = "") -> DataType:
    """Parse a type written by a user (``"decimal(18,2)"``, ``"string"``, ``"timestamp"``).

    Raises:
        ConfigError: for an unknown type name or an impossible precision/scale.
    """
    if not isinstance(spec, str):
        raise ConfigError(
            f"a data type must be a string such as 'bigint' or 'decimal(18,2)', got {spec!r}",
            hint=f"use one of: {', '.join(DATA_TYPES)}",
            column=where or None,
        )
    m = _DECIMAL_RE.match(spec)
    if m:
        precision = int(m.group(2)) if m.group(2) else DEFAULT_DECIMAL[0]
        scale = int(m.group(3)) if m.group(3) else (0 if m.group(2) else DEFAULT_DECIMAL[1])
        if not 1 <= precision <= MAX_DECIMAL_PRECISION or not 0 <= scale <= precision:
            raise ConfigError(
                f"decimal({precision},{scale}) is not a valid decimal type",
                hint=f"precision must be 1..{MAX_DECIMAL_PRECISION} and scale 0..precision",
                column=where or None,
            )
        return DataType("decimal", precision, scale)
    name = spec.strip().lower()
    name = _ALIASES.get(name, name)
    if name not in DATA_TYPES:
        raise ConfigError(
            f"unknown data type {spec!r}",
            hint=f"use one of: {', '.join(DATA_TYPES)} (or decimal(p,s))",
            column=where or None,
        )
    return DataType(name)


# Lossless widenings a destination may apply to an existing column with DDL.
WIDENINGS: Final[frozenset[tuple[str, str]]] = frozenset(
    {
        ("bigint", "double"),
        ("bigint", "decimal"),
        ("decimal", "decimal"),
        ("date", "timestamp"),
    }
)


#: a widening a destination may declare instead of ``("decimal", "decimal")``: a decimal's precision
#: may grow but its scale must stay (Iceberg's rule)
DECIMAL_PRECISION_ONLY: Final[tuple[str, str]] = ("decimal", "decimal(precision)")


def widen_decimal(a: DataType, b: DataType) -> DataType | None:
    """The narrowest decimal that holds both ``a`` and ``b`` (bigint counts as decimal(19,0)).

    Returns None when no decimal of precision <= 38 can hold both.
    """

    def parts(t: DataType) -> tuple[int, int]:
        if t.name == "bigint":
            return 19, 0
        return t.precision or DEFAULT_DECIMAL[0], t.scale or 0

    pa_, sa = parts(a)
    pb, sb = parts(b)
    scale = max(sa, sb)
    integer_digits = max(pa_ - sa, pb - sb)
    precision = integer_digits + scale
    if precision > MAX_DECIMAL_PRECISION:
        return None
    return DataType("decimal", precision, scale)


def variant_column_name(column: str, data_type: DataType | str) -> str:
    """Name of the variant column that takes values of ``data_type`` that ``column`` cannot hold."""
    name = data_type.name if isinstance(data_type, DataType) else data_type
    return f"{column}__v_{name}"
