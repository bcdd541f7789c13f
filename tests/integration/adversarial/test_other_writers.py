"""Another writer's table, made or changed behind Headwater's back with each destination's own tools
(a column altered while a package waits, a type Headwater never writes). Two pipelines writing one table
is a conformance scenario (headwater.testing.scenarios.test_other_writers), on every destination.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import headwater as hw
from headwater.errors import LoadError
from headwater.testing import values
from tests.conftest import create_database


@pytest.fixture
def destination(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    kind = request.param
    if kind == "duckdb":
        return hw.destinations.duckdb(str(tmp_path / "shared.duckdb"))
    if kind == "postgres":
        return hw.destinations.postgres(create_database(request.getfixturevalue("pg_url")))
    if kind == "iceberg":
        return hw.destinations.iceberg(tmp_path / "warehouse")
    return hw.destinations.delta(tmp_path / "delta")


def pipeline(name: str, destination: Any, tmp_path: Path) -> Any:
    return hw.pipeline(name, destination=destination, dataset="shared", pipelines_dir=tmp_path / "work", progress=False)


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
