"""Package files and states are checked before they are used: manifests, schemas and states of the
wrong shape, and data files whose size or CRC-32 changed, are StateErrors naming the file and the
command that drops the package. And the state operations behind stale and late partial packages."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest

from headwater.errors import ConfigError, StateError
from headwater.packages.package import NORMALIZED, LoadPackage, Manifest, TableFiles, list_packages
from headwater.packages.writer import PackageWriter
from headwater.schema.state import PipelineState

LOAD_ID = "20260101T000000.000001Z"


def sealed(tmp_path: Path, fmt: str = "arrow") -> LoadPackage:
    root = tmp_path / "wd" / "packages"
    pkg = LoadPackage.create(root, Manifest(LOAD_ID, "p", "s", "d", resources=["r"]))
    writer = PackageWriter(pkg, file_format=fmt)
    writer.write("t", pa.table({"a": list(range(1000)), "s": ["x" * 20] * 1000}))
    writer.close()
    pkg.write_schema(b'{"name": "s", "version": 1, "version_hash": "h", "tables": []}')
    pkg.write_state(PipelineState().to_json())
    pkg.set_status(NORMALIZED)
    return pkg


@pytest.mark.parametrize("fmt", ["arrow", "parquet"])
def test_sealed_files_carry_their_size_and_checksum(tmp_path: Path, fmt: str) -> None:
    pkg = sealed(tmp_path, fmt)
    files = pkg.manifest.tables["t"]
    assert files.sizes == [pkg.file_paths("t")[0].stat().st_size]
    assert len(files.checksums) == 1
    reopened = list_packages(pkg.root.parent)[0]
    assert reopened.manifest.tables["t"].checksums == files.checksums
    schema, state = reopened.verify()
    assert schema.name == "s" and state is not None and state.version == 0


def _flip(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x01  # one bit, the size unchanged
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (_flip, "CRC-32 differs"),
        (lambda p: p.write_bytes(p.read_bytes()[:-10]), "bytes, "),
        (lambda p: p.unlink(), "missing"),
        (lambda p: (p.unlink(), p.mkdir()), "folder"),
    ],
    ids=["one-bit", "truncated", "missing", "folder"],
)
def test_a_damaged_data_file_is_refused_with_the_command_that_drops_the_package(
    tmp_path: Path, damage: Any, reason: str
) -> None:
    pkg = sealed(tmp_path)
    path = pkg.file_paths("t")[0]
    damage(path)
    with pytest.raises(StateError, match=reason) as err:
        LoadPackage.open(pkg.root).verify()  # as a later run or `pipeline.load()` reads it
    assert err.value.path == str(path)
    assert f"`headwater pipeline drop-pending wd --load-id {LOAD_ID} --pipelines-dir" in (err.value.hint or "")


def test_the_package_a_process_just_wrote_is_verified_by_size_without_reading_its_files(tmp_path: Path) -> None:
    """``run()`` loads the package it has just sealed: the checksums were computed from those files
    moments before, so reading them again would only cost time (4% of a 1M-row Arrow load). Their sizes
    are still checked; a package opened from disk is checked in full."""
    pkg = sealed(tmp_path)
    assert pkg.written_here and not LoadPackage.open(pkg.root).written_here
    path = pkg.file_paths("t")[0]
    _flip(path)
    pkg.verify()  # not read: the flipped bit goes unseen here ...
    with pytest.raises(StateError, match="CRC-32 differs"):
        LoadPackage.open(pkg.root).verify()  # ... and not once the package is read from disk
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(StateError, match="bytes, "):
        pkg.verify()


def test_a_file_checked_as_it_came_in_is_sealed_with_that_checksum_not_read_again(tmp_path: Path) -> None:
    """A partition's part is checked against its worker's checksums, then moved into the run's package:
    sealing records those, so the bytes the worker wrote are the bytes the load checks; a file changed
    between the two is caught when the package is read, not blessed by a second checksum."""
    root = tmp_path / "wd" / "packages"
    worker = sealed(tmp_path / "worker")
    (worker_file,) = worker.file_paths("t")
    worker_seal = (worker.manifest.tables["t"].sizes[0], worker.manifest.tables["t"].checksums[0])
    pkg = LoadPackage.create(root, Manifest(LOAD_ID, "p", "s", "d", resources=["r"]))
    moved = pkg.data_dir("t")
    moved.mkdir(parents=True)
    in_package = str((moved / "p00000-00000.arrow").relative_to(pkg.root))
    worker_file.replace(pkg.root / in_package)
    pkg.manifest.tables.setdefault("t", TableFiles()).files.append(in_package)
    pkg.checked[in_package] = worker_seal
    _flip(pkg.root / in_package)  # changed after it was checked
    writer = PackageWriter(pkg, file_format="arrow")
    writer.write("t", pa.table({"a": [1], "s": ["y"]}))  # a file of the driver's own: sealed from its bytes
    writer.close()
    files = pkg.manifest.tables["t"]
    assert files.files[0] == in_package and (files.sizes[0], files.checksums[0]) == worker_seal
    pkg.write_schema(b'{"name": "s", "version": 1, "version_hash": "h", "tables": []}')
    pkg.write_state(PipelineState().to_json())
    pkg.set_status(NORMALIZED)
    with pytest.raises(StateError, match="CRC-32 differs") as caught:
        LoadPackage.open(pkg.root).verify()
    assert in_package in str(caught.value)


def test_sealing_syncs_the_data_files_then_their_folders_then_the_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new file's name lives in its folder: until the folder is synced, a power cut can lose the file
    the synced manifest names (POSIX; ext4 and XFS often commit both together, nothing promises it)."""
    synced: list[str] = []
    real = os.fsync

    def fsync(fd: int) -> None:  # the real fsync, with the path of what it synced noted
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    pkg = sealed(tmp_path)
    data = str(pkg.root / "data")
    (file,) = [str(f) for f in pkg.file_paths("t")]
    sealing_manifest = max(i for i, path in enumerate(synced) if "manifest.json" in path)  # status: normalized
    order = [synced.index(file), synced.index(data + "/t"), synced.index(data), sealing_manifest]
    assert order == sorted(order) and synced[-1] == str(pkg.root)  # the manifest's new name, last


