"""Values as JSON text, exactly, at any depth.

orjson encodes the common case fast, but it writes NaN and infinities as ``null``, refuses integers
beyond 64 bits and strings with lone surrogates, and stops at 255 levels of nesting. None of that may
change or lose a value, so :func:`dumps` checks orjson's output for the first case and falls back to
an iterative encoder for the others: big integers as their digits, decimals as JSON numbers, any
depth. NaN, infinities and strings with lone surrogates (not Unicode text; DuckDB and PostgreSQL
refuse their ``\\udXXX`` escapes) have no JSON form a database takes. Three modes say what they become:

- ``"strict"``: :class:`NotJson` is raised (callers quarantine the row);
- ``"readable"``: the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` and backslash escapes
  (``"\\\\ud800"``), valid JSON for people and databases (a quarantined row's ``row``), but the
  string ``"NaN"`` reads the same as a NaN;
- ``"literal"``: the bare literals ``NaN``, ``Infinity``, ``-Infinity`` and ``\\udXXX`` escapes, which
  Python's :func:`json.loads` reads back exactly (a quarantined row's ``exact_row``, scd2's row hash).
"""

from __future__ import annotations

import base64
import decimal
import enum
import json
import math
from collections.abc import Mapping
from typing import Any, Final, Literal

import orjson

_OPTIONS: Final = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY

Mode = Literal["strict", "readable", "literal"]


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


def dumps(value: Any, *, sort_keys: bool = False, mode: Mode = "strict") -> str:
    """``value`` as compact JSON text that decodes to the same value (``mode``: see the module).

    Raises:
        NotJson: for NaN, an infinity or a lone surrogate (``mode="strict"`` only).
        TypeError: for a value of a type JSON cannot represent.
    """
    option = _OPTIONS | (orjson.OPT_SORT_KEYS if sort_keys else 0)
    try:
        out = orjson.dumps(value, default=default, option=option)
    except TypeError:  # a big integer, a lone surrogate, deep nesting, a NaN decimal: the careful way
        return _careful(value, sort_keys=sort_keys, mode=mode)
    if b"null" in out and has_nonfinite(value):  # orjson wrote NaN or an infinity as null
        if mode == "strict":
            raise NotJson("NaN and infinities have no JSON form")
        return _careful(value, sort_keys=sort_keys, mode=mode)
    return out.decode("utf-8")


def has_nonfinite(value: Any) -> bool:
    """Whether ``value`` holds a NaN or an infinity anywhere (iteratively)."""
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


def _string(text: str, mode: Mode) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        if mode == "strict":
            raise NotJson("a string with lone surrogates is not Unicode text and has no JSON form") from None
        if mode == "literal":
            return json.dumps(text, ensure_ascii=True)  # \\udXXX escapes, read back as the surrogates
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return json.dumps(text, ensure_ascii=False)


_NONFINITE: Final = {"readable": ('"NaN"', '"Infinity"', '"-Infinity"'), "literal": ("NaN", "Infinity", "-Infinity")}


def _careful(value: Any, *, sort_keys: bool, mode: Mode) -> str:
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
            out.append(_string(v, mode))
        elif isinstance(v, int) and not isinstance(v, enum.Enum):
            out.append(int.__repr__(v))
        elif isinstance(v, float):
            if math.isfinite(v):
                out.append(float.__repr__(v))
            elif mode == "strict":
                raise NotJson("NaN and infinities have no JSON form")
            else:
                nan, inf, minus_inf = _NONFINITE[mode]
                out.append(nan if math.isnan(v) else inf if v > 0 else minus_inf)
        elif isinstance(v, Mapping):
            items = [(k if isinstance(k, str) else str(k), x) for k, x in v.items()]
            if sort_keys:
                items.sort(key=lambda kv: kv[0])
            stack.append(_Raw("}"))
            for n, (k, x) in enumerate(reversed(items)):
                stack.append(x)
                stack.append(_Raw(("" if n == len(items) - 1 else ",") + _string(k, mode) + ":"))
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
            elif mode == "strict":
                raise NotJson(f"the decimal {v} has no JSON form")
            elif mode == "literal":
                out.append("NaN" if v.is_nan() else "Infinity" if v > 0 else "-Infinity")
            else:
                out.append(f'"{v}"')
        else:
            try:
                stack.append(default(v))
            except NotJson:
                if mode == "strict":
                    raise
                stack.append(str(v))
    return "".join(out)
