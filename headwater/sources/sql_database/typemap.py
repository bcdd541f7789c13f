"""SQLAlchemy column types to Headwater types, and the Arrow schema a table is read with.

The rules (also in docs/sql-database.md):

* integers of every width → ``bigint``; floating point (``FLOAT``, ``REAL``, ``DOUBLE``) → ``double``;
* ``NUMERIC(p,s)``/``DECIMAL(p,s)`` → ``decimal(p,s)``; ``NUMERIC`` without a precision →
  ``decimal(38,9)`` (Headwater's default decimal: a value with more than 9 decimal places is refused,
  not rounded, unless the database stores it as a binary float, as SQLite does); a precision above 38
  → ``text`` (the exact digits; Arrow's 128-bit decimals hold 38);
* ``BOOLEAN`` → ``bool``; ``DATE`` → ``date``; ``TIME`` → ``time`` (``TIME WITH TIME ZONE`` → ``text``,
  an Arrow time has no offset);
* ``TIMESTAMP``/``DATETIME`` → ``timestamp``, stored in UTC: with a time zone the instant is kept,
  without one the wall-clock value is taken to be UTC (as the normalizer does with ISO strings);
* binary types → ``binary``; ``JSON``/``JSONB`` → ``json``; ``UUID`` → ``uuid``;
  strings, ``TEXT``, ``ENUM`` → ``text``; PostgreSQL arrays → ``json``; SQL Server ``MONEY`` → ``decimal(19,4)``;
* anything else → ``text``: the database's own text form of the value (``CAST(c AS TEXT)``), with a
  note in the log.
"""

from __future__ import annotations

import logging
from typing import Any, Final

import pyarrow as pa

from headwater.normalize.arrow_types import to_arrow
from headwater.schema.types import DEFAULT_DECIMAL, MAX_DECIMAL_PRECISION, DataType

log = logging.getLogger("headwater.sql_database")

#: kinds of column that the read query selects as ``CAST(c AS TEXT)`` on every dialect
TEXT_FALLBACK: Final = "text-fallback"

_MONEY: Final = {"MONEY": (19, 4), "SMALLMONEY": (10, 4)}
MYSQL: Final = frozenset({"mysql", "mariadb"})
#: MySQL's spatial types: read as well-known binary (``ST_AsBinary``), or text (``ST_AsText``) when declared so
GEOMETRY: Final = frozenset(
    {"geometry", "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon",
     "geometrycollection", "geomcollection"}
)  # fmt: skip


def headwater_type(sa_type: Any, dialect: str) -> tuple[DataType, bool]:
    """The Headwater type of a reflected SQLAlchemy type, and whether it is a text fallback.

    A fallback column is read as the database's text form of its values; the caller logs it.
    """
    from sqlalchemy.sql import sqltypes as st

    if dialect in MYSQL:
        found = _mysql_type(sa_type)
        if found is not None:
            return found, False
    if isinstance(sa_type, st.Boolean):
        return DataType("bool"), False
    if isinstance(sa_type, st.Integer) and isinstance(sa_type, st.Numeric):  # Oracle's NUMBER is both
        precision, scale = sa_type.precision, sa_type.scale
        if precision is None or (scale or 0) != 0 or precision > 18:
            return _decimal(precision, scale)
        return DataType("bigint"), False
    if isinstance(sa_type, st.Integer):
        if getattr(sa_type, "unsigned", False) and isinstance(sa_type, st.BigInteger):
            return DataType("decimal", 20, 0), False  # MySQL BIGINT UNSIGNED goes beyond int64
        return DataType("bigint"), False
    if isinstance(sa_type, st.Float):  # before Numeric: in some SQLAlchemy versions Float is a Numeric
        return DataType("double"), False
    if isinstance(sa_type, st.Numeric):
        return _decimal(sa_type.precision, sa_type.scale)
    if isinstance(sa_type, st.DateTime):
        return DataType("timestamp"), False
    if isinstance(sa_type, st.Date):
        return DataType("date"), False
    if isinstance(sa_type, st.Time):
        return (DataType("text"), True) if getattr(sa_type, "timezone", False) else (DataType("time"), False)
    if isinstance(sa_type, st._Binary):
        return DataType("binary"), False
    if isinstance(sa_type, st.JSON):
        return DataType("json"), False
    if isinstance(sa_type, st.Uuid):
        return DataType("uuid"), False
    if isinstance(sa_type, st.ARRAY) and dialect == "postgresql":
        return DataType("json"), False
    if isinstance(sa_type, st.Interval):
        return DataType("text"), True
    if isinstance(sa_type, st.String):  # VARCHAR, TEXT, CHAR, ENUM, NVARCHAR...
        return DataType("text"), False
    money = _MONEY.get(type(sa_type).__name__.upper())
    if money is not None and dialect == "mssql":
        return DataType("decimal", *money), False
    return DataType("text"), True


def _mysql_type(sa_type: Any) -> DataType | None:
    """MySQL's types that other dialects do not have, or spell differently."""
    name = type(sa_type).__name__.upper()
    if name == "TINYINT" and getattr(sa_type, "display_width", None) == 1:
        return DataType("bool")  # BOOLEAN is TINYINT(1); a value other than 0 and 1 is refused, not made true
    if name == "BIT":
        return DataType("bool") if (getattr(sa_type, "length", None) or 1) == 1 else DataType("binary")
    if name == "YEAR":
        return DataType("bigint")
    return None


def native_type(native: str, dialect: str) -> DataType | None:
    """The type of a column SQLAlchemy does not know, by the database's own type name (lower case)."""
    if native in GEOMETRY and dialect in MYSQL:
        return DataType("binary")  # well-known binary (ST_AsBinary); declared text: well-known text
    return None


def _decimal(precision: int | None, scale: int | None) -> tuple[DataType, bool]:
    if precision is None:
        return DataType("decimal", *DEFAULT_DECIMAL), False
    scale = scale or 0
    if scale < 0:  # PostgreSQL's numeric(3,-2) holds 99900: whole numbers of p - s digits
        precision, scale = precision - scale, 0
    precision = max(precision, scale)  # numeric(2,5) holds 0.00012: p < s is legal in PostgreSQL
    if precision > MAX_DECIMAL_PRECISION:
        return DataType("text"), True
    return DataType("decimal", max(precision, 1), scale), False


def arrow_type(data_type: DataType) -> pa.DataType:
    """The Arrow type a column of ``data_type`` is yielded with (the normalizer's canonical type)."""
    return to_arrow(data_type)


def is_timestamp_tz(sa_type: Any) -> bool:
    """Whether a date-time type keeps a time zone (its values are instants, not wall-clock times)."""
    return bool(getattr(sa_type, "timezone", False))
