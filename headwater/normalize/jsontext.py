"""Values as JSON text, exactly, at any depth.

orjson encodes the common case fast, but it writes NaN and infinities as ``null``, refuses integers
beyond 64 bits and strings with lone surrogates, and stops at 255 levels of nesting. None of that may
change or lose a value, so :func:`dumps` checks orjson's output for the first case and falls back to
an iterative encoder for the others: big integers as their digits, decimals as JSON numbers, any
depth. NaN, infinities and strings with lone surrogates (not Unicode text; DuckDB and PostgreSQL
refuse their ``\\udXXX`` escapes) have no JSON form a database takes: they raise :class:`NotJson`
(callers quarantine the row), or, for text that people read (``readable=True``: quarantined rows),
become the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` and backslash escapes (``"\\\\ud800"``).
"""

from __future__ import annotations

import base64
import decimal
import enum
import json
import math
from collections.abc import Mapping
from typing import Any, Final

import orjson

_OPTIONS: Final = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


class NotJson(ValueError):
    """A value has no exact JSON form a database takes (NaN, an infinity, a lone surrogate)."""


def default(value: Any) -> Any:
    """What orjson (and the careful encoder) write for types JSON does not have."""
    if isinstance(value, decimal.Decimal):
        if value.is_finite():
            return orjson.Fragment(str(value))
        raise NotJson(f"the decimal {value} has no JSON form")
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return dict(value)
    item = getattr(value, "item", None)
    if callable(item):
        return item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(value: Any, *, sort_keys: bool = False, readable: bool = False) -> str:
    """``value`` as compact JSON text that decodes to the same value.

    Raises:
        NotJson: for NaN, an infinity or a lone surrogate (unless ``readable``).
        TypeError: for a value of a type JSON cannot represent.
    """
    option = _OPTIONS | (orjson.OPT_SORT_KEYS if sort_keys else 0)
    try:
        out = orjson.dumps(value, default=default, option=option)
    except TypeError:  # a big integer, a lone surrogate, deep nesting, a NaN decimal: the careful way
        return _careful(value, sort_keys=sort_keys, readable=readable)
    if b"null" in out and _has_nonfinite(value):  # orjson wrote NaN or an infinity as null
        if not readable:
            raise NotJson("NaN and infinities have no JSON form")
        return _careful(value, sort_keys=sort_keys, readable=readable)
    return out.decode("utf-8")


def _has_nonfinite(value: Any) -> bool:
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, float):
            if not math.isfinite(v):
                return True
        elif isinstance(v, Mapping):
            stack.extend(v.values())
        elif isinstance(v, list | tuple | set | frozenset):
            stack.extend(v)
        elif hasattr(v, "dtype") and getattr(v, "shape", None) is not None:  # numpy values
            try:
                import numpy as np

                if not np.all(np.isfinite(np.asarray(v, dtype=float))):
                    return True
            except (TypeError, ValueError):
                continue
    return False


class _Raw(str):
    """Text already in JSON form (punctuation, keys) on the encoder's stack."""


def _string(text: str, readable: bool) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        if not readable:
            raise NotJson("a string with lone surrogates is not Unicode text and has no JSON form") from None
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return json.dumps(text, ensure_ascii=False)


def _careful(value: Any, *, sort_keys: bool, readable: bool) -> str:
    out: list[str] = []
    stack: list[Any] = [value]
    while stack:
        v = stack.pop()
        if type(v) is _Raw:
            out.append(v)
        elif v is None:
            out.append("null")
        elif v is True:
            out.append("true")
        elif v is False:
            out.append("false")
        elif isinstance(v, str):
            out.append(_string(v, readable))
        elif isinstance(v, int) and not isinstance(v, enum.Enum):
            out.append(int.__repr__(v))
        elif isinstance(v, float):
            if math.isfinite(v):
                out.append(float.__repr__(v))
            elif not readable:
                raise NotJson("NaN and infinities have no JSON form")
            else:
                out.append('"NaN"' if math.isnan(v) else '"Infinity"' if v > 0 else '"-Infinity"')
        elif isinstance(v, Mapping):
            items = [(k if isinstance(k, str) else str(k), x) for k, x in v.items()]
            if sort_keys:
                items.sort(key=lambda kv: kv[0])
            stack.append(_Raw("}"))
            for n, (k, x) in enumerate(reversed(items)):
                stack.append(x)
                stack.append(_Raw(("" if n == len(items) - 1 else ",") + _string(k, readable) + ":"))
            stack.append(_Raw("{"))
        elif isinstance(v, list):
            stack.append(_Raw("]"))
            for n, x in enumerate(reversed(v)):
                stack.append(x)
                if n != len(v) - 1:
                    stack.append(_Raw(","))
            stack.append(_Raw("["))
        elif isinstance(v, decimal.Decimal):
            if v.is_finite():
                out.append(str(v))
            elif not readable:
                raise NotJson(f"the decimal {v} has no JSON form")
            else:
                out.append(f'"{v}"')
        else:
            try:
                stack.append(default(v))
            except NotJson:
                if not readable:
                    raise
                stack.append(str(v))
    return "".join(out)
