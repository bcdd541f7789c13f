"""Property: any nested document set can be rebuilt exactly from the root and child tables."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headwater.schema.model import LIST_IDX, PARENT_ID, ROW_ID, Schema
from tests.unit.normalize_helpers import normalize

# Every key has one kind of value, so the tables are free of variant columns and fully invertible.
INT_KEYS = ["id", "count", "userId", "Big Number"]
STR_KEYS = ["name", "Label", "ünïcode", "with space"]
BOOL_KEYS = ["flag", "isOk"]
OBJ_KEYS = ["meta", "Author"]
OBJ_LIST_KEYS = ["items", "labels"]
INT_LIST_KEYS = ["numbers"]

text = st.text(alphabet="abcxyzé 名", min_size=0, max_size=6)


def documents(depth: int) -> st.SearchStrategy[dict[str, Any]]:
    scalars: dict[str, st.SearchStrategy[Any]] = {}
    for k in INT_KEYS:
        scalars[k] = st.one_of(st.none(), st.integers(-(2**62), 2**62))
    for k in STR_KEYS:
        scalars[k] = st.one_of(st.none(), text)
    for k in BOOL_KEYS:
        scalars[k] = st.one_of(st.none(), st.booleans())
    for k in INT_LIST_KEYS:
        scalars[k] = st.one_of(st.none(), st.lists(st.integers(0, 100), max_size=4))
    if depth > 0:
        for k in OBJ_KEYS:
            scalars[k] = st.one_of(st.none(), documents(depth - 1))
        for k in OBJ_LIST_KEYS:
            scalars[k] = st.one_of(st.none(), st.lists(documents(depth - 1), max_size=3))
    return st.fixed_dictionaries({}, optional=scalars)


def canonical(value: Any) -> Any:
    """What survives normalization: nulls, empty objects and empty lists carry no data."""
    if isinstance(value, dict):
        out = {k: canonical(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not None and v != {} and v != []}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


def set_path(target: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value


def rebuild(schema: Schema, out: dict[str, list[pa.Table]]) -> list[dict[str, Any]]:
    tables = {name: pa.concat_tables(parts, promote_options="permissive") for name, parts in out.items()}
    objects: dict[str, dict[str, Any]] = {}
    roots: list[dict[str, Any]] = []
    children: dict[str, list[tuple[str, int, Any, str]]] = defaultdict(list)
    for name, schema_table in schema.tables.items():
        if name not in tables:
            continue
        data = tables[name].to_pylist()
        for row in data:
            obj: dict[str, Any] = {}
            for col in schema_table.columns.values():
                if col.system or row.get(col.name) is None:
                    continue
                assert col.path is not None and col.variant_of is None, col
                set_path(obj, col.path, row[col.name])
            objects[row[ROW_ID]] = obj
            if schema_table.parent is None:
                roots.append(obj)
            else:
                assert schema_table.path is not None
                element: Any = obj.get("value") if list(obj) == ["value"] else obj
                children[row[PARENT_ID]].append((name, row[LIST_IDX], element, row[ROW_ID]))
    for parent_id, items in children.items():
        grouped: dict[str, list[tuple[int, Any, str]]] = defaultdict(list)
        for name, idx, element, row_id in items:
            grouped[name].append((idx, element, row_id))
        for name, elements in grouped.items():
            elements.sort(key=lambda e: e[0])
            assert [e[0] for e in elements] == list(range(len(elements)))
            path = schema.tables[name].path
            assert path is not None
            values = [e[1] if not isinstance(e[1], dict) else objects[e[2]] for e in elements]
            set_path(objects[parent_id], path, values)
    return roots


@pytest.mark.slow
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(docs=st.lists(documents(3), min_size=1, max_size=12), split=st.integers(1, 12))
def test_documents_rebuild_exactly_from_tables(docs: list[dict[str, Any]], split: int) -> None:
    batches = [docs[i : i + split] for i in range(0, len(docs), split)]
    schema, out = normalize(batches)
    rebuilt = rebuild(schema, out)
    assert [canonical(r) for r in rebuilt] == [canonical(d) for d in docs]
    # row ids are unique across every table
    ids = [i for parts in out.values() for t in parts for i in t.column(ROW_ID).to_pylist()]
    assert len(ids) == len(set(ids))
