"""Python values to Arrow arrays: the fast path, and the careful path for columns that mix types.

The fast path hands a whole column to ``pyarrow.array`` (C++ conversion with type inference). When
that fails because the column mixes kinds of values (``1`` and ``"a"``, a dict and a number, an
integer beyond 64 bits), :func:`split_by_kind` separates the values by kind, in order of first
appearance, each kind padded with nulls where the others are; the normalizer then places each kind
into the column or into a variant column according to the schema.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import itertools
import uuid
from collections.abc import Mapping
from typing import Any, Final

import orjson
import pyarrow as pa

from headwater.errors import DataError
from headwater.normalize import jsontext, pandas_gate

# kinds of Python values, by exact type (the common case) ...
_KIND_BY_TYPE: Final[dict[type, str]] = {
    bool: "bool",
    int: "int",
    float: "float",
    str: "str",
    dict: "dict",
    list: "list",
    tuple: "list",
    bytes: "bytes",
    bytearray: "bytes",
    decimal.Decimal: "decimal",
    dt.datetime: "datetime",
    dt.date: "date",
    dt.time: "time",
    uuid.UUID: "uuid",
}

_CONVERSION_ERRORS = (
    pa.ArrowInvalid,
    pa.ArrowTypeError,
    pa.ArrowNotImplementedError,
    OverflowError,
    TypeError,
    ValueError,
)


#: integers whose magnitude is below this fit ``decimal(38,0)``
DECIMAL_LIMIT: Final = 10**38
#: integers up to this magnitude are exactly doubles
DOUBLE_EXACT: Final = 2**53


class Unconvertible(Exception):
    """A column whose values cannot become one Arrow array as they are."""


def to_array(values: list[Any]) -> pa.Array | pa.ChunkedArray:
    """Convert a column of Python values with Arrow's inference; raise :class:`Unconvertible` on mixes.

    Arrow's inference is exact but for one case: a column it infers as double takes booleans as 1.0
    and 0.0. Such columns (and double fields nested in objects and lists) are checked for booleans,
    and a column that has them is refused so that the careful path keeps the booleans apart. Values
    nested deeper than :data:`ARROW_DEPTH` are refused too: Arrow's converter recurses on the C stack.

    A column of one plain type (ints, text, dates...) is given the type Arrow would infer: Arrow's
    inference imports pandas when it is installed (0.3-0.5 s), a conversion of known type does not.
    Nested values of a small run are refused while pandas is not loaded, to be unpacked in Python
    (:func:`.pandas_gate.walk_instead`).
    """
    kinds = set(map(type, values))
    nested = not kinds <= _SCALARS
    if nested and pandas_gate.walk_instead(len(values)):
        raise Unconvertible("unpacked in Python: Arrow's type inference would import pandas (see pandas_gate)")
    if nested and _too_deep(values):
        raise Unconvertible(f"nested deeper than {ARROW_DEPTH} levels")
    try:
        # a plain column gets the type Arrow would infer, given: no inference, and no pandas import
        plain = None if nested else _plain_type(values, kinds)
        arr = pa.array(values, from_pandas=False) if plain is None else pandas_gate.array(values, plain)
    except _CONVERSION_ERRORS as exc:
        raise Unconvertible(str(exc)) from exc
    if bool in kinds and pa.types.is_floating(arr.type):
        raise Unconvertible("booleans mixed with numbers")
    if nested and has_double(arr.type) and _bools_among_doubles(values, arr.type):
        raise Unconvertible("booleans mixed with numbers")
    return arr


#: the type Arrow's inference gives a column of values of one of these types (and None); None: all None
_PLAIN_TYPES: Final[dict[type | None, pa.DataType]] = {
    int: pa.int64(),
    float: pa.float64(),
    str: pa.string(),
    bool: pa.bool_(),
    bytes: pa.binary(),
    dt.date: pa.date32(),
    dt.time: pa.time64("us"),
    None: pa.null(),
}


def _plain_type(values: list[Any], kinds: set[type]) -> pa.DataType | None:
    """The type Arrow's inference would give ``values`` when they are of one plain type (and None),
    so that it can be given instead (see :mod:`.pandas_gate`); None for anything else."""
    present = kinds - {type(None)}
    if len(present) > 1:
        return None
    kind = next(iter(present), None)
    if kind is dt.datetime:  # Arrow takes the time zone of the first datetime
        tz = next(v for v in values if v is not None).tzinfo
        if tz is None:
            return pa.timestamp("us")
        try:
            return pa.timestamp("us", tz=pa.lib.tzinfo_to_string(tz))
        except Exception:  # a time zone Arrow cannot name: its inference fails the same way
            return None
    return _PLAIN_TYPES.get(kind)


_SCALARS: Final = frozenset(
    {type(None), bool, int, float, str, bytes, decimal.Decimal, dt.datetime, dt.date, dt.time, uuid.UUID}
)
#: the most objects and lists nested in one another (the batch's own list counted) handed to Arrow's
#: converter in one piece: orjson's own limit, so one orjson pass tells; deeper values are walked in
#: Python (and stored as JSON beyond ``MAX_DEPTH`` levels)
ARROW_DEPTH: Final = 254


def _too_deep(values: list[Any]) -> bool:
    # orjson walks the values in C and refuses more than ARROW_DEPTH levels. Plain options first
    # (non-text keys cost every object a check); then with them; then count levels in Python.
    for options in _PROBES:
        try:
            orjson.dumps(values, default=jsontext.default, option=options)
        except TypeError as exc:  # orjson.JSONEncodeError
            if "Recursion limit" in str(exc):
                return True
            continue  # another refusal (a big integer, a non-text key...)
        return False
    return depth_exceeds(values, ARROW_DEPTH - 1)  # depth_exceeds counts the batch's list as level 0


_PROBES: Final = (0, orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY)


def depth_exceeds(value: Any, limit: int) -> bool:
    """Whether ``value`` nests objects and lists more than ``limit`` levels deep (iteratively)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, Mapping):
            children: Any = v.values()
        elif isinstance(v, list | tuple):
            children = v
        else:
            continue
        if depth > limit:
            return True
        stack.extend((c, depth + 1) for c in children)
    return False


