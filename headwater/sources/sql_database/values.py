"""Values in a column's target type exactly, or a refusal that says which value did not fit.

Drivers hand over what the database holds: Python values from a DB-API cursor (an ``int`` that may be
a ``float`` in SQLite, a ``timedelta`` for a MySQL ``TIME``, ``bytes`` for a ``BIT``), or Arrow arrays
from ADBC (``int64`` for a SQLite ``BOOLEAN``, ``float`` for PostgreSQL's ``real``). Arrow's own
conversions are not all exact (``pa.array([1.5], type=pa.int64())`` is ``[1]``, a cast of ``2`` to
``bool`` is ``true``), so every conversion that could change a value goes through this module: one
function per target family, each either exact or raising :class:`Refused`.

The common case stays vectorized: a column whose Python values are all of the kind Arrow converts
exactly (``int`` into ``int64``, ``Decimal`` into ``decimal128``...) is one ``pa.array`` call; Python
touches single values only for the rest.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
import uuid
from collections.abc import Callable
from typing import Any, Final

import pyarrow as pa

from headwater.normalize import pandas_gate
from headwater.normalize.arrow_types import is_uuid
from headwater.normalize.compute import pc

#: spellings a boolean column may hold as text (SQLite keeps what it was given), lower case
TRUE_TEXT: Final = ("1", "1.0", "true", "t", "yes", "y", "on")
FALSE_TEXT: Final = ("0", "0.0", "false", "f", "no", "n", "off")
_DAY_US: Final = 86_400_000_000
#: what a time must be (a MySQL TIME is a duration of up to 838 hours, either sign)
TIME_OF_DAY: Final = "a time of day (00:00:00 to 23:59:59.999999)"


class Refused(ValueError):
    """A value has no exact form in the target type.

    Args:
        value: the value.
        what: why it has none, for the message.
    """

    def __init__(self, value: Any, what: str) -> None:
        super().__init__(what)
        self.value = value
        self.what = what


def family(t: pa.DataType) -> str:
    """The kind of target a conversion is chosen by."""
    if is_uuid(t):
        return "uuid"
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_integer(t):
        return "int"
    if pa.types.is_floating(t):
        return "float"
    if pa.types.is_decimal(t):
        return "decimal"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "text"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return "binary"
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_time(t):
        return "time"
    return "other"


#: the Python types Arrow converts into each family exactly, in one call
NATIVE: Final[dict[str, frozenset[type]]] = {
    "int": frozenset({int}),
    "float": frozenset({float}),
    "bool": frozenset({bool}),
    "text": frozenset({str}),
    "binary": frozenset({bytes}),
    "decimal": frozenset({decimal.Decimal, int}),  # a Decimal with more digits than the scale raises
    "timestamp": frozenset({dt.datetime}),
    "date": frozenset({dt.date}),
    "time": frozenset({dt.time}),
}


# -- one value at a time ----------------------------------------------------------------------------
def _int(v: Any) -> int:
    if isinstance(v, int):
        return int(v)
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, decimal.Decimal) and v.is_finite() and v == v.to_integral_value():
        return int(v)
    if isinstance(v, str):
        try:
            return int(v.strip())
        except ValueError:
            pass
    raise Refused(v, "a whole number")


def _float(v: Any) -> float:
    if isinstance(v, float):
        return v
    if isinstance(v, int | decimal.Decimal):
        f = float(v)
        if math.isfinite(f) and decimal.Decimal(f) == v:
            return f
        raise Refused(v, "a number a double holds exactly")
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            pass
    raise Refused(v, "a floating-point number")


def _bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, int | float | decimal.Decimal) and v in (0, 1):
        return bool(v)
    if isinstance(v, bytes) and len(v) == 1 and v[0] in (0, 1):  # MySQL BIT(1)
        return bool(v[0])
    if isinstance(v, str):
        low = v.strip().lower()
        if low in TRUE_TEXT:
            return True
        if low in FALSE_TEXT:
            return False
    raise Refused(v, "a boolean (0/1, true/false, yes/no, on/off)")


def _text(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, bytes | bytearray | memoryview):
        try:
            return bytes(v).decode("utf-8")
        except UnicodeDecodeError:
            raise Refused(v, "UTF-8 text") from None
    if isinstance(v, float):
        return real_text(v)
    if isinstance(v, dict | list):
        return json.dumps(v, ensure_ascii=False, separators=(",", ":"))
    if isinstance(v, bool | int | decimal.Decimal | uuid.UUID | dt.date | dt.time):
        return str(v)
    if isinstance(v, dt.timedelta):
        return duration_text(v)
    raise Refused(v, "text")


def duration_text(v: dt.timedelta) -> str:
    """A duration as MySQL writes a ``TIME``: ``100:00:00``, ``-00:00:01.500000``."""
    us = abs(v) // dt.timedelta(microseconds=1)
    seconds, micro = divmod(us, 1_000_000)
    minutes, sec = divmod(seconds, 60)
    hours, minute = divmod(minutes, 60)
    text = f"{'-' if v < dt.timedelta(0) else ''}{hours:02d}:{minute:02d}:{sec:02d}"
    return f"{text}.{micro:06d}" if micro else text


def _binary(v: Any) -> bytes:
    if isinstance(v, bytes | bytearray | memoryview):
        return bytes(v)
    if isinstance(v, str):
        return v.encode("utf-8")
    raise Refused(v, "bytes")


def _date(v: Any) -> dt.date:
    if isinstance(v, dt.datetime):
        if v.tzinfo is None and v.time() == dt.time(0):
            return v.date()
        raise Refused(v, "a date (it has a time of day)")
    if isinstance(v, dt.date):
        return v
    if isinstance(v, str):
        try:
            return dt.date.fromisoformat(v.strip())
        except ValueError:
            pass
    raise Refused(v, "a date")


def _timestamp(v: Any) -> dt.datetime:
    if isinstance(v, dt.datetime):
        return v if v.tzinfo is not None else v.replace(tzinfo=dt.UTC)
    if isinstance(v, str):
        try:
            parsed = dt.datetime.fromisoformat(v.strip())
            return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)
        except ValueError:
            pass
    raise Refused(v, "a timestamp")


def _time(v: Any) -> dt.time:
    if isinstance(v, dt.time):
        return v
    if isinstance(v, dt.timedelta):
        if dt.timedelta(0) <= v < dt.timedelta(days=1):
            return (dt.datetime.min + v).time()
        raise Refused(v, TIME_OF_DAY)
    if isinstance(v, str):
        try:
            return dt.time.fromisoformat(v.strip())
        except ValueError:
            pass
    raise Refused(v, "a time of day")


def _uuid(v: Any) -> bytes:
    try:
        if isinstance(v, uuid.UUID):
            return v.bytes
        if isinstance(v, str):
            return uuid.UUID(v).bytes
        if isinstance(v, bytes | bytearray | memoryview) and len(v) == 16:
            return bytes(v)
    except ValueError:
        pass
    raise Refused(v, "a UUID")


_CONVERT: Final[dict[str, Callable[[Any], Any]]] = {
    "int": _int,
    "float": _float,
    "bool": _bool,
    "text": _text,
    "binary": _binary,
    "date": _date,
    "timestamp": _timestamp,
    "time": _time,
    "uuid": _uuid,
}


def each(values: list[Any], target: pa.DataType, fam: str) -> pa.Array:
    """``values`` converted one by one into ``target`` (families other than decimal); Refused otherwise."""
    convert = _CONVERT[fam]
    out = [None if v is None else convert(v) for v in values]
    if fam == "uuid":
        return pa.ExtensionArray.from_storage(target, pa.array(out, type=pa.binary(16)))
    try:
        return pa.array(out, type=target, from_pandas=False)
    except (pa.ArrowInvalid, OverflowError) as exc:
        first = next((v for v, c in zip(values, out, strict=True) if c is not None and _overflows(c, target)), None)
        raise Refused(first, f"a value of {target}") from exc


def _overflows(v: Any, target: pa.DataType) -> bool:
    try:
        pa.array([v], type=target)
    except (pa.ArrowInvalid, OverflowError):
        return True
    return False


def real_text(v: float) -> str:
    """A binary float as SQLite writes it (``CAST(r AS TEXT)`` in SQLite 3.43 and later): the fewest of
    15, 16 or 17 significant digits that read back as the same float, a tie rounded away from zero as
    SQLite's printf does, always with a ``.`` in the mantissa (``0.30000000000000004``, ``1.0``,
    ``1.0e+300``). SQLite before 3.43 writes 15 digits (``0.3``)."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Inf" if v > 0 else "-Inf"
    if v == 0:
        return "-0.0" if math.copysign(1.0, v) < 0 else "0.0"  # Decimal's digits would drop the sign
    exact = decimal.Decimal(v)
    for digits in (15, 16, 17):
        rounded = decimal.Context(prec=digits, rounding=decimal.ROUND_HALF_UP).plus(exact)
        if float(rounded) == v:
            break
    return _g_format(rounded, digits)


