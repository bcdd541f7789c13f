"""The naming convention: how source keys become table and column identifiers.

The default convention is ``snake_case``:

* Unicode is normalized (NFC) and lower-cased; letters and digits of any script are kept
  (``"Größe"`` becomes ``"größe"``), every other run of characters becomes one ``_``;
* ``camelCase`` and ``PascalCase`` are split (``"userId"`` -> ``"user_id"``, ``"HTTPCode"`` -> ``"http_code"``);
* runs of underscores collapse to one, so ``__`` only ever separates a nested path
  (``{"a": {"b": 1}}`` -> column ``a__b``; a child table of ``events`` at ``labels`` is ``events__labels``);
* trailing underscores are dropped, a leading underscore is kept (``"_id"`` stays ``"_id"``);
* a name that starts with a digit gets a leading ``_``; an empty name becomes ``_``.

Different keys that end up with the same identifier (``"userId"`` and ``"user_id"``) are kept apart
deterministically: the first one seen in the data keeps the name, the next ones get ``_2``, ``_3``...
The mapping from source path to identifier is stored in the schema, so it is stable across runs.
Names that start with ``_hw_`` are reserved for Headwater's system columns and tables: a source key
that would take one as a column gets a suffix (``_hw_id`` -> ``_hw_id_2``, a data column); table names
are checked in :mod:`headwater.names` (a declared ``_hw_`` table is refused, one that comes from the
data becomes ``hw_...``; names over 200 bytes are refused or shortened the same way).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterable
from functools import lru_cache
from typing import Final

from headwater.schema.system import SYSTEM_PREFIX

PATH_SEPARATOR: Final = "__"

_CAMEL_1 = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_CAMEL_2 = re.compile(r"(?<=[A-Z])(?=[A-Z][a-z])")
_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)
_UNDERSCORES = re.compile(r"_{2,}")


@lru_cache(maxsize=65536)
def snake_case(name: str) -> str:
    """Normalize one identifier component with the snake_case convention."""
    text = unicodedata.normalize("NFC", str(name)).strip()
    text = _CAMEL_2.sub("_", _CAMEL_1.sub("_", text))
    text = _NON_WORD.sub("_", text.lower())
    leading = "_" if text.startswith("_") else ""
    text = _UNDERSCORES.sub("_", text).strip("_")
    text = leading + text
    if not text:
        return "_"
    if text[0].isdigit():
        text = "_" + text
    return text


def join_path(parts: Iterable[str]) -> str:
    """Join already-normalized components into a nested identifier (``a__b``)."""
    return PATH_SEPARATOR.join(parts)


def is_system_name(name: str) -> bool:
    """Whether ``name`` is reserved for Headwater (``_hw_`` prefix)."""
    return name.startswith(SYSTEM_PREFIX)


def deduplicate(candidate: str, taken: Collection[str]) -> str:
    """Return ``candidate`` or, if it is taken or reserved, the first free ``candidate_N`` (N >= 2)."""
    if candidate not in taken and not is_system_name(candidate):
        return candidate
    n = 2
    while f"{candidate}_{n}" in taken:
        n += 1
    return f"{candidate}_{n}"