def _bools_among_doubles(values: list[Any], t: pa.DataType) -> bool:
    """Whether a boolean sits where Arrow inferred a double (walks only the paths that hold doubles)."""
    stack: list[tuple[list[Any], pa.DataType]] = [(values, t)]
    while stack:
        vals, typ = stack.pop()
        if pa.types.is_floating(typ):
            if bool in set(map(type, vals)):
                return True
        elif pa.types.is_struct(typ):
            objects = [v for v in vals if type(v) is dict or isinstance(v, Mapping)]
            stack.extend(([o.get(f.name) for o in objects], f.type) for f in typ if has_double(f.type))
        elif (pa.types.is_list(typ) or pa.types.is_large_list(typ)) and has_double(typ.value_type):
            stack.append((list(itertools.chain.from_iterable(v for v in vals if v is not None)), typ.value_type))
    return False


def has_double(t: pa.DataType) -> bool:
    """Whether values of type ``t`` hold doubles anywhere (iteratively: types can be deep)."""
    stack = [t]
    while stack:
        typ = stack.pop()
        if pa.types.is_floating(typ):
            return True
        if pa.types.is_struct(typ):
            stack.extend(f.type for f in typ)
        elif pa.types.is_list(typ) or pa.types.is_large_list(typ):
            stack.append(typ.value_type)
    return False


def safe_key(key: Any) -> str:
    """A dict key as a path component: text, with lone surrogates escaped so that it stays unique."""
    text = key if isinstance(key, str) else str(key)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def kind_of(value: Any) -> str:
    """The kind of a non-null Python value (``int``, ``str``, ``dict``, ``list``...)."""
    kind = _KIND_BY_TYPE.get(type(value))
    if kind is not None:
        return kind
    return _slow_kind(value)


def _slow_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, enum.Enum):
        return kind_of(value.value)
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, Mapping):
        return "dict"
    if isinstance(value, list | tuple | set | frozenset):
        return "list"
    if isinstance(value, dt.datetime):
        return "datetime"
    if isinstance(value, dt.date):
        return "date"
    if isinstance(value, dt.time):
        return "time"
    if isinstance(value, uuid.UUID):
        return "uuid"
    if isinstance(value, bytes | bytearray | memoryview):
        return "bytes"
    if isinstance(value, decimal.Decimal):
        return "decimal"
    # numpy scalars and similar expose .item() returning a Python value
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "shape", None) == ():
        return kind_of(item())
    return "unsupported"


def plain(value: Any, kind: str) -> Any:
    """A value of ``kind`` as the plain Python object Arrow understands."""
    if kind == "str" and not isinstance(value, str):
        if isinstance(value, enum.Enum):
            return str(value.value)
        return str(value)
    if kind == "dict" and not isinstance(value, dict):
        return dict(value)
    if kind == "list" and not isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, enum.Enum):
        return value.value
    if kind in ("int", "float", "bool") and type(value) not in (int, float, bool):
        item = getattr(value, "item", None)
        return item() if callable(item) else value
    if kind == "bytes" and not isinstance(value, bytes):
        return bytes(value)
    return value