MANIFEST_DAMAGE = {
    "not an object": b"[1]",
    "unknown status": {"status": "done"},
    "rows not a number": {"tables": {"t": {"files": ["data/t/00000.arrow"], "rows": "many"}}},
    "a file outside the package": {"tables": {"t": {"files": ["../../../etc/passwd"], "rows": 1}}},
    "sizes without checksums": {"tables": {"t": {"files": ["data/t/a.arrow"], "rows": 1, "sizes": [3]}}},
    "a load id of another folder": {"load_id": "20990101T000000.000000Z"},
    "schema_version a string": {"schema_version": "1"},
    "resources not names": {"resources": [1, 2]},
}


@pytest.mark.parametrize("case", list(MANIFEST_DAMAGE))
def test_manifests_of_the_wrong_shape_are_state_errors(tmp_path: Path, case: str) -> None:
    pkg = sealed(tmp_path)
    change = MANIFEST_DAMAGE[case]
    path = pkg.root / "manifest.json"
    if isinstance(change, bytes):
        path.write_bytes(change)
    else:
        data = orjson.loads(path.read_bytes())
        data.update(change)
        path.write_bytes(orjson.dumps(data))
    with pytest.raises(StateError) as err:
        list_packages(pkg.root.parent)
    assert err.value.path == str(path) and "drop-pending" in (err.value.hint or "")


def test_unknown_manifest_keys_are_ignored(tmp_path: Path) -> None:
    pkg = sealed(tmp_path)
    path = pkg.root / "manifest.json"
    data = orjson.loads(path.read_bytes())
    data["written_by_a_newer_version"] = True
    path.write_bytes(orjson.dumps(data))
    assert list_packages(pkg.root.parent)[0].load_id == LOAD_ID


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "not a JSON object"),
        ({"version": "7"}, "invalid version"),
        ({"version": True}, "invalid version"),
        ({"version": -1}, "invalid version"),
        ({"version": 1, "load_id": 5}, "invalid load_id"),
        ({"version": 1, "sources": []}, "'sources' is not"),
        ({"version": 1, "sources": {"s": {"incremental": []}}}, "'incremental' state of source 's'"),
        ({"version": 1, "sources": {"s": {"source": {"x": {"$datetime": "yesterday"}}}}}, "does not parse"),
        ({"version": 1, "sources": {"s": {"source": {"x": {"$decimal": "many"}}}}}, "does not parse"),
    ],
)
def test_states_of_the_wrong_shape_are_state_errors(document: Any, message: str) -> None:
    with pytest.raises(StateError, match=message):
        PipelineState.from_json(orjson.dumps(document))


def test_a_rebased_state_takes_only_its_resources_and_a_new_version() -> None:
    old = PipelineState()
    old.incremental_state("shop", "a")["id"] = {"last_value": 999}
    old.resource_state("shop", "a")["page"] = 3
    old.mark_extracted("shop", ["a"], "L1")
    old.advance("L1")
    newer = PipelineState()
    newer.incremental_state("shop", "b")["id"] = {"last_value": 399}
    newer.incremental_state("shop", "a")["id"] = {"last_value": 5}
    newer.source_state("shop")["token"] = "t2"
    newer.data["version"] = 7
    out = old.rebased(newer, "shop", ["a"], version=8)
    assert out.version == 8 and out.load_id == "L1"
    assert out.incremental_state("shop", "a") == {"id": {"last_value": 999}}
    assert out.incremental_state("shop", "b") == {"id": {"last_value": 399}}
    assert out.resource_state("shop", "a") == {"page": 3}
    assert out.source_state("shop") == {"token": "t2"}
    assert out.last_load("shop", "a") == "L1"
    assert newer.version == 7  # not changed in place


def test_reset_names_are_checked_with_a_did_you_mean() -> None:
    state = PipelineState()
    state.incremental_state("shop", "orders")["id"] = {"last_value": 1}
    state.check_names(None, "orders", also={}, pipeline="p")
    state.check_names("shop", "customers", also={"shop": {"customers"}}, pipeline="p")
    with pytest.raises(ConfigError, match="did you mean 'orders'") as err:
        state.check_names(None, "order", also={}, pipeline="p")
    assert "orders" in (err.value.hint or "")
    with pytest.raises(ConfigError, match="no source 'shops'; did you mean 'shop'"):
        state.check_names("shops", None, also={}, pipeline="p")
