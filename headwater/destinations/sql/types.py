"""SQL type spellings: the Headwater type an existing SQL column type stores.

Catalogs spell one type several ways (``numeric(10, 2)``, ``DECIMAL(10,2)``, ``timestamp with time
zone``); :func:`type_key` writes them one way, so a column read from the catalog compares with the
type a destination's type map would create.
"""

from __future__ import annotations

import re

from headwater.schema.types import DataType

_DECIMAL = re.compile(r"^(?:DECIMAL|NUMERIC)\((\d+),(\d+)\)$")


def type_key(sql_type: str) -> str:
    """A SQL type written one way: upper case, no spaces, NUMERIC as DECIMAL."""
    return "".join(sql_type.upper().split()).replace("NUMERIC(", "DECIMAL(")


def stored_data_type(sql_type: str, type_map: dict[str, str]) -> DataType | None:
    """The Headwater type a SQL column type stores exactly, given a destination's type map (Headwater
    type name -> SQL type, decimals aside); None for a type Headwater does not write (``INTEGER``, an
    unconstrained ``NUMERIC``)."""
    key = type_key(sql_type)
    m = _DECIMAL.match(key)
    if m:
        return DataType("decimal", int(m.group(1)), int(m.group(2)))
    for name, mapped in type_map.items():
        if type_key(mapped) == key:
            return DataType(name)
    return None
