"""The ``partition_by`` resource hint on the destinations that partition: Hive folders for files,
Delta partition columns, Iceberg partition specs (transforms included); the destination's own
``partition_by`` wins over the hint."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

import headwater as hw
from headwater.errors import ConfigError

DATA = [
    {"id": i, "kind": "ab"[i % 2], "createdAt": dt.datetime(2026, 11, 1 + i % 3, 8, tzinfo=dt.UTC)} for i in range(12)
]


def pipeline(tmp_path: Path, destination: Any) -> Any:
    return hw.pipeline("parts", destination=destination, dataset="raw", pipelines_dir=tmp_path / "p", progress=False)


@hw.resource(name="events", partition_by="kind")
def events() -> Any:
    yield from DATA


def test_hint_makes_hive_folders(tmp_path: Path) -> None:
    p = pipeline(tmp_path, hw.destinations.filesystem(tmp_path / "lake"))
    p.run(events)
    assert sorted(d.name for d in (tmp_path / "lake" / "raw" / "events").iterdir()) == ["kind=a", "kind=b"]
    assert p.query("select kind, count(*) as n from events group by 1 order by 1").to_pylist() == [
        {"kind": "a", "n": 6},
        {"kind": "b", "n": 6},
    ]


def test_destination_configuration_wins_over_the_hint(tmp_path: Path) -> None:
    p = pipeline(tmp_path, hw.destinations.filesystem(tmp_path / "lake", partition_by={"events": ["id"]}))
    p.run(events)
    assert len(list((tmp_path / "lake" / "raw" / "events").iterdir())) == 12  # id=0 ... id=11


def test_delta_partition_columns_from_the_hint(tmp_path: Path) -> None:
    deltalake = pytest.importorskip("deltalake")  # a dev dependency: present under ./scripts/test
    p = pipeline(tmp_path, hw.destinations.delta(tmp_path / "lake"))
    p.run(events)
    table = deltalake.DeltaTable(str(tmp_path / "lake" / "raw" / "events"))
    assert list(table.metadata().partition_columns) == ["kind"]
    assert p.query("select count(*) as n from events where kind = 'a'").to_pylist() == [{"n": 6}]


def test_iceberg_partition_transform_from_the_hint(tmp_path: Path) -> None:
    pytest.importorskip("pyiceberg")  # a dev dependency: present under ./scripts/test
    from pyiceberg.catalog.sql import SqlCatalog

    p = pipeline(tmp_path, hw.destinations.iceberg(tmp_path / "wh"))
    p.run(DATA, table_name="events", partition_by=["day(createdAt)", "kind"])
    warehouse = tmp_path / "wh"
    catalog = SqlCatalog("headwater", uri=f"sqlite:///{warehouse / 'catalog.db'}", warehouse=f"file://{warehouse}")
    table = catalog.load_table(("raw", "events"))
    assert [(str(f.transform), f.name) for f in table.spec().fields] == [
        ("day", "created_at_day"),
        ("identity", "kind"),
    ]
    assert p.query("select count(*) as n from events").to_pylist() == [{"n": 12}]
    files = [task.file for task in table.scan().plan_files()]
    assert len(files) == 6  # 3 days x 2 kinds


@pytest.mark.parametrize("kind", ["filesystem", "delta"])
def test_transforms_are_refused_where_only_columns_partition(tmp_path: Path, kind: str) -> None:
    dest = hw.destinations.filesystem(tmp_path / "x") if kind == "filesystem" else hw.destinations.delta(tmp_path / "x")
    p = pipeline(tmp_path, dest)
    with pytest.raises(ConfigError, match=r"partitions by columns, not transforms \(day\(created_at\)\)") as err:
        p.run(DATA, table_name="events", partition_by="day(createdAt)")
    assert "Iceberg takes transforms" in (err.value.hint or "")


def test_bad_specs_are_config_errors(tmp_path: Path) -> None:
    p = pipeline(tmp_path, hw.destinations.filesystem(tmp_path / "x"))
    with pytest.raises(ConfigError, match="not a column or a transform"):
        p.run(DATA, table_name="events", partition_by="day(")
    with pytest.raises(ConfigError, match="columns it does not have: nope"):
        p.run(DATA, table_name="events", partition_by="nope")


def test_duckdb_ignores_the_hint(tmp_path: Path) -> None:
    p = pipeline(tmp_path, hw.destinations.duckdb(tmp_path / "x.duckdb"))
    p.run(events)
    assert p.query("select count(*) as n from events").to_pylist() == [{"n": 12}]
