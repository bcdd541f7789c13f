"""Finding values in JSON responses: record selectors, cursors, totals, next-page URLs.

Paths are JSONPath. The plain dotted form (``data.items``, ``$.meta.total``, ``links.next``) is read by
direct lookups; anything richer (``$..items``, ``data[*].nodes``, filters) is compiled once with
jsonpath-ng.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import Any

from headwater.errors import ConfigError
from headwater.optional import require

_DOTTED = re.compile(r"^(\$\.)?[A-Za-z_@\-][\w@\-]*(\.[A-Za-z_@\-][\w@\-]*)*$")

#: keys an API commonly wraps its list of records in, tried in this order when no selector is given
RECORD_KEYS = ("data", "items", "results", "records", "entries", "values", "value", "rows", "objects", "hits")


@functools.lru_cache(maxsize=512)
def path_of(path: str) -> Callable[[Any], list[Any]]:
    """A function returning every match of ``path`` in a document (validates the path)."""
    if not isinstance(path, str) or not path:
        raise ConfigError(f"a JSON path must be a non-empty string, got {path!r}")
    if path == "$":
        return lambda doc: [doc]
    if _DOTTED.match(path):
        keys = tuple(path.removeprefix("$.").split("."))

        def dotted(doc: Any) -> list[Any]:
            for key in keys:
                if not isinstance(doc, Mapping) or key not in doc:
                    return []
                doc = doc[key]
            return [doc]

        return dotted
    parse = require("jsonpath_ng.ext", f"the JSON path {path!r}", extra="rest", package="jsonpath-ng").parse
    try:
        compiled = parse(path)
    except Exception as exc:
        raise ConfigError(f"invalid JSON path {path!r}: {exc}") from exc
    return lambda doc: [m.value for m in compiled.find(doc)]


def find(doc: Any, path: str) -> Any:
    """The first value at ``path`` in ``doc``, or None."""
    found = path_of(path)(doc)
    return found[0] if found else None


def select_records(body: Any, selector: str | None) -> list[Any]:
    """The records of a response body.

    With a selector: what it finds (a list found is the records; several matches are concatenated).
    Without: a list body is the records; an object body's records are under the first of
    :data:`RECORD_KEYS` (one level down too, e.g. ``{"data": {"items": [...]}}``) or its only list of
    objects (empty or not); otherwise the object itself is the one record.
    """
    if body is None:
        return []
    if selector is not None:
        out: list[Any] = []
        for match in path_of(selector)(body):
            if isinstance(match, list):
                out.extend(match)
            elif match is not None:
                out.append(match)
        return out
    if isinstance(body, list):
        return body
    if isinstance(body, Mapping):
        found = _auto(body)
        if found is not None:
            return found
        return [body]
    return [body]


def _auto(body: Mapping[str, Any], depth: int = 0) -> list[Any] | None:
    for key in RECORD_KEYS:
        value = body.get(key)
        if isinstance(value, list):
            return value
        if isinstance(value, Mapping) and depth == 0:
            inner = _auto(value, depth + 1)
            if inner is not None:
                return inner
    lists = [v for v in body.values() if isinstance(v, list) and all(isinstance(x, Mapping) for x in v)]
    if len(lists) == 1:
        return lists[0]
    return None
