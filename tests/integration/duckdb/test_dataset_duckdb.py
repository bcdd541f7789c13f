"""``pipeline.dataset()`` on DuckDB files: reading never writes, nor creates the file; Ibis is optional."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import headwater as hw
from headwater.errors import ConfigError, DestinationError


def make(tmp_path: Path) -> hw.Pipeline:
    return hw.pipeline(
        "ds", destination=hw.destinations.duckdb(tmp_path / "ds.duckdb"), pipelines_dir=tmp_path / "p", progress=False
    )


def test_reading_an_unloaded_file_creates_nothing(tmp_path: Path) -> None:
    ds = make(tmp_path).dataset()
    assert ds.tables() == []
    with pytest.raises(DestinationError, match="does not exist yet"):
        ds.query("SELECT 1")
    with pytest.raises(DestinationError, match="does not exist yet"):
        ds.ibis()
    assert not (tmp_path / "ds.duckdb").exists()
    p = make(tmp_path)
    p.run([{"a": 1}], table_name="t")
    assert ds.tables() == ["t"]  # the same dataset object sees the file made since


def test_reading_is_read_only(tmp_path: Path) -> None:
    p = make(tmp_path)
    p.run([{"a": 1}], table_name="t")
    ds = p.dataset()
    with pytest.raises(DestinationError, match="read-only"):
        ds.query("CREATE TABLE u AS SELECT 1 AS a")
    assert ds.tables() == ["t"]
    assert p.dataset_name == ds.name == "ds_dataset"
    p.run([{"a": 2}], table_name="t")  # nothing of the dataset stays open
    assert ds.table("t").count() == 2


def test_ibis_missing_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = make(tmp_path)
    p.run([{"a": 1}], table_name="t")
    monkeypatch.setitem(sys.modules, "ibis", None)
    with pytest.raises(ConfigError, match="ibis-framework") as caught:
        p.dataset().ibis()
    assert "headwater[ibis]" in str(caught.value)


def test_ibis_opens_the_file_read_only(tmp_path: Path) -> None:
    pytest.importorskip("ibis")
    import duckdb

    p = make(tmp_path)
    p.run([{"a": 1}], table_name="t")
    backend = p.dataset().ibis()
    try:
        assert backend.current_database == "ds_dataset"
        with pytest.raises(duckdb.Error, match="read-only"):
            backend.raw_sql("CREATE TABLE u AS SELECT 1 AS a")
    finally:
        backend.disconnect()