def _g_format(d: decimal.Decimal, precision: int) -> str:
    """``d`` as printf's ``%!.<precision>g``: fixed notation unless the exponent is below -4 or at least the
    precision, trailing zeros dropped, at least one digit after the point."""
    sign, digit_tuple, _ = d.as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0") or "0"
    exponent = d.adjusted() if d else 0
    head = "-" if sign else ""
    if -4 <= exponent < precision:
        if exponent >= 0:
            whole = digits[: exponent + 1].ljust(exponent + 1, "0")
            fraction = digits[exponent + 1 :] or "0"
        else:
            whole, fraction = "0", "0" * (-exponent - 1) + digits
        return f"{head}{whole}.{fraction}"
    mantissa = f"{digits[0]}.{digits[1:] or '0'}"
    return f"{head}{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"


# -- whole Arrow arrays -----------------------------------------------------------------------------
def bool_from_text(arr: pa.Array) -> tuple[pa.Array, int | None]:
    """Text spellings of booleans as ``bool``; the index of the first value that is none of them."""
    low = pc.utf8_lower(pc.utf8_trim_whitespace(arr.cast(pa.string())))
    true = pc.is_in(low, value_set=pa.array(TRUE_TEXT))
    false = pc.is_in(low, value_set=pa.array(FALSE_TEXT))
    return _checked(arr, true, pc.or_(true, false))


