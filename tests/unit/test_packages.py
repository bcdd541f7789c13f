from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from headwater.errors import StateError
from headwater.packages.files import read_file, read_runs
from headwater.packages.package import NORMALIZED, LoadPackage, Manifest, list_packages
from headwater.packages.writer import PackageWriter


def test_writer_starts_a_new_file_when_the_schema_changes(tmp_path: Path) -> None:
    pkg = LoadPackage.create(tmp_path, Manifest("L1", "p", "s", "d"))
    writer = PackageWriter(pkg)
    writer.write("t", pa.table({"a": [1, 2]}))
    writer.write("t", pa.table({"a": [3]}))
    writer.write("t", pa.table({"a": [4], "b": ["x"]}))
    writer.write("u", pa.table({"z": [True]}))
    writer.close()
    files = pkg.manifest.tables["t"].files
    assert len(files) == 2 and pkg.manifest.tables["t"].rows == 4
    first = read_file(pkg.root / files[0]).read_all()
    assert first.column("a").to_pylist() == [1, 2, 3]
    assert read_file(pkg.root / files[1]).read_all().column_names == ["a", "b"]


def test_manifest_status_round_trip_and_listing(tmp_path: Path) -> None:
    a = LoadPackage.create(tmp_path, Manifest("20260101T000000.000001Z", "p", "s", "d"))
    b = LoadPackage.create(tmp_path, Manifest("20260101T000000.000002Z", "p", "s", "d"))
    b.set_status(NORMALIZED)
    listed = list_packages(tmp_path)
    assert [p.load_id for p in listed] == [a.load_id, b.load_id]
    assert listed[1].status == NORMALIZED


def test_complete_moves_the_manifest_and_deletes_data(tmp_path: Path) -> None:
    pkg = LoadPackage.create(tmp_path / "packages", Manifest("L1", "p", "s", "d"))
    writer = PackageWriter(pkg)
    writer.write("t", pa.table({"a": [1]}))
    writer.close()
    pkg.write_schema(b"{}")
    pkg.complete(tmp_path / "completed")
    assert not (tmp_path / "packages" / "L1").exists()
    assert (tmp_path / "completed" / "L1" / "manifest.json").exists()
    assert not (tmp_path / "completed" / "L1" / "data").exists()


def test_unreadable_manifest_is_a_state_error(tmp_path: Path) -> None:
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "manifest.json").write_text("{not json")
    with pytest.raises(StateError, match="unreadable"):
        list_packages(tmp_path)


def test_parquet_package_files_round_trip(tmp_path: Path) -> None:
    pkg = LoadPackage.create(tmp_path, Manifest("L1", "p", "s", "d"))
    writer = PackageWriter(pkg, file_format="parquet")
    writer.write("t", pa.table({"a": [1, 2], "s": ["x", None]}))
    writer.write("t", pa.table({"a": [3], "s": ["z"]}))
    writer.close()
    (name,) = pkg.manifest.tables["t"].files
    assert name.endswith(".parquet")
    import pyarrow.parquet as pq

    assert pq.read_table(pkg.root / name).column("a").to_pylist() == [1, 2, 3]  # any engine can read it
    assert read_file(pkg.root / name).read_all().column("s").to_pylist() == ["x", None, "z"]


def test_unknown_package_format(tmp_path: Path) -> None:
    from headwater.errors import ConfigError

    pkg = LoadPackage.create(tmp_path, Manifest("L1", "p", "s", "d"))
    with pytest.raises(ConfigError, match="unknown package file format"):
        PackageWriter(pkg, file_format="csv")


@pytest.mark.parametrize("suffix", [".arrow", ".parquet"])
def test_read_runs_gives_one_stream_per_run_of_files_with_one_schema(tmp_path: Path, suffix: str) -> None:
    import pyarrow.ipc as ipc
    import pyarrow.parquet as pq

    tables = [
        pa.table({"a": [1, 2]}),
        pa.table({"a": [3]}),
        pa.table({"a": [4], "b": ["x"]}),  # another schema: a run of its own
        pa.table({"a": [5]}),  # the first schema again, after it: not merged into the first run
        pa.table({"a": [6, 7]}),
    ]
    paths = []
    for i, table in enumerate(tables):
        path = tmp_path / f"f{i}{suffix}"
        if suffix == ".parquet":
            pq.write_table(table, path)
        else:
            with ipc.new_file(path, table.schema) as out:
                out.write_table(table)
        paths.append(path)
    runs = [reader.read_all() for reader in read_runs(paths)]
    assert [t.to_pydict() for t in runs] == [
        {"a": [1, 2, 3]},
        {"a": [4], "b": ["x"]},
        {"a": [5, 6, 7]},
    ]
    assert list(read_runs([])) == []
