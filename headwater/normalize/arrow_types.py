"""Mapping between Arrow types and Headwater types, and the canonical Arrow form of each type."""

from __future__ import annotations

import pyarrow as pa

from headwater.schema.types import MAX_DECIMAL_PRECISION, DataType

TIMESTAMP = pa.timestamp("us", tz="UTC")

_CANONICAL: dict[str, pa.DataType] = {
    "bigint": pa.int64(),
    "double": pa.float64(),
    "bool": pa.bool_(),
    "text": pa.string(),
    "timestamp": TIMESTAMP,
    "date": pa.date32(),
    "time": pa.time64("us"),
    "binary": pa.binary(),
    "uuid": pa.uuid(),
    "json": pa.string(),
}


def to_arrow(data_type: DataType) -> pa.DataType:
    """The Arrow type a column of ``data_type`` is written with."""
    if data_type.name == "decimal":
        return pa.decimal128(data_type.precision or 38, data_type.scale or 0)
    return _CANONICAL[data_type.name]


def from_arrow(t: pa.DataType) -> DataType | None:
    """The Headwater type of a scalar Arrow type; None for the null type.

    Raises:
        TypeError: for nested types (callers flatten those first) and types Headwater cannot store.
    """
    if pa.types.is_null(t):
        return None
    if is_uuid(t):
        return DataType("uuid")
    if pa.types.is_boolean(t):
        return DataType("bool")
    if pa.types.is_integer(t):
        if t == pa.uint64():
            return DataType("decimal", 20, 0)
        return DataType("bigint")
    if pa.types.is_floating(t):
        return DataType("double")
    if pa.types.is_decimal(t):
        if t.precision > MAX_DECIMAL_PRECISION:
            return DataType("text")
        return DataType("decimal", t.precision, t.scale)
    if pa.types.is_string(t) or pa.types.is_large_string(t) or _is_string_view(t):
        return DataType("text")
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return DataType("binary")
    if pa.types.is_timestamp(t):
        return DataType("timestamp")
    if pa.types.is_date(t):
        return DataType("date")
    if pa.types.is_time(t):
        return DataType("time")
    if pa.types.is_duration(t):
        return DataType("bigint")
    if pa.types.is_dictionary(t):
        return from_arrow(t.value_type)
    raise TypeError(f"Arrow type {t} cannot be stored as a Headwater scalar")


def is_uuid(t: pa.DataType) -> bool:
    """Whether ``t`` is the Arrow UUID extension type."""
    return getattr(t, "extension_name", None) == "arrow.uuid"


def _is_string_view(t: pa.DataType) -> bool:
    check = getattr(pa.types, "is_string_view", None)
    return bool(check and check(t))


def is_list_like(t: pa.DataType) -> bool:
    """Whether ``t`` is a list, large list, fixed-size list, list view or map type."""
    return (
        pa.types.is_list(t)
        or pa.types.is_large_list(t)
        or pa.types.is_fixed_size_list(t)
        or pa.types.is_map(t)
        or _is_list_view(t)
    )


def _is_list_view(t: pa.DataType) -> bool:
    check = getattr(pa.types, "is_list_view", None)
    check_large = getattr(pa.types, "is_large_list_view", None)
    return bool((check and check(t)) or (check_large and check_large(t)))


def nesting_depth(t: pa.DataType) -> int:
    """How many levels of objects/lists a value of type ``t`` has (scalars: 0).

    A list of objects counts as one level: the objects become the rows of the child table. Computed
    with a stack, not recursion: types can be nested thousands of levels deep.
    """
    deepest = 0
    stack: list[tuple[pa.DataType, int]] = [(t, 0)]
    while stack:
        typ, depth = stack.pop()
        if pa.types.is_dictionary(typ):
            stack.append((typ.value_type, depth))
        elif pa.types.is_struct(typ):
            deepest = max(deepest, depth + 1)
            stack.extend((f.type, depth + 1) for f in typ)
        elif is_list_like(typ):
            deepest = max(deepest, depth + 1)
            elem = _list_value_type(typ)
            if pa.types.is_struct(elem):
                stack.extend((f.type, depth + 1) for f in elem)
            else:
                stack.append((elem, depth + 1))
    return deepest


def _list_value_type(t: pa.DataType) -> pa.DataType:
    if pa.types.is_map(t):
        return pa.struct([pa.field("key", t.key_type), pa.field("value", t.item_type)])
    return t.value_type
