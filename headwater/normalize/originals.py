"""The batch as it came in, for the quarantine's ``row`` and scd2's row hashes, masked columns masked."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import pyarrow as pa

from headwater.normalize import jsontext
from headwater.normalize.jsonlines import JsonRows
from headwater.normalize.masking import Masker


class Originals:
    """The batch as it came in (dict rows, an Arrow table, or JSON lines), for hashing and quarantine."""

    def __init__(self, data: list[dict[str, Any]] | pa.Table | JsonRows, masker: Masker | None = None) -> None:
        self.data = data
        self.masker = masker

    def __len__(self) -> int:
        return self.data.num_rows if isinstance(self.data, pa.Table) else len(self.data)

    def row(self, i: int) -> Any:
        """Row ``i`` as a Python value, its masked columns masked."""
        data = self.data
        if isinstance(data, list):
            row = data[i]
        elif isinstance(data, JsonRows):
            row = data.row(i)
        else:
            row = data.slice(i, 1).to_pylist()[0]
        return row if self.masker is None else self.masker.row(row)

    def json(self, i: int) -> tuple[str, str | None]:
        """The row as JSON for ``_hw_quarantine``: ``row`` and ``exact_row``.

        ``row`` is JSON text a database takes. A row holding NaN, an infinity or a lone surrogate has
        none that says it exactly: ``row`` then holds them as the strings "NaN"... and backslash escapes
        (for people), and ``exact_row`` the literals ``NaN``... and ``\\udXXX`` escapes, which Python's
        ``json.loads`` reads back as given (the string "NaN" and a NaN stay apart). See :mod:`.jsontext`.
        """
        row = self.row(i)
        try:
            return jsontext.dumps(row), None
        except jsontext.NotJson:
            return jsontext.dumps(row, mode="readable"), jsontext.dumps(row, mode="literal")
        except TypeError:  # a type JSON has no form for: its repr, for people
            return orjson.dumps(repr(row)).decode(), None

    def hashes(self) -> pa.Array:
        """A 128-bit hash of each whole row (children included), as UUIDs: scd2 compares versions by it.

        Nulls, empty lists and empty objects load as nothing, so they hash as nothing: two rows that
        load the same are the same version.
        """
        data = self.data
        rows = data if isinstance(data, list) else data.rows() if isinstance(data, JsonRows) else data.to_pylist()
        if self.masker is not None:  # versions compare by what is loaded: the masked values
            rows = [self.masker.row(r) for r in rows]
        digests = bytearray()
        for row in rows:
            pruned = _canonical(row)
            try:
                body: bytes | None = orjson.dumps(
                    pruned, default=_hash_default, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
                )
            except TypeError:  # a big integer, a lone surrogate, deep nesting
                body = None
            if body is None or (b"null" in body and jsontext.has_nonfinite(pruned)):  # orjson wrote NaN as null
                body = jsontext.dumps(pruned, sort_keys=True, mode="literal").encode("utf-8")  # exact
            digests += hashlib.blake2b(body, digest_size=16).digest()
        storage = pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), len(rows), [None, pa.py_buffer(bytes(digests))])
        return pa.ExtensionArray.from_storage(pa.uuid(), storage)


def _canonical(value: Any) -> Any:
    """The value with nulls, empty lists and empty objects dropped from objects, at any depth (with a
    stack: rows can nest thousands of levels deep)."""
    if not isinstance(value, dict | list | tuple):
        return value
    root: list[Any] = [None]
    made: list[dict[str, Any]] = []  # objects in the order made: parents before children
    stack: list[tuple[Any, Any, Any]] = [(value, root, 0)]
    while stack:
        v, holder, key = stack.pop()
        if isinstance(v, dict):
            new: Any = {}
            made.append(new)
            stack.extend((x, new, k) for k, x in v.items())
        elif isinstance(v, list | tuple):
            new = [None] * len(v)
            stack.extend((x, new, i) for i, x in enumerate(v))
        else:
            new = v
        holder[key] = new
    for obj in reversed(made):  # children first, so an object emptied by pruning is dropped too
        for k in [k for k, x in obj.items() if x is None or x == {} or x == []]:
            del obj[k]
    return root[0]


def _hash_default(value: Any) -> Any:
    return str(value)