def bool_from_numbers(arr: pa.Array) -> tuple[pa.Array, int | None]:
    """0 and 1 as ``bool``; the index of the first other number (Arrow would cast 2 to ``true``)."""
    true = pc.equal(arr, 1)
    return _checked(arr, true, pc.or_(true, pc.equal(arr, 0)))


def _checked(arr: pa.Array, value: pa.Array, known: pa.Array) -> tuple[pa.Array, int | None]:
    bad = pc.and_(pc.is_valid(arr), pc.invert(pc.fill_null(known, False)))
    if pc.any(bad).as_py():
        return value, int(pc.index(bad, True).as_py())
    return pc.if_else(pc.is_valid(arr), value, pa.scalar(None, pa.bool_())), None


def time_from_duration(arr: pa.Array, target: pa.DataType) -> tuple[pa.Array, int | None]:
    """Durations (a MySQL ``TIME``) as times of day; the index of the first outside 0 to 24 hours."""
    us = arr.cast(pa.duration("us")).cast(pa.int64())
    bad = pc.or_(pc.less(us, 0), pc.greater_equal(us, _DAY_US))
    if pc.any(bad).as_py():
        return arr, int(pc.index(bad, True).as_py())
    return us.cast(pa.time64("us")).cast(target), None


def float32_as_double(arr: pa.Array) -> pa.Array:
    """A single-precision float as the double nearest its shortest decimal form (``1.1f`` is ``1.1``, not
    ``1.100000023841858``): what the database prints and what a driver reading text (psycopg, pymysql) returns."""
    return arr.cast(pa.string()).cast(pa.float64())


#: ADBC's PostgreSQL driver shifts PostgreSQL's ``infinity`` and ``-infinity`` (the extreme 64-bit and 32-bit
#: values) by the 2000-01-01 epoch, with wrap-around: they land within these margins of the extremes
_INFINITE_MARGIN: Final = {"int64": 2 * 10**15, "int32": 40_000}


def infinite_index(arr: pa.Array) -> int | None:
    """The index of the first ``infinity``/``-infinity`` in a date or timestamp array from ADBC's PostgreSQL
    driver (None when there is none); real dates lie far inside PostgreSQL's range (4713 BC to 294276 AD)."""
    if len(arr) == arr.null_count:
        return None
    width = pa.int32() if pa.types.is_date32(arr.type) else pa.int64()
    raw = arr.cast(width)  # the same integers, without Python datetimes
    limit, margin = (2**31, _INFINITE_MARGIN["int32"]) if width == pa.int32() else (2**63, _INFINITE_MARGIN["int64"])
    low, high = pandas_gate.scalar(-limit + margin, width), pandas_gate.scalar(limit - 1 - margin, width)  # typed:
    bad = pc.or_(pc.less(raw, low), pc.greater(raw, high))  # pyarrow would infer a Python int's type (pandas)
    if pc.any(bad).as_py():
        return int(pc.index(bad, True).as_py())
    return None


_TIME_TEXT: Final = r"^\s*(?P<neg>-?)(?P<h>\d+):(?P<m>[0-5]\d)(?::(?P<s>[0-5]\d)(?:\.(?P<f>\d{1,6}))?)?\s*$"


def time_from_text(arr: pa.Array, target: pa.DataType) -> tuple[pa.Array, int | None]:
    """``HH:MM[:SS[.ffffff]]`` text (ISO, PostgreSQL, MySQL, SQLite) as times of day, vectorized; the index of the
    first value that is not one (MySQL's ``100:00:00`` and ``-00:00:01.5`` are durations)."""
    arr = arr.cast(pa.string())
    parts = pc.extract_regex(arr, _TIME_TEXT)
    unparsed = pc.and_(pc.is_valid(arr), pc.is_null(parts))
    if pc.any(unparsed).as_py():
        return arr, int(pc.index(unparsed, True).as_py())
    hours, minutes = (pc.struct_field(parts, k).cast(pa.int64()) for k in ("h", "m"))
    seconds = pc.utf8_lpad(pc.struct_field(parts, "s"), width=2, padding="0").cast(pa.int64())  # 12:30 is 12:30:00
    fraction = pc.utf8_rpad(pc.struct_field(parts, "f"), width=6, padding="0").cast(pa.int64())
    us = pc.add(
        pc.multiply(pc.add(pc.multiply(pc.add(pc.multiply(hours, 60), minutes), 60), seconds), 1_000_000), fraction
    )
    us = pc.if_else(pc.equal(pc.struct_field(parts, "neg"), "-"), pc.negate(us), us)
    bad = pc.or_(pc.less(us, 0), pc.greater_equal(us, _DAY_US))
    if pc.any(bad).as_py():
        return arr, int(pc.index(bad, True).as_py())
    return us.cast(pa.time64("us")).cast(target), None