def split_by_kind(values: list[Any]) -> dict[str, list[Any]]:
    """Split a mixed column into one list per kind, in order of first appearance.

    Every list has the length of ``values``, with None where the value is of another kind. Integers
    and floats are one kind (``float``) when both appear and every integer is exactly a double
    (|i| <= 2**53); otherwise they stay apart, so that no integer is rounded. Integers beyond
    ``decimal(38,0)`` are the kind ``hugeint``: they are kept as their digits (text).
    """
    n = len(values)
    positions: dict[str, list[int]] = {}
    kinds: list[str | None] = [None] * n
    for i, v in enumerate(values):
        if v is None:
            continue
        k = kind_of(v)
        if k == "int" and not -DECIMAL_LIMIT < v < DECIMAL_LIMIT:
            k = "hugeint"
        kinds[i] = k
        positions.setdefault(k, []).append(i)
    if "str" in positions:
        _move_unencodable_text(values, positions, kinds)
    exact = "int" in positions and all(-DOUBLE_EXACT <= values[i] <= DOUBLE_EXACT for i in positions["int"])
    if exact and "float" in positions:
        first = min(positions["int"][0], positions["float"][0])
        merged = sorted(positions.pop("int") + positions.pop("float"))
        positions["float"] = merged
        positions = dict(sorted(positions.items(), key=lambda kv: first if kv[0] == "float" else kv[1][0]))
        for i in merged:
            kinds[i] = "float"
    out: dict[str, list[Any]] = {}
    for k, idx in positions.items():
        col: list[Any] = [None] * n
        for i in idx:
            col[i] = plain(values[i], k)
        out[k] = col
    return out


def _move_unencodable_text(values: list[Any], positions: dict[str, list[int]], kinds: list[str | None]) -> None:
    """Strings with lone surrogates are not Unicode text and cannot be stored as text; they keep every
    code unit as bytes (UTF-8 with 'surrogatepass') and so land in a binary variant column."""
    bad = []
    for i in positions["str"]:
        try:
            values[i].encode("utf-8")
        except UnicodeEncodeError:
            bad.append(i)
        except AttributeError:
            continue
    if not bad:
        return
    bad_set = set(bad)
    positions["str"] = [i for i in positions["str"] if i not in bad_set]
    if not positions["str"]:
        del positions["str"]
    for i in bad:
        values[i] = values[i].encode("utf-8", "surrogatepass")
        kinds[i] = "bytes"
    positions.setdefault("bytes", []).extend(bad)
    positions["bytes"].sort()


def ints_to_array(values: list[Any]) -> pa.Array:
    """Integers, some beyond 64 bits: decimal(38,0) when they fit, else their text."""
    try:
        return pandas_gate.array(values, pa.int64())
    except _CONVERSION_ERRORS:
        pass
    if all(v is None or -DECIMAL_LIMIT < v < DECIMAL_LIMIT for v in values):
        return pandas_gate.array([None if v is None else decimal.Decimal(v) for v in values], pa.decimal128(38, 0))
    return pandas_gate.array([None if v is None else str(v) for v in values], pa.string())


def scalar_array(kind: str, values: list[Any], where: dict[str, Any]) -> pa.Array:
    """One kind of scalar values as an Arrow array."""
    if kind == "unsupported":
        sample = next(v for v in values if v is not None)
        raise DataError(
            f"a value of type {type(sample).__name__} cannot be stored: {_excerpt(sample)}",
            hint="convert it to a dict, list, string or number in the resource (or with add_map)",
            **where,
        )
    if kind == "int":
        return ints_to_array(values)
    if kind == "hugeint":
        return pandas_gate.array([None if v is None else str(v) for v in values], pa.string())
    if kind == "decimal":
        try:
            return pa.array(values)
        except _CONVERSION_ERRORS:
            return pandas_gate.array([None if v is None else str(v) for v in values], pa.string())
    try:
        plain = _plain_type(values, set(map(type, values)))
        return pa.array(values) if plain is None else pandas_gate.array(values, plain)
    except _CONVERSION_ERRORS as exc:
        raise DataError(f"cannot convert {kind} values: {exc}", **where) from exc


def to_json_text(value: Any) -> str:
    """A value as compact JSON text that decodes to the same value (see :mod:`.jsontext`).

    Raises:
        NotJson: for NaN or an infinity, which JSON cannot hold.
        TypeError: for a value of a type JSON cannot represent.
    """
    return jsontext.dumps(value)


def json_array(values: list[Any], where: dict[str, Any], rejects: dict[int, str] | None = None) -> pa.Array:
    """A column of values encoded as JSON text (None stays null).

    A value JSON cannot hold exactly (NaN, an infinity, a lone surrogate) is recorded in ``rejects`` (position ->
    reason; the caller quarantines its row) and left null; without ``rejects`` it is a DataError.
    """
    out: list[str | None] = []
    for i, v in enumerate(values):
        if v is None:
            out.append(None)
            continue
        try:
            out.append(jsontext.dumps(v))
        except jsontext.NotJson as exc:
            if rejects is None:
                raise DataError(
                    f"a value cannot be stored as JSON: {exc}",
                    hint="replace such values in the resource (add_map), or let the value be unpacked "
                    "into columns (a higher max_nesting, no json hint)",
                    **where,
                ) from exc
            column = where.get("column")
            rejects[i] = f"{exc}: the JSON column {column!r} cannot hold it" if column else str(exc)
            out.append(None)
        except TypeError as exc:
            raise DataError(f"a value cannot be encoded as JSON: {exc}", **where) from exc
    return pa.array(out, type=pa.string())


def _excerpt(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
