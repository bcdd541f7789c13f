"""Flattening: rows (Python dicts or Arrow tables) into the pieces of a root table and child tables.

Nested objects become columns named by their path (``actor.login`` -> ``actor__login``); lists become
child tables whose rows point at their parent row (``_hw_parent_id``) and keep their position
(``_hw_list_idx``). Lists of scalars give child rows with a ``value`` column; lists of lists give
grandchildren. Everything happens column by column with Arrow compute; Python touches single values
only for columns that mix kinds of values, for JSON-typed columns, and for columns nested deeper than
``max_nesting`` (whose deep parts are stored as JSON text, encoded from the original values).

The result is a tree of :class:`Part` objects holding unnamed, untyped :class:`Piece` arrays; the
:mod:`~headwater.normalize.placing` module turns them into columns of the schema.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import pyarrow as pa

from headwater.errors import DataError
from headwater.normalize import arrays, pandas_gate
from headwater.normalize.arrow_types import is_list_like, is_uuid, nesting_depth
from headwater.normalize.compute import pc
from headwater.normalize.values import (
    Unconvertible,
    json_array,
    safe_key,
    scalar_array,
    split_by_kind,
    to_array,
)
from headwater.schema.naming import join_path, snake_case

Path = tuple[str, ...]
_EMPTY: dict[str, Any] = {}

#: the most levels of objects and lists unpacked into columns and child tables, whatever
#: ``max_nesting`` says: deeper parts are stored as JSON text (exactly, at any depth)
MAX_DEPTH = 64


@dataclass
class Piece:
    """An array of values for one source path, before it becomes a column."""

    path: Path
    array: pa.Array
    infer: bool = False  # strings came from Python values and may be ISO-8601 timestamps
    json: bool = False  # the array holds JSON text


@dataclass
class Part:
    """The rows of one table within a batch: the root table or a child table made from a list."""

    path: Path  # for a child: the list's path relative to the parent part
    length: int
    parent: Part | None = None
    parent_index: pa.Array | None = None  # for each row, the index of its parent row
    list_idx: pa.Array | None = None  # for each row, its position in the parent's list
    pieces: list[Piece] = field(default_factory=list)
    children: list[Part] = field(default_factory=list)
    #: rows holding a value that no column can store exactly (NaN in a JSON column): row -> reason
    rejected: dict[int, str] = field(default_factory=dict)

    @property
    def is_root(self) -> bool:
        """Whether this is the root table's part."""
        return self.parent is None

    def add(self, path: Path, array: pa.Array, *, infer: bool = False, json: bool = False) -> None:
        """Add the values of one source path."""
        self.pieces.append(Piece(path, array, infer, json))

    def child(self, path: Path, parent_index: pa.Array, list_idx: pa.Array) -> Part:
        """A new child part for the list at ``path``, its rows pointing at their parent rows."""
        part = Part(path, len(parent_index), self, parent_index, list_idx)
        self.children.append(part)
        return part

    def walk(self) -> list[Part]:
        """This part and all its descendants, parents first."""
        out = [self]
        for c in self.children:
            out.extend(c.walk())
        return out


def columnize(rows: list[Any]) -> dict[Any, list[Any]]:
    """Dicts to columns: for each key (in order of first appearance), the values of every row.

    Rows that are None (or lack a key) give None. The common case, every row with the same keys, is
    handled with C-level loops only.
    """
    if not rows:
        return {}
    rows = [_EMPTY if r is None else r for r in rows]
    first = rows[0]
    width = len(first)
    union = set().union(*rows)
    if len(union) == width and all(len(r) == width for r in rows):
        return {k: list(map(itemgetter(k), rows)) for k in first}
    keys = dict.fromkeys(itertools.chain.from_iterable(rows))
    return {k: [r.get(k) for r in rows] for k in keys}


