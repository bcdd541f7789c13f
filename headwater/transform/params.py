"""Parameters of a transform query (transform= and Hippo's transformer): bound, never formatted into SQL.

Hippo formats ``kwargs`` into its SQL with ``str.format``, so a value such as
``x'; DROP TABLE t; --`` becomes SQL. Here every value is a bound parameter of a prepared statement:

* ``$name`` takes its value from the transform's ``params`` mapping;
* Hippo's ``{name}`` (outside quotes) becomes ``$name`` with the value of ``kwargs[name]``; ``{{`` and
  ``}}`` are Hippo's escapes for ``{`` and ``}``; a brace that opens no placeholder (a DuckDB struct
  literal ``{'a': 1}``) is left alone;
* a quoted string literal is data and stays as written, with one exception that keeps Hippo's
  ``WHERE day = '{day}'`` working: a literal holding a ``{name}`` placeholder whose name is a kwarg is
  rebuilt as a concatenation of its text and the bound value as text
  (``'{day}'`` -> ``CAST($day AS VARCHAR)``, ``'x_{n}'`` -> ``('x_' || CAST($n AS VARCHAR))``), which
  is what Hippo's formatting meant, without the value ever becoming SQL;
* ``"quoted identifiers"``, ``-- comments``, ``/* comments */`` and ``$$dollar quoted$$`` strings are
  skipped.

A value can never be an identifier (a column or table name) this way; that is on purpose.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from headwater.errors import ConfigError, did_you_mean

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def bind_sql(
    sql: str, params: Mapping[str, Any] | None = None, kwargs: Mapping[str, Any] | None = None
) -> tuple[str, dict[str, Any]]:
    """Rewrite a query's placeholders into bound parameters.

    Args:
        sql: the query text.
        params: values of ``$name`` parameters.
        kwargs: values of Hippo's ``{name}`` placeholders (bound as ``$name``).

    Returns:
        The query with ``$name`` parameters only, and the values of the parameters it uses.

    Raises:
        ConfigError: a placeholder or parameter without a value, a ``{name}`` whose kwarg and
            ``$name`` param disagree, a format spec (``{x:>5}``), or an unterminated quote or comment.
    """
    params = dict(params or {})
    formatting = kwargs is not None
    kwargs = dict(kwargs or {})
    for key in (*params, *kwargs):
        if not isinstance(key, str) or not _IDENT.fullmatch(key):
            raise ConfigError(
                f"query parameter name {key!r} is not a name",
                hint="use letters, digits and _ (not starting with a digit)",
            )
    for key in params.keys() & kwargs.keys():
        if params[key] is not kwargs[key] and params[key] != kwargs[key]:
            raise ConfigError(f"query parameter {key!r} has one value in params and another in kwargs")
    values = {**params, **kwargs}
    used: dict[str, Any] = {}
    out: list[str] = []
    depth = 0  # braces of SQL (struct literals) open here: their } is SQL too
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c == "'":
            end = _quoted_end(sql, i, "'")
            literal = sql[i : end + 1]
            out.append(_literal(literal, kwargs, used) if formatting else literal)
            i = end + 1
        elif c == '"':
            end = _quoted_end(sql, i, '"')
            out.append(sql[i : end + 1])
            i = end + 1
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            end = n if end < 0 else end
            out.append(sql[i:end])
            i = end
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            if end < 0:
                raise ConfigError("the query has a /* comment that is not closed")
            out.append(sql[i : end + 2])
            i = end + 2
        elif c == "$":
            i = _dollar(sql, i, values, used, out)
        elif formatting and c == "{":
            i, opened = _brace(sql, i, kwargs, used, out)
            depth += opened
        elif formatting and c == "}" and depth:
            out.append("}")
            depth -= 1
            i += 1
        elif formatting and sql.startswith("}}", i):
            out.append("}")
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out), used


def _quoted_end(sql: str, start: int, quote: str) -> int:
    """The index of the quote closing the literal or identifier opened at ``start`` (doubled quotes
    are part of it)."""
    i = start + 1
    while True:
        end = sql.find(quote, i)
        if end < 0:
            kind = "string literal" if quote == "'" else "quoted identifier"
            raise ConfigError(f"the query has a {kind} that is not closed: {sql[start : start + 40]!r}")
        if sql.startswith(quote * 2, end):
            i = end + 2
            continue
        return end


def _dollar(sql: str, i: int, values: Mapping[str, Any], used: dict[str, Any], out: list[str]) -> int:
    """A ``$name`` parameter, a ``$$ ... $$`` string or a lone ``$``; returns where scanning goes on."""
    tag = _DOLLAR_TAG.match(sql, i)
    if tag is not None:  # a dollar-quoted string: copied as it is
        end = sql.find(tag.group(0), tag.end())
        if end < 0:
            raise ConfigError(f"the query has a dollar-quoted string that is not closed: {tag.group(0)}")
        stop = end + len(tag.group(0))
        out.append(sql[i:stop])
        return stop
    name = _IDENT.match(sql, i + 1)
    if name is None:
        digits = _digits_end(sql, i + 1)
        if digits > i + 1:
            raise ConfigError(
                f"the query uses a positional parameter {sql[i:digits]}",
                hint="name it ($name) and give its value in params",
            )
        out.append("$")
        return i + 1
    key = name.group(0)
    if key not in values:
        raise ConfigError(
            f"the query uses the parameter ${key} but no value is given for it",
            hint=f"add {key!r} to the transform's params; " + did_you_mean(key, values, listing="given"),
        )
    used[key] = values[key]
    out.append(f"${key}")
    return name.end()


def _digits_end(sql: str, i: int) -> int:
    """The index after the digits starting at ``i``."""
    while i < len(sql) and sql[i].isdigit():
        i += 1
    return i


def _brace(sql: str, i: int, kwargs: Mapping[str, Any], used: dict[str, Any], out: list[str]) -> tuple[int, bool]:
    """``{{``, a ``{name}`` placeholder, or a brace of SQL (a struct literal); returns where scanning
    goes on and whether a brace of SQL was opened."""
    if sql.startswith("{{", i):
        out.append("{")
        return i + 2, False
    found = _PLACEHOLDER.match(sql, i)
    key = _placeholder_name(found.group(1)) if found is not None else None
    if found is None or key is None:  # not a placeholder: SQL such as {'a': 1}
        out.append("{")
        return i + 1, True
    if key not in kwargs:
        raise ConfigError(
            f"the query has the placeholder {{{key}}} but the transform's kwargs give no {key!r}",
            hint=f"add {key!r} to kwargs, or write {{{{{key}}}}} for literal braces; "
            + did_you_mean(key, kwargs, listing="kwargs"),
        )
    used[key] = kwargs[key]
    out.append(f"${key}")
    return found.end(), False


def _placeholder_name(body: str) -> str | None:
    """The name of a ``{...}`` placeholder, None when the braces hold SQL, a ConfigError for format specs."""
    head = re.match(r"[A-Za-z_][A-Za-z0-9_]*|\d+", body)
    if head is None:
        return None
    rest = body[head.end() :]
    if rest and rest[0] not in ":!.[":
        return None  # e.g. {'a': 1} never gets here; {a b} is not a placeholder either
    if head.group(0).isdigit() or rest:
        raise ConfigError(
            f"the query placeholder {{{body}}} is not a plain name",
            hint="placeholders are bound as parameters: write {name}; positions, format specs and "
            "attribute access are not supported",
        )
    return head.group(0)


def _literal(literal: str, kwargs: Mapping[str, Any], used: dict[str, Any]) -> str:
    """A string literal, or, when it holds ``{name}`` placeholders naming kwargs, the concatenation of
    its text and the bound values as text."""
    inner = literal[1:-1].replace("''", "'")
    names = [m.group(1) for m in _PLACEHOLDER.finditer(_without_escapes(inner))]
    if not any(name in kwargs for name in names):
        return literal
    pieces: list[str] = []
    text: list[str] = []
    i, n = 0, len(inner)
    while i < n:
        if inner.startswith("{{", i) or inner.startswith("}}", i):
            text.append(inner[i])
            i += 2
            continue
        found = _PLACEHOLDER.match(inner, i) if inner[i] == "{" else None
        if found is None:
            text.append(inner[i])
            i += 1
            continue
        key = _placeholder_name(found.group(1))
        if key is None or key not in kwargs:
            raise ConfigError(
                f"the string literal {literal!r} has the placeholder {{{found.group(1)}}} but the "
                f"transform's kwargs give no {found.group(1)!r}",
                hint="add it to kwargs, or double the braces ({{ }}) to keep them as text",
            )
        if text:
            pieces.append("'" + "".join(text).replace("'", "''") + "'")
            text = []
        used[key] = kwargs[key]
        pieces.append(f"CAST(${key} AS VARCHAR)")
        i = found.end()
    if text:
        pieces.append("'" + "".join(text).replace("'", "''") + "'")
    return pieces[0] if len(pieces) == 1 else "(" + " || ".join(pieces) + ")"


def _without_escapes(text: str) -> str:
    """``text`` with ``{{`` and ``}}`` blanked, so that they are not taken for placeholders."""
    return text.replace("{{", "  ").replace("}}", "  ")
