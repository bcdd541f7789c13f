"""The SELECT a stream runs: its columns, the incremental cursor and a key range pushed into SQL.

Columns are selected so that every backend receives one storage kind per column:

* SQLite's typing is per value (a ``NUMERIC`` column holds integers and floats, dates are text), so
  on SQLite dates, times and texts are selected as ``CAST(c AS TEXT)``, decimals as their text too
  (binary floats with 17 significant digits), binaries as ``CAST(c AS BLOB)``;
  :mod:`~headwater.sources.sql_database.arrow` turns the text into the column's type (exact decimal
  digits, ISO-8601 date-times with or without an offset);
* types Headwater does not know are selected as ``CAST(c AS TEXT)`` everywhere, JSON as text, and
  PostgreSQL arrays as ``to_json(c)``.

The cursor becomes ``WHERE c >= :start [AND c < :end] ORDER BY c`` (``<=``/``>`` and descending for
``last_value_func=min``), plus ``OR c IS NULL`` unless rows without a cursor value are excluded, so
that Headwater's cursor sees them and applies ``on_cursor_value_missing``. On SQLite, date-time
cursors and ranges compare ``julianday(c)``, which reads every ISO-8601 spelling (``T`` or space,
offsets) as one instant, with a margin of one millisecond (Headwater's cursor then drops what is before
the start exactly).
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from headwater.errors import ConfigError
from headwater.schema.types import DataType
from headwater.sources.sql_database.reflect import ColumnSpec, TableSpec
from headwater.sources.sql_database.typemap import GEOMETRY, MYSQL

SENTINEL: Final = "_hw_sql_sentinel"
REAL_SUFFIX: Final = "__hw_real"  # see real_companion
_JULIAN_MARGIN: Final = 1 / 86_400_000  # one millisecond, in days
_TEXT_ON_SQLITE: Final = frozenset({"decimal", "text", "json", "uuid", "timestamp", "date", "time", "bool"})
_TEXTS: Final = frozenset({DataType("text"), DataType("json")})
_PARSED_ON_SQLITE: Final = frozenset({"timestamp", "date", "time", "bool", "uuid"})  # a float in them is refused
TEMPORAL: Final = frozenset({"timestamp", "date"})
RANGE_TYPES: Final = frozenset({"bigint", "decimal", "double", "timestamp", "date"})


@dataclass(frozen=True)
class CursorRange:
    """The part of a table an incremental cursor asks for."""

    column: str
    start: Any = None
    end: Any = None
    grows: bool = True
    with_nulls: bool = True


@dataclass(frozen=True)
class KeyRange:
    """One partition: ``lower <= key < upper`` (None: unbounded); ``nulls`` adds rows without a key."""

    column: str
    lower: Any = None
    upper: Any = None
    nulls: bool = False


def select_expression(
    col: ColumnSpec, sa_col: Any, dialect: str, arrow_driver: bool = True, text_kinds: frozenset[str] = frozenset()
) -> Any:
    """What the SELECT reads for ``col`` (see the module docstring), labelled with the column's name.

    ``arrow_driver``: the driver hands over Arrow columns of one type each (ADBC); otherwise Python values,
    and SQLite's binary floats in text columns are selected as they are and written by Python, exactly
    (SQLite before 3.43, as Python's sqlite3 often has it, prints some doubles wrong by one unit).
    ``text_kinds``: the Headwater types (as reflected) read as the database's text because the driver would
    change their values (ConnectorX's, see :data:`~.cxreader.AS_TEXT`); Arrow converts the text.
    """
    import sqlalchemy as sa

    kind = col.data_type.name
    expr = sa_col
    as_text = _as_text(col) or (not col.fallback and (col.reflected or col.data_type).name in text_kinds)
    if dialect == "sqlite":
        if kind == "decimal" and not col.fallback:
            # integers and text exactly; binary floats with 17 significant digits, which is exact for
            # a double in every SQLite version (CAST AS TEXT gives only 15 digits before SQLite 3.43)
            expr = sa.case(
                (sa.func.typeof(sa_col) == "real", sa.func.printf("%!.17g", sa_col)),
                else_=sa.cast(sa_col, sa.Text()),
            )
        elif _text_with_reals(col):
            # binary floats are written by Python (values.real_text), exactly: SQLite's printf is not exact
            # at 17 digits, nor before 3.43 at 15; for ADBC they go to a column of their own (real_companion)
            real = sa.null() if arrow_driver else sa_col
            expr = sa.case((sa.func.typeof(sa_col) == "real", real), else_=sa.cast(sa_col, sa.Text()))
        elif kind in _TEXT_ON_SQLITE or as_text:
            expr = sa.cast(sa_col, sa.Text())  # no binary float to write: none stored, or none that parses
        elif kind == "binary":
            expr = sa.cast(sa_col, sa.LargeBinary())
    elif dialect in MYSQL and (col.native in GEOMETRY or _is_bit(col.sa_type)):
        expr = _mysql_special(col, sa_col, kind)
    elif as_text or kind == "json":
        if kind == "json" and dialect == "postgresql" and _is_array(col.sa_type):
            expr = sa.cast(sa.func.to_json(sa_col), sa.Text())
        else:
            expr = sa.cast(sa_col, sa.Text())
    return expr.label(col.name)


def real_companion(col: ColumnSpec, sa_col: Any, dialect: str) -> Any:
    """For ADBC on SQLite: the binary floats of a column read as text, in a column of their own
    (``<name>__hw_real``), so that Python writes them; None for a column that needs none."""
    import sqlalchemy as sa

    if dialect != "sqlite" or not _text_with_reals(col):
        return None
    return sa.case((sa.func.typeof(sa_col) == "real", sa_col)).label(col.name + REAL_SUFFIX)


def _as_text(col: ColumnSpec) -> bool:
    """Whether a column is read as the database's text of its values: an unknown type, or declared text."""
    declared_text = col.declared and col.data_type.name in ("text", "json") and col.reflected not in _TEXTS
    return (col.fallback and not col.declared) or declared_text


def _text_with_reals(col: ColumnSpec) -> bool:
    """Whether a SQLite column read as text may hold binary floats that must be written exactly."""
    kind = col.data_type.name
    if kind == "decimal" and not col.fallback:
        return False
    if not (kind in _TEXT_ON_SQLITE or _as_text(col)):
        return False
    return kind not in _PARSED_ON_SQLITE and not _text_affinity(col.sa_type)


def _text_affinity(sa_type: Any) -> bool:
    """Whether SQLite stores a column of this declared type as text: numbers given to it become text."""
    name = str(sa_type).upper()
    return "INT" not in name and any(part in name for part in ("CHAR", "CLOB", "TEXT"))


def _is_bit(sa_type: Any) -> bool:
    return type(sa_type).__name__.upper() == "BIT"


def _mysql_special(col: ColumnSpec, sa_col: Any, kind: str) -> Any:
    """MySQL's spatial and BIT columns, which ``CAST(c AS CHAR)`` refuses or garbles (``0xA5`` is ``'?'``)."""
    import sqlalchemy as sa

    if col.native in GEOMETRY:  # well-known text when asked for text, else well-known binary
        return sa.func.ST_AsText(sa_col) if kind in ("text", "json") else sa.func.ST_AsBinary(sa_col)
    if kind in ("bool", "bigint", "decimal", "double"):
        from sqlalchemy.dialects import mysql

        return sa.cast(sa_col, mysql.INTEGER(unsigned=True))  # CAST(c AS UNSIGNED): the bits' number
    if kind in ("text", "json"):
        return sa.func.BIN(sa_col)  # the bits as 0s and 1s
    return sa_col  # binary: the bytes as the driver returns them (big-endian)


def _is_array(sa_type: Any) -> bool:
    from sqlalchemy.sql import sqltypes

    return isinstance(sa_type, sqltypes.ARRAY)


def sentinel_value(col: ColumnSpec) -> Any:
    """A typed, non-null value of the storage kind :func:`select_expression` gives on SQLite."""
    import sqlalchemy as sa

    kind = col.data_type.name
    if kind in _TEXT_ON_SQLITE or col.fallback:
        return sa.literal_column("''")
    if kind == "binary":
        return sa.literal_column("X''")
    if kind == "double":
        return sa.literal_column("0.0")
    return sa.literal_column("0")


def key_expression(col: ColumnSpec, sa_col: Any, dialect: str) -> Any:
    """The expression ranges and cursors compare: the column, or ``julianday(c)`` for SQLite dates."""
    import sqlalchemy as sa

    if dialect == "sqlite" and col.data_type.name in TEMPORAL:
        return sa.func.julianday(sa_col)
    return sa_col


def comparable(value: Any, col: ColumnSpec, dialect: str) -> Any:
    """A cursor or range value in the form the database compares with ``col``'s key expression."""
    if value is None:
        return None
    kind = col.data_type.name
    if dialect == "sqlite":
        if kind in TEMPORAL and isinstance(value, dt.date | str):
            return value.isoformat() if isinstance(value, dt.date) else value
        if isinstance(value, decimal.Decimal):
            return float(value)  # SQLite stores NUMERIC as integers and binary floats
        return value
    if kind == "timestamp" and isinstance(value, dt.datetime):
        as_utc = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
        return as_utc if col.tz_aware else as_utc.replace(tzinfo=None)
    return value


def select_table(
    spec: TableSpec,
    dialect: str,
    *,
    cursor: CursorRange | None = None,
    key_range: KeyRange | None = None,
    sentinel: bool = False,
    literal: bool = False,
    text_kinds: frozenset[str] = frozenset(),
) -> Any:
    """The SELECT for ``spec`` restricted to a cursor range and a key range.

    Args:
        spec: the reflected table.
        dialect: the database's SQLAlchemy dialect name.
        cursor: the incremental cursor's range, in the SQL (ordered by the cursor column).
        key_range: a partition's range of keys.
        sentinel: add a first row with a non-null value of each column (flagged in column
            ``_hw_sql_sentinel``) so that a driver that infers types from the first rows (ADBC's
            SQLite driver) sees every column's kind even when the first rows hold NULLs.
        literal: compare with typed SQL literals instead of bound parameters (see :func:`render`).
        text_kinds: the types read as the database's text (see :func:`select_expression`).
    """
    import sqlalchemy as sa

    table = spec.sa_table
    columns = [select_expression(c, table.c[c.name], dialect, sentinel, text_kinds) for c in spec.columns]
    where: list[Any] = []
    order: list[Any] = []
    if cursor is not None:
        col = spec.column(cursor.column, "incremental")
        key = key_expression(col, table.c[col.name], dialect)
        where.extend(_cursor_conditions(cursor, col, key, dialect, literal))
        order.append(table.c[col.name] if cursor.grows else table.c[col.name].desc())
    if key_range is not None:
        col = spec.column(key_range.column, "partition")
        key = key_expression(col, table.c[col.name], dialect)
        where.append(_range_condition(key_range, col, key, dialect, literal))
    if not sentinel:
        stmt = sa.select(*columns).select_from(table)
        if spec.only:  # a parent by inheritance: its own rows, its children are read as tables of their own
            stmt = stmt.with_hint(table, "ONLY", "postgresql")
        if where:
            stmt = stmt.where(*where)
        return stmt.order_by(*order) if order else stmt
    companions = [(c, real_companion(c, table.c[c.name], dialect)) for c in spec.columns]
    reals = [expr for _, expr in companions if expr is not None]
    body = sa.select(*columns, *reals, sa.literal_column("0").label(SENTINEL)).select_from(table)
    if where:
        body = body.where(*where)
    first = sa.select(
        *(sentinel_value(c).label(c.name) for c in spec.columns),
        *(sa.literal_column("0.0").label(c.name + REAL_SUFFIX) for c, expr in companions if expr is not None),
        sa.literal_column("1").label(SENTINEL),
    )
    compound = sa.union_all(first, body)
    if cursor is not None:  # a compound orders by its output columns; the sentinel row stays first
        by: Any = sa.column(cursor.column)
        compound = compound.order_by(sa.column(SENTINEL).desc(), by if cursor.grows else by.desc())
    return compound


def select_query(
    sql: str,
    dialect: str,
    *,
    cursor: CursorRange | None = None,
    cursor_column: ColumnSpec | None = None,
    literal: bool = False,
) -> Any:
    """A user's query, wrapped as ``SELECT * FROM (query) AS _hw_q`` when a cursor restricts it.

    ``cursor_column`` describes the cursor column when its type is known (from a ``columns`` hint);
    otherwise the cursor's values are compared as they are.
    """
    import sqlalchemy as sa

    body = sql.strip().rstrip(";")
    if cursor is None:
        return sa.text(body)
    column: Any = sa.column(cursor.column)
    key = column if cursor_column is None else key_expression(cursor_column, column, dialect)
    stmt = sa.select(sa.text("*")).select_from(sa.text(f"({body}) AS _hw_q"))
    stmt = stmt.where(*_cursor_conditions(cursor, cursor_column, key, dialect, literal))
    return stmt.order_by(column if cursor.grows else column.desc())


def _value(value: Any, col: ColumnSpec | None, dialect: str, literal: bool) -> Any:
    import sqlalchemy as sa

    if col is not None:
        value = comparable(value, col, dialect)
    if col is not None and dialect == "sqlite" and col.data_type.name in TEMPORAL:
        return sa.func.julianday(sa.literal(value, sa.String()) if literal else sa.bindparam(None, value, sa.String()))
    return sa.literal(value) if literal else sa.bindparam(None, value)


def _cursor_conditions(cursor: CursorRange, col: ColumnSpec | None, key: Any, dialect: str, literal: bool) -> list[Any]:
    import sqlalchemy as sa

    julian = col is not None and dialect == "sqlite" and col.data_type.name in TEMPORAL

    def widened(value: Any, by: float) -> Any:
        bound = _value(value, col, dialect, literal)
        return bound + by if julian else bound

    conditions = []
    if cursor.start is not None:
        if cursor.grows:
            conditions.append(key >= widened(cursor.start, -_JULIAN_MARGIN))
        else:
            conditions.append(key <= widened(cursor.start, _JULIAN_MARGIN))
    if cursor.end is not None:
        if cursor.grows:
            conditions.append(key < widened(cursor.end, _JULIAN_MARGIN))
        else:
            conditions.append(key > widened(cursor.end, -_JULIAN_MARGIN))
    if not conditions:
        return []
    test = sa.and_(*conditions)
    if cursor.with_nulls:  # julianday(c) is null for a null c too
        test = sa.or_(test, key.is_(None))
    return [test]


def _range_condition(rng: KeyRange, col: ColumnSpec, key: Any, dialect: str, literal: bool) -> Any:
    import sqlalchemy as sa

    def value(v: Any) -> Any:
        # range bounds come from min/max of the key expression itself: no julianday() around them
        v = v if dialect == "sqlite" and col.data_type.name in TEMPORAL else comparable(v, col, dialect)
        return sa.literal(v) if literal else sa.bindparam(None, v)

    parts = []
    if rng.lower is not None:
        parts.append(key >= value(rng.lower))
    if rng.upper is not None:
        parts.append(key < value(rng.upper))
    test = sa.and_(*parts) if parts else sa.true()
    return sa.or_(test, key.is_(None)) if rng.nulls else test


def render(stmt: Any, dialect: Any, literal: bool) -> tuple[str, Sequence[Any] | dict[str, Any]]:
    """SQL text and positional parameters for a DB-API driver (ADBC).

    ``literal`` renders the values as SQL literals (SQLAlchemy escapes them; only values Headwater
    computed or read from state, never SQL text); ADBC's PostgreSQL driver reads a result with bound
    parameters in one piece instead of streaming it with ``COPY``, so that backend uses literals.
    """
    if literal:
        return str(stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True})), ()
    compiled = stmt.compile(dialect=dialect)
    params = compiled.params
    if not compiled.positional:  # PyMySQL, psycopg: named parameters; given even when empty, so that the
        return str(compiled), dict(params)  # driver reads the %% SQLAlchemy wrote for a % as one %
    return str(compiled), tuple(params[name] for name in compiled.positiontup or [])


def check_range_column(spec: TableSpec, column: str) -> ColumnSpec:
    """The column of ``spec`` a ``partition`` splits into key ranges.

    Raises:
        ConfigError: no such column, or one whose type has no ranges (not a number, date or timestamp).
    """
    col = spec.column(column, "partition")
    if col.data_type.name not in RANGE_TYPES:
        raise ConfigError(
            f"partition: column {column!r} of table {spec.qualified!r} is {col.data_type}; "
            "ranges need an integer, decimal, float, date or timestamp column",
            table=spec.name,
        )
    return col
