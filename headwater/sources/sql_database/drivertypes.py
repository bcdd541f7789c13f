"""The type of a query's column from what the driver says of it (a query is not reflected).

A table's columns are typed by reflection; a query's only by the result's description. Without it,
each chunk's types would be inferred from its values: a MySQL ``BIGINT UNSIGNED`` beyond 2**63 became
text, a ``TIME`` an Arrow duration, a ``DECIMAL(10,3)`` a ``decimal(4,3)`` in one chunk and a
``decimal(6,3)`` in the next. These map the driver's type codes to the types the same column of a
table gets (see :mod:`.typemap`); a code not listed leaves the column to its values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from headwater.schema.types import DEFAULT_DECIMAL, MAX_DECIMAL_PRECISION, DataType

# -- MySQL / MariaDB: the protocol's field types (PyMySQL's and mysqlclient's FIELD_TYPE) ------------
_MYSQL_INTEGERS: Final = frozenset({1, 2, 3, 8, 9, 13})  # TINY, SHORT, LONG, LONGLONG, INT24, YEAR
_MYSQL_FIXED: Final = {
    4: DataType("double"),  # FLOAT
    5: DataType("double"),  # DOUBLE
    7: DataType("timestamp"),  # TIMESTAMP
    10: DataType("date"),  # DATE
    11: DataType("time"),  # TIME (a value outside 0 to 24 hours is refused, naming the column)
    12: DataType("timestamp"),  # DATETIME
    14: DataType("date"),  # NEWDATE
    245: DataType("json"),  # JSON (MySQL; MariaDB's JSON is LONGTEXT)
    255: DataType("binary"),  # GEOMETRY: MySQL's internal form (SRID + WKB); select ST_AsBinary(c) for WKB
}
_MYSQL_TEXTS: Final = frozenset({15, 247, 248, 249, 250, 251, 252, 253, 254})  # strings, blobs, ENUM, SET
_MYSQL_DECIMALS: Final = frozenset({0, 246})
_UNSIGNED: Final = 32
_BINARY_CHARSET: Final = 63


def mysql_field_type(description: Sequence[Any], flags: int, charset: int | None) -> DataType | None:
    """A MySQL result column's type from its description row, flags and character set number."""
    code, length, scale = description[1], description[3], description[5]
    if code == 1 and length == 1:
        return DataType("bool")  # TINYINT(1), BOOLEAN
    if code == 8 and flags & _UNSIGNED:
        return DataType("decimal", 20, 0)  # BIGINT UNSIGNED goes to 18446744073709551615
    if code in _MYSQL_INTEGERS:
        return DataType("bigint")
    if code == 16:  # BIT(n): BIT(1) a boolean, wider ones their bytes
        return DataType("bool") if length == 1 else DataType("binary")
    if code in _MYSQL_DECIMALS:
        scale = scale or 0
        digits = (length or 0) - (1 if scale else 0) - (0 if flags & _UNSIGNED else 1)
        if digits > MAX_DECIMAL_PRECISION:
            return DataType("text")  # the exact digits, as a table's column of that type
        if digits < 1:
            return DataType("decimal", *DEFAULT_DECIMAL)
        return DataType("decimal", digits, scale)
    if code in _MYSQL_TEXTS:
        return DataType("binary") if charset == _BINARY_CHARSET else DataType("text")
    return _MYSQL_FIXED.get(code)


# -- PostgreSQL: type OIDs (psycopg, psycopg2) --------------------------------------------------------
_PG_OIDS: Final = {
    16: DataType("bool"),
    17: DataType("binary"),
    20: DataType("bigint"),
    21: DataType("bigint"),
    23: DataType("bigint"),
    25: DataType("text"),
    114: DataType("json"),
    700: DataType("double"),
    701: DataType("double"),
    1042: DataType("text"),
    1043: DataType("text"),
    1082: DataType("date"),
    1083: DataType("time"),
    1114: DataType("timestamp"),
    1184: DataType("timestamp"),
    2950: DataType("uuid"),
    3802: DataType("json"),
}


def pg_oid_type(description: Any) -> DataType | None:
    """A PostgreSQL result column's type from its description (psycopg's ``Column``)."""
    code = getattr(description, "type_code", description[1])
    if code == 1700:  # numeric: its precision and scale when the column has them
        precision, scale = description[4], description[5]
        if precision is None:
            return DataType("decimal", *DEFAULT_DECIMAL)
        if precision > MAX_DECIMAL_PRECISION:
            return DataType("text")  # the exact digits, as a table's column of that type
        return DataType("decimal", max(precision, 1), max(scale or 0, 0))
    return _PG_OIDS.get(code)
