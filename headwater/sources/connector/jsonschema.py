"""JSON Schema, as Singer SCHEMA messages and Airbyte catalogs describe a stream, to column hints.

Only what a type hint can say is taken; the rest is left to the normalizer, which infers from values:

=========================================  ==================================================
JSON Schema                                column hint
=========================================  ==================================================
``string`` with ``format: date-time``      ``timestamp``
``string`` with ``format: date``           ``date``
``string`` with ``format: time``           ``time``
``string`` (other formats, or none)        ``text``
``integer``                                ``bigint``
``number`` with ``multipleOf`` (``0.01``)  ``decimal(38, 2)`` (the scale from ``multipleOf``)
``number``                                 ``double``
``boolean``                                ``bool``
``object`` with ``properties``             its properties, flattened (``address__city``)
``object`` without ``properties``          none: the normalizer flattens what comes
``array``                                  none: a list becomes a child table
several types (``["string", "integer"]``)  none (a variant column if values disagree)
=========================================  ==================================================

Airbyte's ``airbyte_type`` refines a type: ``integer`` (on ``number``) is ``bigint``;
``timestamp_with_timezone`` and ``timestamp_without_timezone`` are ``timestamp``, ``date`` is
``date``, ``time_with_timezone`` and ``time_without_timezone`` are ``time`` (on ``string``).

``null`` in a type list (``["null", "string"]``) and ``anyOf`` with a ``null`` branch only make the
column nullable (every column is, unless a hint says otherwise).
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from typing import Any

from headwater.schema.naming import join_path

_FORMATS = {"date-time": "timestamp", "date": "date", "time": "time"}
_AIRBYTE = {
    ("number", "integer"): "bigint",
    ("integer", "integer"): "bigint",
    ("string", "timestamp_with_timezone"): "timestamp",
    ("string", "timestamp_without_timezone"): "timestamp",
    ("string", "date"): "date",
    ("string", "time_with_timezone"): "time",
    ("string", "time_without_timezone"): "time",
}
_SIMPLE = {"integer": "bigint", "number": "double", "boolean": "bool", "string": "text"}
#: nested objects flattened at most this deep (the normalizer's own default nesting)
MAX_DEPTH = 10


def column_hints(schema: Mapping[str, Any], *, max_depth: int = MAX_DEPTH) -> dict[str, str]:
    """Column types (``{"address__city": "text", "amount": "decimal(38,2)"}``) for an object schema's
    properties; columns whose type JSON Schema does not settle are left out."""
    out: dict[str, str] = {}
    _object(schema, (), out, max_depth)
    return out


def _object(schema: Mapping[str, Any], path: tuple[str, ...], out: dict[str, str], depth: int) -> None:
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return
    for name, prop in properties.items():
        if not isinstance(prop, Mapping):
            continue
        here = (*path, str(name))
        kind, prop = _kind(prop)
        if kind == "object":
            if isinstance(prop.get("properties"), Mapping) and prop["properties"] and depth > 0:
                _object(prop, here, out, depth - 1)
            elif depth <= 0:
                out[join_path(here)] = "json"
            continue
        hint = _hint(kind, prop)
        if hint is not None:
            out[join_path(here)] = hint


def _kind(prop: Mapping[str, Any]) -> tuple[str | None, Mapping[str, Any]]:
    """The one non-null type of a property (and the branch that has it), or None."""
    for key in ("anyOf", "oneOf"):
        branches = prop.get(key)
        if isinstance(branches, list):
            real = [b for b in branches if isinstance(b, Mapping) and _types(b) != ["null"]]
            if len(real) == 1:
                return _kind(real[0])
            return None, prop
    types = [t for t in _types(prop) if t != "null"]
    return (types[0] if len(types) == 1 else None), prop


def _types(prop: Mapping[str, Any]) -> list[str]:
    given = prop.get("type")
    if isinstance(given, str):
        return [given]
    if isinstance(given, list):
        return [t for t in given if isinstance(t, str)]
    return []


def _hint(kind: str | None, prop: Mapping[str, Any]) -> str | None:
    airbyte = _AIRBYTE.get((kind or "", str(prop.get("airbyte_type", ""))))
    if airbyte is not None:
        return airbyte
    if kind == "string":
        return _FORMATS.get(str(prop.get("format", "")), "text")
    if kind == "number" and prop.get("multipleOf") is not None:
        scale = _scale(prop["multipleOf"])
        if scale is not None:
            return f"decimal(38,{scale})"
    return _SIMPLE.get(kind or "")


def _scale(multiple_of: Any) -> int | None:
    """The decimal places of ``multipleOf`` (``0.01``: 2; ``1e-8``: 8), when it is a power of ten."""
    try:
        exponent = decimal.Decimal(str(multiple_of)).normalize().as_tuple()
    except decimal.InvalidOperation:
        return None
    if exponent.digits != (1,) or not isinstance(exponent.exponent, int) or exponent.exponent > 0:
        return None
    scale = -exponent.exponent
    return scale if scale <= 38 else None


_ARROW_SCALARS = {"string": "string", "integer": "int64", "number": "float64", "boolean": "bool_"}


def arrow_type(schema: Mapping[str, Any], *, max_depth: int = MAX_DEPTH) -> Any:
    """The Arrow struct type an object schema declares (for :func:`~headwater.normalize.jsonlines.read_json_rows`):
    ``string`` as text, ``integer`` as int64, ``number`` as double, ``boolean``, objects with
    ``properties`` as structs and arrays with ``items`` as lists, up to ``max_depth`` levels; a property
    of several types, or none, is left out (inferred from the values). None when nothing is declared."""
    import pyarrow as pa

    def declare(prop: Mapping[str, Any], depth: int) -> Any:
        kind, prop = _kind(prop)
        if kind in _ARROW_SCALARS:
            return getattr(pa, _ARROW_SCALARS[kind])()
        if depth <= 0:
            return None
        if kind == "object":
            return struct(prop, depth - 1)
        items = prop.get("items")
        if kind == "array" and isinstance(items, Mapping):
            item = declare(items, depth - 1)
            return None if item is None else pa.list_(item)
        return None

    def struct(obj: Mapping[str, Any], depth: int) -> Any:
        properties = obj.get("properties")
        if not isinstance(properties, Mapping):
            return None
        fields = []
        for name, prop in properties.items():
            t = declare(prop, depth) if isinstance(prop, Mapping) else None
            if t is not None:
                fields.append(pa.field(str(name), t))
        return pa.struct(fields) if fields else None

    return struct(schema, max_depth)
