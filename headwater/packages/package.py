"""Load packages: normalized data on local disk, one folder per load, durable and resumable.

Layout of a package::

    <working folder>/packages/<load_id>/
        manifest.json          status, tables, files, row counts (written atomically)
        schema.json            the schema the data was normalized with
        state.json             the pipeline state to commit with the data
        data/<table>/<n>.arrow     Arrow IPC files (LZ4), one schema per file (or .parquet)

Status moves ``open`` (being written) -> ``normalized`` (complete, ready to load) -> ``loaded``.
A package left ``open`` by a crash holds data that was never complete; it is discarded because the
next run extracts again. A ``normalized`` package is loaded by the next run without extracting again.
A ``partial`` package holds the rows extracted before a resource failed; it is kept but only loaded
on request (``pipeline.load(include_partial=True)``). After loading, the data files are deleted and
the manifest moves to ``<working folder>/completed/``, which keeps the newest 200 loads.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from headwater.errors import StateError

OPEN = "open"
NORMALIZED = "normalized"
PARTIAL = "partial"
LOADED = "loaded"


@dataclass
class TableFiles:
    """The files of one table in a package."""

    files: list[str] = field(default_factory=list)
    rows: int = 0


@dataclass
class Manifest:
    """What a package holds. Stored as ``manifest.json``."""

    load_id: str
    pipeline: str
    schema_name: str
    dataset: str
    status: str = OPEN
    created_at: float = field(default_factory=time.time)
    schema_version: int = 0
    tables: dict[str, TableFiles] = field(default_factory=dict)
    replace_tables: list[str] = field(default_factory=list)
    resources: list[str] = field(default_factory=list)
    new_columns: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None
    loaded_at: float | None = None
    extract_seconds: float | None = None

    def to_json(self) -> bytes:
        data: dict[str, Any] = {
            "load_id": self.load_id,
            "pipeline": self.pipeline,
            "schema_name": self.schema_name,
            "dataset": self.dataset,
            "status": self.status,
            "created_at": self.created_at,
            "schema_version": self.schema_version,
            "tables": {k: {"files": v.files, "rows": v.rows} for k, v in self.tables.items()},
            "replace_tables": self.replace_tables,
            "resources": self.resources,
            "new_columns": self.new_columns,
            "error": self.error,
            "loaded_at": self.loaded_at,
            "extract_seconds": self.extract_seconds,
        }
        return orjson.dumps(data, option=orjson.OPT_INDENT_2)

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        data = orjson.loads(raw)
        tables = {k: TableFiles(v["files"], v["rows"]) for k, v in data.pop("tables", {}).items()}
        return cls(tables=tables, **data)

    @property
    def total_rows(self) -> int:
        return sum(t.rows for t in self.tables.values())


def write_atomic(path: Path, data: bytes) -> None:
    """Write a file so that readers see the old or the new content, never a torn one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class LoadPackage:
    """A package folder and its manifest."""

    def __init__(self, root: Path, manifest: Manifest) -> None:
        self.root = root
        self.manifest = manifest

    @property
    def load_id(self) -> str:
        return self.manifest.load_id

    @property
    def status(self) -> str:
        return self.manifest.status

    @property
    def schema_path(self) -> Path:
        return self.root / "schema.json"

    @property
    def state_path(self) -> Path:
        return self.root / "state.json"

    def data_dir(self, table: str) -> Path:
        return self.root / "data" / table

    def file_paths(self, table: str) -> list[Path]:
        return [self.root / f for f in self.manifest.tables[table].files]

    @classmethod
    def create(cls, packages_dir: Path, manifest: Manifest) -> LoadPackage:
        root = packages_dir / manifest.load_id
        (root / "data").mkdir(parents=True, exist_ok=False)
        package = cls(root, manifest)
        package.save()
        return package

    @classmethod
    def open(cls, root: Path) -> LoadPackage:
        try:
            manifest = Manifest.from_json((root / "manifest.json").read_bytes())
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise StateError(
                f"the load package at {root} is unreadable: {exc}",
                hint="delete the folder if it holds nothing you need; the data was never loaded",
            ) from exc
        return cls(root, manifest)

    def save(self) -> None:
        write_atomic(self.root / "manifest.json", self.manifest.to_json())

    def write_schema(self, schema_json: bytes) -> None:
        write_atomic(self.schema_path, schema_json)

    def read_schema(self) -> bytes:
        return self.schema_path.read_bytes()

    def write_state(self, state_json: bytes) -> None:
        write_atomic(self.state_path, state_json)

    def read_state(self) -> bytes | None:
        """The pipeline state this package commits (None for packages made without one)."""
        return self.state_path.read_bytes() if self.state_path.exists() else None

    def set_status(self, status: str, *, error: str | None = None) -> None:
        self.manifest.status = status
        if error is not None:
            self.manifest.error = error
        self.save()

    def complete(self, completed_dir: Path, *, keep_data: bool = False) -> None:
        """Mark loaded and move out of the pending folder (data files are deleted unless kept)."""
        self.manifest.status = LOADED
        self.manifest.loaded_at = time.time()
        self.save()
        completed_dir.mkdir(parents=True, exist_ok=True)
        target = completed_dir / self.load_id
        if target.exists():
            shutil.rmtree(target)
        if keep_data:
            os.replace(self.root, target)
        else:
            target.mkdir()
            os.replace(self.root / "manifest.json", target / "manifest.json")
            shutil.rmtree(self.root)
        _fsync_dir(completed_dir)
        self.root = target
        _prune(completed_dir, KEEP_COMPLETED)

    def discard(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


KEEP_COMPLETED = 200


def _prune(completed_dir: Path, keep: int) -> None:
    """Keep the history of the newest ``keep`` loads (load ids sort by time)."""
    entries = sorted(p for p in completed_dir.iterdir() if p.is_dir())
    for old in entries[: max(len(entries) - keep, 0)]:
        shutil.rmtree(old, ignore_errors=True)


def read_file(path: Path) -> Any:
    """A package file (``.arrow`` or ``.parquet``) as a stream of record batches, read batch by batch.

    Plain reads rather than a memory map: a map would keep every page of the file resident (and
    counted in the process's memory) until the kernel evicts it; batches read and dropped do not.
    """
    import pyarrow as pa
    import pyarrow.ipc as ipc

    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(str(path))
        return pa.RecordBatchReader.from_batches(parquet.schema_arrow, parquet.iter_batches())
    source = pa.OSFile(str(path))
    reader = ipc.open_file(source)

    def batches() -> Any:
        try:
            for i in range(reader.num_record_batches):
                yield reader.get_batch(i)
        finally:
            source.close()

    return pa.RecordBatchReader.from_batches(reader.schema, batches())


def list_packages(packages_dir: Path) -> list[LoadPackage]:
    """Packages in a folder, oldest first (load ids sort by time)."""
    if not packages_dir.is_dir():
        return []
    return [
        LoadPackage.open(entry)
        for entry in sorted(packages_dir.iterdir())
        if entry.is_dir() and (entry / "manifest.json").exists()
    ]