class Flattener:
    """Turns one batch of rows into a tree of parts.

    Args:
        max_nesting: levels of objects/lists unpacked before values are stored as JSON (None: up to
            :data:`MAX_DEPTH`).
        json_columns: root-table column names stored as JSON text rather than unpacked.
        infer_strings: whether text values may be detected as timestamps (True for Python rows).
        where: resource/table, for error messages.
        untyped_nulls: an Arrow array of nulls only carries no type (as for Python values): True for
            Arrow tables read from JSON, whose declared types are no more than a parsing aid.
    """

    def __init__(
        self,
        *,
        max_nesting: int | None,
        json_columns: frozenset[str],
        infer_strings: bool,
        where: dict[str, Any],
        untyped_nulls: bool = False,
    ) -> None:
        self.max_nesting = MAX_DEPTH if max_nesting is None else min(max_nesting, MAX_DEPTH)
        self.json_columns = json_columns
        self.infer = infer_strings
        self.untyped_nulls = untyped_nulls
        self.where = where
        self._json_prefixes = tuple(c + "__" for c in json_columns)

    # -- entry points ----------------------------------------------------------------------------
    def rows(self, rows: list[dict[str, Any]]) -> Part:
        """Flatten a batch of Python rows into the root part and its children."""
        root = Part((), len(rows))
        if rows and _has_nested(rows[0]):
            # Nested documents convert faster as one struct array (one pass over the objects) than
            # column by column; flat rows are the other way round.
            try:
                whole = _single(to_array(rows))
            except (Unconvertible, DataError):  # mixed kinds, or too large for one array: by column
                whole = None
            if whole is not None and pa.types.is_struct(whole.type):
                for f, sub in zip(whole.type, whole.flatten(), strict=True):
                    path = (f.name,)
                    if self._json_hinted(path, root) or self._needs_python(sub.type, path, 0, root):
                        self.values([r.get(f.name) for r in rows], path, 0, root)
                    else:
                        self.array(sub, path, 0, root)
                return root
        for key, values in columnize(rows).items():
            self.values(values, (safe_key(key),), 0, root)
        return root

    def as_rows(self, schema: pa.Schema) -> bool:
        """Whether Arrow data of ``schema`` read from JSON flattens as the same rows in Python would:
        no value is cut into JSON text (by the nesting limit or a JSON column), which a struct would
        give with every field of every row."""
        return not self.json_columns and all(nesting_depth(f.type) <= self.max_nesting for f in schema)

    def table(self, table: pa.Table) -> Part:
        """Flatten an Arrow table into the root part and its children."""
        root = Part((), table.num_rows)
        for name, column in zip(table.column_names, table.columns, strict=True):
            self.array(_single(column), (name,), 0, root)
        return root

    # -- Python values ---------------------------------------------------------------------------
    def values(self, values: list[Any], path: Path, depth: int, part: Part) -> None:
        """Flatten the Python values at ``path`` into ``part``: through Arrow when they convert, else by kind."""
        if self._json_hinted(path, part):
            part.add(path, self._json(values, path, part), json=True)
            return
        try:
            arr = _single(to_array(values))
        except Unconvertible:
            self.mixed(values, path, depth, part)
            return
        if self._needs_python(arr.type, path, depth, part):
            self.mixed(values, path, depth, part)
            return
        self.array(arr, path, depth, part)

    def mixed(self, values: list[Any], path: Path, depth: int, part: Part) -> None:
        """Walk a column in Python: split by kind, unpack dicts and lists, keep scalars per kind."""
        for kind, vals in split_by_kind(values).items():
            if kind in ("dict", "list") and self._as_json(path, depth, part):
                part.add(path, self._json(vals, path, part), json=True)
            elif kind == "dict":
                for key, sub in columnize(vals).items():
                    self.values(sub, (*path, safe_key(key)), depth + 1, part)
            elif kind == "list":
                self._python_list(vals, path, depth, part)
            else:
                part.add(path, scalar_array(kind, vals, self._where(path)), infer=self.infer)

    def _python_list(self, lists: list[Any], path: Path, depth: int, part: Part) -> None:
        parent_index: list[int] = []
        list_idx: list[int] = []
        elements: list[Any] = []
        for i, v in enumerate(lists):
            if v is None:
                continue
            n = len(v)
            parent_index.extend(itertools.repeat(i, n))
            list_idx.extend(range(n))
            elements.extend(v)
        if not elements:
            return
        index, positions = pandas_gate.array(parent_index, pa.int64()), pandas_gate.array(list_idx, pa.int64())
        self._elements(elements, depth + 1, part.child(path, index, positions))

    def _elements(self, elements: list[Any], depth: int, child: Part) -> None:
        """List elements: objects become the child's rows, anything else its ``value`` column."""
        try:
            arr = _single(to_array(elements))
        except Unconvertible:
            arr = None
        if arr is not None and not self._elements_need_python(arr.type, depth):
            self._element_array(arr, depth, child)
            return
        for kind, vals in split_by_kind(elements).items():
            if kind == "dict":
                for key, sub in columnize(vals).items():
                    self.values(sub, (safe_key(key),), depth, child)
            else:
                self.mixed(vals, ("value",), depth, child)

    # -- Arrow arrays ----------------------------------------------------------------------------
    def array(self, arr: pa.Array, path: Path, depth: int, part: Part) -> None:
        """Flatten an Arrow array at ``path`` into ``part``: structs unpacked into columns, lists into child parts."""
        t = arr.type
        if pa.types.is_dictionary(t):
            arr = arr.dictionary_decode()
            t = arr.type
        if self.untyped_nulls and arr.null_count == len(arr):
            return
        if pa.types.is_struct(t):
            if self._as_json(path, depth, part):
                part.add(path, self._json(arr.to_pylist(), path, part), json=True)
                return
            for f, sub in zip(t, arr.flatten(), strict=True):
                self.array(sub, (*path, f.name), depth + 1, part)
            return
        if is_list_like(t):
            if self._as_json(path, depth, part):
                part.add(path, self._json(arr.to_pylist(), path, part), json=True)
                return
            self._arrow_list(arr, path, depth, part)
            return
        if pa.types.is_null(t):
            return
        if pa.types.is_union(t) or (isinstance(t, pa.BaseExtensionType) and not is_uuid(t)):
            part.add(path, self._json(arr.to_pylist(), path, part), json=True)
            return
        part.add(path, arr, infer=self.infer)

    def _arrow_list(self, arr: pa.Array, path: Path, depth: int, part: Part) -> None:
        arr = _as_plain_list(arr)
        parent_index, list_idx = list_positions(arr)
        if len(parent_index) == 0:
            return
        values = pc.list_flatten(arr)
        child = part.child(path, parent_index, list_idx)
        self._element_array(values, depth + 1, child)

    def _element_array(self, values: pa.Array, depth: int, child: Part) -> None:
        t = values.type
        if pa.types.is_dictionary(t):
            values = values.dictionary_decode()
            t = values.type
        if pa.types.is_struct(t):
            for f, sub in zip(t, values.flatten(), strict=True):
                self.array(sub, (f.name,), depth, child)
        else:
            self.array(values, ("value",), depth, child)

    # -- limits ----------------------------------------------------------------------------------
    def _json_hinted(self, path: Path, part: Part) -> bool:
        return part.is_root and bool(self.json_columns) and _name(path) in self.json_columns

    def _as_json(self, path: Path, depth: int, part: Part) -> bool:
        """Whether an object or list at ``path`` is stored as JSON instead of being unpacked."""
        if depth >= self.max_nesting:
            return True
        return self._json_hinted(path, part)

    def _needs_python(self, t: pa.DataType, path: Path, depth: int, part: Part) -> bool:
        """Whether a nested column must be walked in Python to cut it at the limits faithfully."""
        if not (pa.types.is_struct(t) or is_list_like(t)):
            return False
        if depth + nesting_depth(t) > self.max_nesting:
            return True
        if part.is_root and self._json_prefixes:
            return _name(path).startswith(self._json_prefixes)
        return False

    def _elements_need_python(self, t: pa.DataType, depth: int) -> bool:
        if pa.types.is_struct(t):
            inner = max((nesting_depth(f.type) for f in t), default=0)
            return depth + inner > self.max_nesting
        return depth + nesting_depth(t) > self.max_nesting

    def _json(self, values: list[Any], path: Path, part: Part) -> pa.Array:
        """Values as JSON text; rows holding a value JSON cannot hold are recorded in ``part.rejected``."""
        return json_array(values, self._where(path), part.rejected)

    def _where(self, path: Path) -> dict[str, Any]:
        return {**self.where, "column": _name(path)}


