"""Another writer's table: values meet the column types the destination really holds (whoever made them),
on every destination; a mismatch is a type conflict (a variant column), never an implicit cast.

Two pipelines write one table of one dataset: the first makes column ``v`` with one type, the second
brings values of another type. Before the fix, DuckDB cast them (``7`` became ``'7'``, ``5`` became
``True``) or failed and wedged every later run (``'abc'`` into a bigint column).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import headwater as hw
from headwater.errors import LoadError
from tests.conftest import create_database

KINDS = ["duckdb", "postgres", "filesystem", "iceberg", "delta"]

CASES = {
    "text then int": ("007", 7, "v__v_bigint"),
    "bool then int": (True, 5, "v__v_bigint"),
    "int then text": (5, "abc", "v__v_text"),
    "double then big int": (1.5, 2**60 + 1, "v__v_bigint"),
}


@pytest.fixture
def destination(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    kind = request.param
    if kind == "duckdb":
        return hw.destinations.duckdb(str(tmp_path / "shared.duckdb"))
    if kind == "postgres":
        return hw.destinations.postgres(create_database(request.getfixturevalue("pg_url")))
    if kind == "filesystem":
        return hw.destinations.filesystem(tmp_path / "files")
    if kind == "iceberg":
        return hw.destinations.iceberg(tmp_path / "warehouse")
    return hw.destinations.delta(tmp_path / "delta")


def pipeline(name: str, destination: Any, tmp_path: Path) -> Any:
    return hw.pipeline(name, destination=destination, dataset="shared", pipelines_dir=tmp_path / "work", progress=False)


def values(p: Any, table: str, *columns: str) -> list[tuple[Any, ...]]:
    data = p.query(f'SELECT {", ".join(columns)} FROM "{table}"').to_pylist()
    return sorted((tuple(row[c] for c in columns) for row in data), key=repr)


@pytest.mark.parametrize("destination", KINDS, indirect=True)
@pytest.mark.parametrize("case", list(CASES))
def test_values_meet_the_type_another_pipeline_gave_the_column(destination: Any, tmp_path: Path, case: str) -> None:
    first, then, variant = CASES[case]
    a = pipeline("writer_a", destination, tmp_path)
    b = pipeline("writer_b", destination, tmp_path)
    a.run([{"id": 1, "v": first}], table_name="t")
    b.run([{"id": 2, "v": then}], table_name="t")
    b.run([{"id": 3, "v": then}], table_name="t")  # and every later run loads too
    assert values(b, "t", "id", "v", variant) == [(1, first, None), (2, None, then), (3, None, then)]
    column = b.schema().tables["t"].columns["v"]
    assert column.type == a.schema().tables["t"].columns["v"].type  # the first writer's type, kept


@pytest.mark.parametrize("destination", ["duckdb", "postgres"], indirect=True)
def test_a_column_changed_after_extraction_is_a_conflict_with_a_way_out(destination: Any, tmp_path: Path) -> None:
    p = pipeline("changed", destination, tmp_path)
    p.run([{"id": 1, "v": 1}], table_name="t")
    load_id = p.extract([{"id": 2, "v": 2}], table_name="t")
    # someone changes the column while the package waits
    with destination.client("shared") as client:
        client.begin()
        client.execute(f"ALTER TABLE {client.qualified('t')} ALTER COLUMN v TYPE TEXT")
        client.commit()
    with pytest.raises(LoadError) as err:
        p.load()
    text = str(err.value)
    assert "column 'v' of table 't'" in text and "drop-pending" in text
    assert values(p, "t", "id", "v") == [(1, "1")]  # nothing was cast into the changed column
    (package,) = [q for q in p.pending_packages() if q.load_id == load_id]
    package.discard()  # the way out the message names: drop the package, run again
    p.run([{"id": 2, "v": 2}], table_name="t")
    assert values(p, "t", "id", "v", "v__v_bigint") == [(1, "1", None), (2, None, 2)]


def _foreign_table(kind: str, destination: Any) -> None:
    """Create table ``t`` with an int32 column ``v`` the way another tool would."""
    if kind in ("duckdb", "postgres"):
        with destination.client("shared") as client:
            client.begin()
            client.execute(f"CREATE SCHEMA IF NOT EXISTS {client.dataset_ref()}")
            client.execute(f"CREATE TABLE {client.qualified('t')} (id BIGINT, v INTEGER)")
            client.execute(f"INSERT INTO {client.qualified('t')} VALUES (1, 7)")
            client.commit()
        return
    import pyarrow as pa

    data = pa.table({"id": pa.array([1], pa.int64()), "v": pa.array([7], pa.int32())})
    if kind == "delta":
        import deltalake

        deltalake.write_deltalake(destination.dataset_uri("shared") + "/t", data)
        return
    with destination.client("shared") as client:
        client._ensure_namespace()
        client.catalog.create_table(client._ident("t"), schema=data.schema).append(data)


@pytest.mark.parametrize("destination", ["duckdb", "postgres", "iceberg", "delta"], indirect=True)
def test_a_type_headwater_does_not_write_takes_no_values(destination: Any, tmp_path: Path) -> None:
    _foreign_table(destination.name, destination)
    p = pipeline("foreign", destination, tmp_path)
    p.run([{"id": 2, "v": 5}, {"id": 3, "v": 2**40}], table_name="t")
    assert values(p, "t", "id", "v", "v__v_bigint") == [(1, 7, None), (2, None, 5), (3, None, 2**40)]
    assert p.schema().tables["t"].columns["v"].foreign is not None
