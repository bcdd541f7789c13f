"""The Delta Lake destination against real Delta tables under tmp_path, read back by DuckDB (through
``pipeline.query``), by deltalake itself and by polars."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import headwater as hw
from headwater.destinations.delta import DeltaDestination
from headwater.errors import ConfigError, DestinationError
from headwater.pipelines.pipeline import attach
from headwater.testing.scenarios.test_merge import docs, merged
from tests.conftest import rows, scalar

deltalake = pytest.importorskip("deltalake")


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    return tmp_path / "lake"


@pytest.fixture
def make(tmp_path: Path, lake: Path) -> Callable[..., Any]:
    def build(name: str = "p", **kwargs: Any) -> Any:
        kwargs.setdefault("progress", False)
        kwargs.setdefault("pipelines_dir", tmp_path / "pipelines")
        destination = kwargs.pop("destination", None) or hw.destinations.delta(lake)
        return hw.pipeline(name, destination=destination, dataset=kwargs.pop("dataset", "raw"), **kwargs)

    return build


def table(lake: Path, name: str, dataset: str = "raw") -> Any:
    return deltalake.DeltaTable(str(lake / dataset / name))


def read(lake: Path, name: str, dataset: str = "raw") -> Any:
    """A table's rows read by deltalake directly. Through pyarrow's local filesystem: deltalake's default
    Python filesystem handler can abort the process at exit after a threaded read (delta-rs #2184)."""
    import pyarrow.fs as pafs

    path = str(lake / dataset / name)
    return table(lake, name, dataset).to_pyarrow_table(filesystem=pafs.SubTreeFileSystem(path, pafs.LocalFileSystem()))


def load_ids(lake: Path, name: str) -> list[str | None]:
    """The ``headwater.load_id`` of each commit of a table, oldest first."""
    return [c.get("headwater.load_id") for c in reversed(table(lake, name).history())]


# -- append, reading back ------------------------------------------------------------------------------
def test_append_twice_read_back_by_duckdb_deltalake_and_polars(make: Any, lake: Path) -> None:
    p = make("app")
    first = p.run([{"id": i, "name": f"n{i}", "score": i / 2} for i in range(3)], table_name="events")
    second = p.run([{"id": i, "name": f"n{i}", "score": i / 2} for i in range(3, 5)], table_name="events")
    expected = [(i, f"n{i}", i / 2) for i in range(5)]
    assert rows(p, "select id, name, score from events order by id") == expected
    data = read(lake, "events").sort_by("id")
    assert list(zip(data["id"].to_pylist(), data["name"].to_pylist(), data["score"].to_pylist(), strict=True)) == (
        expected
    )
    # one commit per load, each carrying its load id (the table's creation carries none)
    assert load_ids(lake, "events") == [None, first.load_id, second.load_id]
    assert table(lake, "events").history(1)[0]["headwater.pipeline"] == "app"
    loads = rows(p, "select load_id, status, rows from _hw_loads order by load_id")
    assert loads == [(first.load_id, "completed", 3), (second.load_id, "completed", 2)]
    assert p.destination.to_uri() == f"delta://{lake}"

    import polars as pl

    frame = pl.read_delta(str(lake / "raw" / "events")).sort("id")
    assert frame["name"].to_list() == [f"n{i}" for i in range(5)]
    # a new column on a later run is added to the Delta table's schema
    p.run([{"id": 5, "name": "n5", "score": 2.5, "c": dt.date(2024, 5, 1)}], table_name="events")
    assert "c" in table(lake, "events").schema().to_arrow().names


def test_nested_data_child_tables_times_uuids_and_json(make: Any, lake: Path) -> None:
    p = make("nested")
    ids = [uuid.UUID(int=i * 7919) for i in range(3)]
    data = [
        {
            "id": i,
            "key": ids[i],
            "clock": dt.time(12, 30, i, 250),
            "day": dt.date(2024, 1, 1 + i),
            "ts": dt.datetime(2024, 1, 1, 10, i, tzinfo=dt.UTC),
            "meta": {"k": i, "deep": [1, 2]},
            "orders": [{"sku": f"s{i}-{k}", "lines": [{"qty": k + j} for j in range(2)]} for k in range(i + 1)],
        }
        for i in range(3)
    ]
    p.run(data, table_name="customers", columns={"meta": {"data_type": "json"}})
    got = rows(p, "select id, key, clock, day, ts, meta from customers order by id")
    assert [r[1] for r in got] == [str(u) for u in ids]
    assert all(len(r[1]) == 36 for r in got)
    assert [r[2] for r in got] == [f"12:30:{i:02d}.000250" for i in range(3)]
    assert [r[3] for r in got] == [dt.date(2024, 1, 1 + i) for i in range(3)]
    assert [r[4] for r in got] == [dt.datetime(2024, 1, 1, 10, i, tzinfo=dt.UTC) for i in range(3)]
    assert [r[5].replace(" ", "") for r in got] == [f'{{"k":{i},"deep":[1,2]}}' for i in range(3)]
    types = {f.name: str(f.type) for f in table(lake, "customers").to_pyarrow_dataset().schema}
    assert types["key"] == types["clock"] == types["meta"] == types["_hw_id"] == "string"  # uuid, time, JSON: text


# -- replace ---------------------------------------------------------------------------------------------
def test_replace_and_replace_with_nothing(make: Any, lake: Path) -> None:
    p = make("rep")
    docs = [{"id": i, "tags": ["a", "b"]} for i in range(4)]
    p.run(docs, table_name="items", write_disposition="replace")
    p.run([{"id": 9, "tags": ["z"]}, {"id": 8, "tags": []}], table_name="items", write_disposition="replace")
    assert rows(p, "select id from items order by id") == [(8,), (9,)]
    assert rows(p, "select value from items__tags") == [("z",)]
    before = len(table(lake, "items").history())
    info = p.run([], table_name="items", write_disposition="replace")
    assert scalar(p, "select count(*) from items") == 0
    assert scalar(p, "select count(*) from items__tags") == 0
    assert len(table(lake, "items").history()) == before + 1  # one overwrite commit
    assert load_ids(lake, "items")[-1] == info.load_id


# -- merge -----------------------------------------------------------------------------------------------
# docs() and merged(): the conformance suite's (headwater.testing.scenarios.test_merge)


@pytest.mark.parametrize("strategy", ["delete-insert", "upsert"])
def test_a_merge_is_one_commit_per_table_carrying_the_load_id(make: Any, lake: Path, strategy: str) -> None:
    p = make(f"m_{strategy.replace('-', '_')}")
    merged(p, docs(1, range(5)), merge_strategy=strategy)
    versions = {name: table(lake, name).version() for name in ("items", "items__tags")}
    # 0 and 1 change (with fewer children), 9 is new, 1 comes twice: the last one wins
    data = [*docs(2, [0, 1, 9], tags=1), {"id": 1, "v": "last", "tags": ["l1", "l2", "l3"]}]
    info = merged(p, data, merge_strategy=strategy)  # (the rows merged are a conformance scenario)
    # each table: ONE commit (delete and insert together), carrying the load id
    for name, version in versions.items():
        assert table(lake, name).version() == version + 1
        assert load_ids(lake, name)[-1] == info.load_id
    assert table(lake, "items").history(1)[0]["operation"] == "MERGE"


# -- configuration -------------------------------------------------------------------------------------
def test_uri_forms_and_default_location(tmp_path: Path, lake: Path) -> None:
    absolute = hw.pipeline(
        "uri", destination=f"delta://{lake}", dataset="raw", pipelines_dir=tmp_path / "p", progress=False
    )
    absolute.run([{"id": 1}], table_name="t")
    assert read(lake, "t")["id"].to_pylist() == [1]
    relative = hw.pipeline(
        "rel", destination="delta:rel/lake", dataset="raw", pipelines_dir=tmp_path / "p", progress=False
    )
    relative.run([{"id": 2}], table_name="t")
    assert (tmp_path / "rel" / "lake" / "raw" / "t" / "_delta_log").is_dir()
    default = hw.pipeline("dflt", destination="delta", pipelines_dir=tmp_path / "p", progress=False)
    default.run([{"id": 3}], table_name="t")
    assert (tmp_path / "dflt.delta" / "dflt_dataset" / "t" / "_delta_log").is_dir()
    assert default.destination.describe() == f"delta ({tmp_path / 'dflt.delta'})"
    # attach (the command line's way) reopens it from the URI in the working folder
    again = attach("dflt", pipelines_dir=tmp_path / "p")
    assert rows(again, "select id from t") == [(3,)]


def test_describe_and_uri_never_show_secrets() -> None:
    dest = DeltaDestination(
        "s3://user:hunter2@bucket/lake?sig=tok3n", storage_options={"aws_secret_access_key": "S3CRET-KEY"}
    )
    for text in (dest.describe(), repr(dest)):
        assert "hunter2" not in text and "tok3n" not in text and "S3CRET" not in text
    assert dest.describe() == "delta (s3://user:***@bucket/lake)"
    assert dest.to_uri() is None  # it needs its storage options, which are never written down
    plain = DeltaDestination("s3://bucket/lake?sig=tok3n", partition_by={"events": ["day", "kind"], "t": ["x"]})
    assert plain.to_uri() == "delta:s3://bucket/lake?partition_by=events%3Aday%2Ckind%3Bt%3Ax"
    again = DeltaDestination.from_uri(plain.to_uri() or "")
    assert (again.location, again.partition_by) == ("s3://bucket/lake", {"events": ["day", "kind"], "t": ["x"]})
    with pytest.raises(ConfigError, match="unknown option 'region'"):
        DeltaDestination.from_uri("delta:///abs/x?region=eu")
    assert DeltaDestination.from_uri("delta:s3://bucket/x").location == "s3://bucket/x"
    assert DeltaDestination.from_uri("delta:///abs/x").location == "/abs/x"
    with pytest.raises(ConfigError, match="names no location"):
        DeltaDestination.from_uri("delta:")


def test_partition_by(make: Any, lake: Path, caplog: pytest.LogCaptureFixture) -> None:
    dest = hw.destinations.delta(lake, partition_by={"events": ["day"]})
    p = make("parts", destination=dest)
    data = [{"id": i, "day": f"2024-01-0{1 + i % 3}"} for i in range(9)]
    p.run(data, table_name="events")
    p.run(data, table_name="other")
    assert table(lake, "events").metadata().partition_columns == ["day"]
    assert table(lake, "other").metadata().partition_columns == []
    assert sorted(d.name for d in (lake / "raw" / "events").iterdir() if d.name.startswith("day=")) == [
        "day=2024-01-01",
        "day=2024-01-02",
        "day=2024-01-03",
    ]
    assert rows(p, "select day, count(*) from events group by 1 order by 1") == [
        (dt.date(2024, 1, 1), 3),
        (dt.date(2024, 1, 2), 3),
        (dt.date(2024, 1, 3), 3),
    ]
    # partitioning only applies to new tables: an existing one keeps its layout, with a warning
    later = make("parts", destination=hw.destinations.delta(lake, partition_by={"other": ["day"]}))
    with caplog.at_level(logging.WARNING, logger="headwater"):
        later.run(data, table_name="other")
    assert "only applies to new tables" in caplog.text
    assert table(lake, "other").metadata().partition_columns == []
    bad = make("badparts", destination=hw.destinations.delta(lake, partition_by={"t": ["nope"]}))
    with pytest.raises(ConfigError, match="partition_by for table 't' names column"):
        bad.run([{"id": 1}], table_name="t")


def test_errors_say_what_and_where(make: Any, tmp_path: Path) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    p = make("err", destination=hw.destinations.delta(blocker))
    with pytest.raises(DestinationError) as info:
        p.run([{"id": 1}], table_name="t")
    assert "Delta Lake" in str(info.value) and str(blocker) in str(info.value)
    assert info.value.hint


def test_drop_removes_tables_and_state(make: Any, lake: Path) -> None:
    p = make("dropme")
    p.run([{"id": 1, "tags": ["a"]}], table_name="t")
    other = make("keeper")
    other.run([{"id": 1}], table_name="kept")
    assert sorted(p.drop()) == ["t", "t__tags"]
    assert not (lake / "raw" / "t").exists() and not (lake / "raw" / "t__tags").exists()
    assert rows(other, "select distinct pipeline_name from _hw_loads") == [("keeper",)]
    assert rows(other, "select id from kept") == [(1,)]


def test_object_store_code_path(tmp_path: Path, make: Any) -> None:
    """Listing, reading, merging and dropping as on an object store (deltalake's own storage layer,
    with the storage options), exercised through a file:// URL forced down the remote path."""
    dest = DeltaDestination(tmp_path / "remote")
    dest.location, dest.remote = f"file://{tmp_path / 'remote'}", True
    p = make("remote", destination=dest)
    merged(p, docs(1, range(3)))
    merged(p, docs(2, [1, 5]))
    assert rows(p, "select id, v from items order by id") == [(0, "1-0"), (1, "2-1"), (2, "1-2"), (5, "2-5")]
    with dest.client("raw") as client:
        assert client.table_names() == ["_hw_loads", "_hw_runs", "items", "items__tags"]
    p.drop()
    with dest.client("raw") as client:
        assert client.table_names() == ["_hw_loads", "_hw_runs"]  # the pipeline's rows are gone from both


def test_hw_loads_is_compacted_when_its_files_pile_up(make: Any, lake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from headwater.destinations.delta import client

    monkeypatch.setattr(client, "COMPACT_LOADS_AT", 3)
    p = make("compact")
    infos = [p.run([{"id": i}], table_name="t") for i in range(4)]
    loads = table(lake, "_hw_loads")
    assert len(loads.file_uris()) == 2  # three files compacted into one after the third load, then one more
    assert "OPTIMIZE" in [c["operation"] for c in loads.history()]
    assert rows(p, "select load_id from _hw_loads order by 1") == [(i.load_id,) for i in infos]


def test_error_messages_never_show_storage_options(tmp_path: Path) -> None:
    dest = DeltaDestination("s3://user:hunter2@bucket/lake", storage_options={"AWS_SECRET_ACCESS_KEY": "S3CRET-KEY"})
    client = dest.client("raw")
    error = client._error("append to", "t", OSError("denied for s3://user:hunter2@bucket/lake/raw/t key=S3CRET-KEY"))
    text = f"{error} {error.hint}"
    assert "S3CRET" not in text and "hunter2" not in text
    assert "s3://user:***@bucket/lake/raw/t" in text and error.hint


def test_a_client_reads_each_log_once_and_sees_commits_made_since(
    make: Any, lake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A load opens each table several times (schema, history, evolve, merge, scan): the client keeps
    what it opened and catches up with the commits since (``update_incremental``) instead of reading
    the whole log again; a commit by another writer in between is seen, and a dropped table is gone."""
    import deltalake.table

    opened: list[str] = []
    real = deltalake.table.DeltaTable.__init__

    def counted(self: Any, table_uri: Any, *args: Any, **kwargs: Any) -> None:
        opened.append(str(table_uri))
        real(self, table_uri, *args, **kwargs)

    monkeypatch.setattr(deltalake.table.DeltaTable, "__init__", counted)
    p = make()
    for epoch in range(3):
        opened.clear()
        data = [{"id": i, "v": f"{epoch}-{i}", "tags": [epoch] * (i % 3)} for i in range(20)]
        p.run(data, table_name="items", write_disposition="merge", primary_key="id")
        # each client opens a table at most once (measured 29 opens a run before, 15 after)
        assert len(opened) <= 16, opened
    assert rows(p, "select v from items where id = 1") == [("2-1",)]

    client = p.destination.client("raw")
    before = client.scan("items", ["id"])
    deltalake.write_deltalake(str(lake / "raw" / "items"), before.slice(0, 1), mode="append", schema_mode="merge")
    assert client.scan("items", ["id"]).num_rows == before.num_rows + 1  # the other writer's commit
    client.drop_table("items")
    assert client.table_schema("items") is None