def _name(path: Path) -> str:
    return join_path(snake_case(p) for p in path)


def _single(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One contiguous array; columns too large for 32-bit offsets switch to large types."""
    if isinstance(arr, pa.ChunkedArray):
        if arr.num_chunks == 1:
            return arr.chunk(0)
        if arr.num_chunks == 0:
            return pa.array([], type=arr.type)
        try:
            return pa.concat_arrays(arr.chunks)
        except (pa.ArrowInvalid, pa.ArrowCapacityError):
            t = arr.type
            if pa.types.is_string(t):
                return pa.concat_arrays([c.cast(pa.large_string()) for c in arr.chunks])
            if pa.types.is_binary(t):
                return pa.concat_arrays([c.cast(pa.large_binary()) for c in arr.chunks])
            raise DataError(
                f"a column of type {t} holds more than 2 GiB in one batch",
                hint="lower the pipeline's batch_size so fewer rows are normalized at once",
            ) from None
    return arr


def _as_plain_list(arr: pa.Array) -> pa.Array:
    t = arr.type
    if pa.types.is_map(t):
        entries = pa.StructArray.from_arrays([arr.keys, arr.items], ["key", "value"])
        return pa.ListArray.from_arrays(arr.offsets, entries, mask=arr.is_null())
    if pa.types.is_fixed_size_list(t) or not (pa.types.is_list(t) or pa.types.is_large_list(t)):
        return arr.cast(pa.large_list(t.value_type))
    return arr


def _has_nested(row: Any) -> bool:
    return isinstance(row, dict) and any(type(v) is dict or type(v) is list for v in row.values())


def list_positions(arr: pa.Array) -> tuple[pa.Array, pa.Array]:
    """For each value of a list array's lists (null lists hold none, as ``list_flatten`` has it): the
    position of its list in ``arr`` and its position in that list, both int64."""
    lengths = pc.fill_null(pc.list_value_length(arr), 0).cast(pa.int64())
    ends = pc.cumulative_sum(lengths)
    total = ends[-1].as_py() if len(ends) else 0
    starts = pa.concat_arrays([arrays.zeros(1), ends])  # offsets as the values' own (a null list may
    # hold values behind it, which list_flatten drops: so not arr.offsets)
    parent_index = pc.list_parent_indices(pa.LargeListArray.from_arrays(starts, pa.nulls(total)))
    list_idx = pc.subtract(arrays.arange(0, total), pc.take(starts, parent_index))
    return parent_index, list_idx
