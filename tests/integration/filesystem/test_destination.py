"""The filesystem destination: real Parquet, CSV and JSONL files under tmp_path (and fsspec's memory
filesystem), read back through the commit markers and directly by DuckDB and pyarrow."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import shutil
import signal
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow.parquet as pq
import pytest

import headwater as hw
from headwater.errors import ConfigError
from headwater.testing.scenarios.test_exactly_once import Killer, run_epoch, snapshot


def pipeline(tmp_path: Path, destination: Any, name: str = "files") -> Any:
    return hw.pipeline(name, destination=destination, dataset="raw", pipelines_dir=tmp_path / "p", progress=False)


def events(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "id": i,
            "day": f"2026-11-{1 + i % 3:02d}",
            "amount": decimal.Decimal(f"{i}.25"),
            "at": dt.datetime(2026, 11, 1, 12, i % 60, tzinfo=dt.UTC),
            "payload": {"deep": {"list": [i, i + 1]}},
            "tags": [f"t{i % 2}", "x"],
        }
        for i in range(start, start + n)
    ]


def query(p: Any, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(r.values()) for r in p.query(sql).to_pylist()]


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_append_twice_in_each_format(tmp_path: Path, fmt: str) -> None:
    dest = hw.destinations.filesystem(tmp_path / "lake", format=fmt)
    p = pipeline(tmp_path, dest)
    hints = {"table_name": "events", "columns": {"payload": {"data_type": "json"}}}
    p.run(events(10), **hints)
    p.run(events(5, start=10), **hints)
    assert query(p, "select count(*), count(distinct id), sum(id) from events") == [(15, 15, sum(range(15)))]
    assert query(p, "select count(*) from events__tags") == [(30,)]
    # child rows point at their parents
    assert query(p, "select count(*) from events e join events__tags t on t._hw_parent_id = e._hw_id") == [(30,)]
    # one file per package file, named by the load; every file is listed in a marker
    with p.destination.client("raw") as client:
        files = client.files("events")
        markers = client.markers()
    assert len(markers) == 2 and all(Path(f).exists() for f in files)
    assert sorted(Path(f).parent.name for f in files) == ["events", "events"]
    assert {Path(f).name.split(".")[0] + "." + Path(f).name.split(".")[1] for f in files} == {
        m["load_id"] for m in markers
    }
    assert all(f.endswith("." + fmt) for f in files)
    # a second engine reads the files as written (types widened by a later load: union by name)
    reader = {"parquet": "read_parquet", "csv": "read_csv", "jsonl": "read_json"}[fmt]
    con = duckdb.connect()
    sql = f"select count(*), sum(amount) from {reader}({files!r}, union_by_name = true)"
    total, amount = con.execute(sql).fetchone() or (0, 0)
    con.close()
    assert total == 15 and decimal.Decimal(str(amount)) == sum(decimal.Decimal(f"{i}.25") for i in range(15))
    if fmt == "jsonl":  # JSON columns are objects in the lines, not strings
        first = json.loads(Path(files[0]).read_text().splitlines()[0])
        assert isinstance(first["payload"], dict) and first["payload"]["deep"]["list"][1] == first["id"] + 1
    if fmt == "parquet":
        table = pq.read_table(files[0])
        assert str(table.schema.field("at").type) == "timestamp[us, tz=UTC]"
        assert str(table.schema.field("amount").type).startswith("decimal128")


def test_layout_and_hive_partitions(tmp_path: Path) -> None:
    dest = hw.destinations.filesystem(
        tmp_path / "lake", layout="tables/{table}/{load_id}-{file_id}.{ext}", partition_by={"events": ["day"]}
    )
    p = pipeline(tmp_path, dest)
    p.run(events(9), table_name="events")
    root = tmp_path / "lake" / "raw" / "tables" / "events"
    assert sorted(d.name for d in root.iterdir()) == ["day=2026-11-01", "day=2026-11-02", "day=2026-11-03"]
    assert query(p, "select day, count(*) from events group by day order by day") == [
        (dt.date(2026, 11, 1), 3),
        (dt.date(2026, 11, 2), 3),
        (dt.date(2026, 11, 3), 3),
    ]
    # Hive readers see the same thing from the folders alone
    con = duckdb.connect()
    got = con.execute(
        f"select count(*), count(distinct day) from read_parquet('{root}/*/*.parquet', hive_partitioning = true)"
    ).fetchone()
    con.close()
    assert got == (9, 3)


def test_replace_supersedes_files_and_can_empty_a_table(tmp_path: Path) -> None:
    p = pipeline(tmp_path, hw.destinations.filesystem(tmp_path / "lake"))

    @hw.resource(name="snap", write_disposition="replace")
    def snap(n: int) -> Any:
        yield from ({"id": i, "items": [i]} for i in range(n))

    p.run(snap(20))
    with p.destination.client("raw") as client:
        old = client.files("snap") + client.files("snap__items")
    p.run(snap(7))
    assert query(p, "select count(*) from snap") == [(7,)]
    assert query(p, "select count(*) from snap__items") == [(7,)]
    assert not any(Path(f).exists() for f in old)  # superseded files are deleted after the commit
    p.run(snap(0))
    assert query(p, "select count(*) from snap") == [(0,)]
    assert query(p, "select count(*) from snap__items") == [(0,)]


def test_bad_configuration_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown file format"):
        hw.destinations.filesystem(tmp_path, format="xlsx")
    with pytest.raises(ConfigError, match="must be relative and contain"):
        hw.destinations.filesystem(tmp_path, layout="{table}/data.{ext}")
    with pytest.raises(ConfigError, match="unknown placeholders: day"):
        hw.destinations.filesystem(tmp_path, layout="{table}/{day}/{load_id}.{ext}")
    p = pipeline(tmp_path, hw.destinations.filesystem(tmp_path / "lake", partition_by={"events": ["nope"]}))
    with pytest.raises(ConfigError, match="nope"):
        p.run(events(2), table_name="events")


def test_uri_form_and_memory_filesystem(tmp_path: Path) -> None:
    fsspec = pytest.importorskip("fsspec")  # a dev dependency: present under ./scripts/test
    p = hw.pipeline("uri", destination=f"filesystem://{tmp_path / 'lake'}", dataset="raw", pipelines_dir=tmp_path / "p")
    p.run(events(3), table_name="events")
    assert (tmp_path / "lake" / "raw" / "_hw_loads").is_dir()
    assert query(p, "select count(*) from events") == [(3,)]

    fs = fsspec.filesystem("memory")
    fs.rm("/hwtest", recursive=True) if fs.exists("/hwtest") else None
    p = pipeline(tmp_path, hw.destinations.filesystem("memory://hwtest/lake", format="csv"), name="mem")
    p.run(events(4), table_name="events")
    p.run(events(2, start=4), table_name="events")
    assert query(p, "select count(*), max(id) from events") == [(6, 5)]
    assert len(fs.ls("/hwtest/lake/raw/_hw_loads")) == 2
    assert len(fs.find("/hwtest/lake/raw/events")) == 2


def test_drop_deletes_the_files_and_markers(tmp_path: Path) -> None:
    # (state coming back from the markers on a new machine is a conformance scenario)
    p = pipeline(tmp_path, hw.destinations.filesystem(tmp_path / "lake"), name="inc")
    p.run([{"id": i, "tags": [i]} for i in range(5)], table_name="ticks")
    assert any((tmp_path / "lake" / "raw" / "ticks").iterdir())
    p.drop()
    assert not (tmp_path / "lake" / "raw" / "ticks").exists() or not any((tmp_path / "lake/raw/ticks").iterdir())
    assert not any((tmp_path / "lake" / "raw" / "_hw_loads").iterdir())


def test_files_of_a_killed_load_stay_invisible_until_the_rerun_commits_them(tmp_path: Path) -> None:
    """(That the rerun ends like a clean run is the conformance scenario test_exactly_once; this is about
    the markers.)"""
    lake = hw.destinations.filesystem(tmp_path / "lake").to_uri()
    killer = Killer(tmp_path)
    try:
        for epoch in range(2):
            before = snapshot(tmp_path, lake, "append") if epoch else None
            assert killer.run("crash", lake, "append", epoch, "load.before_commit") == -signal.SIGKILL
            # the files of the killed load are on disk, but no reader of the markers sees them
            assert any((tmp_path / "lake" / "raw" / "events").glob("*.parquet"))
            if before is None:
                assert not any((tmp_path / "lake" / "raw" / "_hw_loads").glob("*.json"))
            else:
                assert snapshot(tmp_path, lake, "append") == before
            run_epoch(tmp_path, "crash", lake, "append", epoch)
    finally:
        killer.close()


def test_markers_describe_the_load(tmp_path: Path) -> None:
    p = pipeline(tmp_path, hw.destinations.filesystem(tmp_path / "lake"))
    info = p.run(events(4), table_name="events")
    load_id = info.loads[0].load_id
    marker = orjson.loads((tmp_path / "lake" / "raw" / "_hw_loads" / f"{load_id}.json").read_bytes())
    assert marker["status"] == "completed" and marker["load_id"] == load_id
    assert marker["tables"]["events"]["rows"] == 4 and marker["tables"]["events"]["mode"] == "append"
    assert marker["tables"]["events"]["files"] == [f"events/{load_id}.0.parquet"]
    assert json.loads(marker["schema"])["name"] == "files"
    assert json.loads(marker["state"])["version"] >= 1


def test_uri_round_trip_keeps_the_options(tmp_path: Path) -> None:
    dest = hw.destinations.filesystem(
        tmp_path / "lake",
        format="csv",
        layout="t/{table}/{load_id}_{file_id}.{ext}",
        compression="gzip",
        partition_by={"events": ["day", "id"], "other": ["x"]},
    )
    uri = dest.to_uri()
    assert uri is not None and uri.startswith(f"filesystem://{tmp_path / 'lake'}?")
    again = hw.destinations.filesystem.FilesystemDestination.from_uri(uri)
    assert (again.format, again.layout, again.compression, again.partition_by) == (
        "csv",
        "t/{table}/{load_id}_{file_id}.{ext}",
        "gzip",
        {"events": ["day", "id"], "other": ["x"]},
    )
    assert again.root() == dest.root()
    assert hw.destinations.filesystem(tmp_path, storage_options={"key": "secret"}).to_uri() is None
    with pytest.raises(ConfigError, match="unknown option 'key'"):
        hw.destinations.filesystem.FilesystemDestination.from_uri("filesystem:///x?key=secret")
    # the CLI reopens the pipeline from the stored URI and sees the same data
    p = pipeline(tmp_path, dest)
    p.run(events(6), table_name="events")
    p2 = hw.pipeline("files", destination=uri, dataset="raw", pipelines_dir=tmp_path / "p", progress=False)
    assert query(p2, "select count(*) from events") == [(6,)]
    files = (tmp_path / "lake" / "raw" / "t" / "events").rglob("*.csv.gz")
    assert len(list(files)) == 6


def test_markers_are_folded_into_a_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from headwater.destinations.filesystem import client as module

    monkeypatch.setattr(module, "CHECKPOINT_EVERY", 3)

    @hw.resource(name="ticks", primary_key="id")
    def ticks(upto: int, cursor: Any = hw.incremental("id")) -> Any:
        start = cursor.start_value or -1
        yield from ({"id": i} for i in range(upto) if i > start)

    @hw.resource(name="snap", write_disposition="replace")
    def snap(n: int) -> Any:
        yield from ({"id": i} for i in range(n))

    p = pipeline(tmp_path, hw.destinations.filesystem(tmp_path / "lake"), name="cp")
    for run in range(1, 8):
        p.run([ticks(run * 10), snap(run)])
    loads = tmp_path / "lake" / "raw" / "_hw_loads"
    checkpoint = orjson.loads((loads / "_checkpoint.json").read_bytes())
    assert len(checkpoint["markers"]) == 6  # folded after the 3rd and the 6th load
    # what readers need is kept: the newest state only, and the files since the newest replace
    assert sum(m["state"] is not None for m in checkpoint["markers"]) == 1
    assert sum(len(m["tables"].get("snap", {}).get("files", [])) for m in checkpoint["markers"]) == 1
    # markers in the checkpoint are not read again: spoiling one changes nothing
    old = sorted(loads.glob("2*.json"))[0]
    old.write_text("not json")
    assert query(p, "select count(*), max(id) from ticks") == [(70, 69)]
    assert query(p, "select count(*) from snap") == [(7,)]
    shutil.rmtree(tmp_path / "p")  # a new machine: the state comes back from the checkpoint
    p = pipeline(tmp_path, hw.destinations.filesystem(tmp_path / "lake"), name="cp")
    p.run([ticks(75), snap(2)])
    assert query(p, "select count(*), count(distinct id) from ticks") == [(75, 75)]
    assert query(p, "select count(*) from snap") == [(2,)]
    old.unlink()
    p.drop()  # the checkpoint listed the dropped markers: it goes with them
    assert not (loads / "_checkpoint.json").exists() and not any(loads.glob("*.json"))
