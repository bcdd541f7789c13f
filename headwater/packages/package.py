"""Load packages: normalized data on local disk, one folder per load, durable and resumable.

Layout of a package::

    <working folder>/packages/<load_id>/
        manifest.json          status, tables, files (with their sizes and CRC-32), row counts
                               (written atomically)
        schema.json            the schema the data was normalized with
        state.json             the pipeline state to commit with the data
        data/<table>/<n>.arrow     Arrow IPC files (LZ4), one schema per file (or .parquet)

Status moves ``open`` (being written) -> ``normalized`` (complete, ready to load) -> ``loaded``.
A package left ``open`` by a crash holds data that was never complete; it is discarded because the
next run extracts again. A ``normalized`` package is loaded by the next run without extracting again.
A ``partial`` package holds the rows extracted before a resource failed; it is kept but only loaded
on request (``pipeline.load(include_partial=True)``). After loading, the data files are deleted and
the manifest moves to ``<working folder>/completed/``, which keeps the newest 200 loads.

Nothing read from a package is trusted: a manifest, schema or state of the wrong shape, or a data
file whose size or checksum is not the one recorded when the package was sealed, is a
:class:`~headwater.errors.StateError` naming the file and the command that drops the package
(:mod:`headwater.packages.files`), raised before the destination is touched.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from headwater.packages.files import (
    check_int,
    check_str,
    drop_pending_command,
    file_checksum,
    fsync_dir,
    json_object,
    parse_schema,
    read_json,
    unusable,
)
from headwater.schema.state import PipelineState

if TYPE_CHECKING:
    from headwater.schema.model import Schema

OPEN = "open"
NORMALIZED = "normalized"
PARTIAL = "partial"
LOADED = "loaded"
STATUSES = (OPEN, NORMALIZED, PARTIAL, LOADED)


@dataclass
class TableFiles:
    """The files of one table in a package, with the size and CRC-32 of each (recorded when the
    package is sealed; empty for packages written before they were recorded)."""

    files: list[str] = field(default_factory=list)
    rows: int = 0
    sizes: list[int] = field(default_factory=list)
    checksums: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The table's entry in ``manifest.json`` (sizes and checksums only when recorded)."""
        out: dict[str, Any] = {"files": self.files, "rows": self.rows}
        if self.sizes:
            out["sizes"] = self.sizes
            out["crc32"] = self.checksums
        return out

    @classmethod
    def from_dict(cls, table: str, data: Any) -> TableFiles:
        """The entry of ``table`` read back from ``manifest.json``, checked.

        Raises:
            ValueError: a field has the wrong type or value, or a path leaves the package's data folder.
        """
        data = json_object(data)
        files = data["files"]
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            raise ValueError(f"the files of table {table!r} must be a list of paths")
        for rel in files:
            parts = Path(rel).parts
            if Path(rel).is_absolute() or ".." in parts or not parts or parts[0] != "data":
                raise ValueError(f"the file {rel!r} of table {table!r} is not inside the package's data folder")
        sizes = data.get("sizes", [])
        checksums = data.get("crc32", [])
        if sizes or checksums:
            if len(sizes) != len(files) or len(checksums) != len(files):
                raise ValueError(f"table {table!r} records {len(files)} files but not one size and checksum each")
            sizes = [check_int(v, "a file size") for v in sizes]
            checksums = [check_int(v, "a file checksum") for v in checksums]
        return cls(list(files), check_int(data["rows"], f"the rows of table {table!r}"), sizes, checksums)


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
    #: version and load id of the pipeline state the extraction started from (None: not recorded)
    base_state_version: int | None = None
    base_state_load_id: str | None = None
    #: data-quality checks: ``{"results": [row check results], "tables": {table: [table checks]}}``
    checks: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> bytes:
        """The manifest as the bytes of ``manifest.json``."""
        data: dict[str, Any] = {
            "load_id": self.load_id,
            "pipeline": self.pipeline,
            "schema_name": self.schema_name,
            "dataset": self.dataset,
            "status": self.status,
            "created_at": self.created_at,
            "schema_version": self.schema_version,
            "tables": {k: v.to_dict() for k, v in self.tables.items()},
            "replace_tables": self.replace_tables,
            "resources": self.resources,
            "new_columns": self.new_columns,
            "error": self.error,
            "loaded_at": self.loaded_at,
            "extract_seconds": self.extract_seconds,
        }
        if self.base_state_version is not None:
            data["base_state_version"] = self.base_state_version
            data["base_state_load_id"] = self.base_state_load_id
        if self.checks:
            data["checks"] = self.checks
        return orjson.dumps(data, option=orjson.OPT_INDENT_2)

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        """A manifest from the bytes of ``manifest.json`` (see :meth:`from_data` for the checks)."""
        return cls.from_data(orjson.loads(raw))

    @classmethod
    def from_data(cls, data: Any) -> Manifest:
        """A manifest from its parsed JSON, checked field by field (``ValueError``/``TypeError``/
        ``KeyError`` name what is wrong). Keys it does not know are ignored."""
        data = json_object(data)
        status = data.get("status", OPEN)
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r} (one of {', '.join(STATUSES)})")
        tables = json_object(data.get("tables", {}))

        def number(key: str) -> float | None:
            value = data.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise ValueError(f"{key} must be a number, found {value!r}")
            return value

        def names(key: str) -> list[str]:
            value = data.get(key, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"{key} must be a list of names")
            return value

        new_columns = json_object(data.get("new_columns", {}))
        base_version = data.get("base_state_version")
        return cls(
            load_id=check_str(data["load_id"], "load_id"),
            pipeline=check_str(data["pipeline"], "pipeline"),
            schema_name=check_str(data["schema_name"], "schema_name"),
            dataset=check_str(data["dataset"], "dataset"),
            status=status,
            created_at=number("created_at") or 0.0,
            schema_version=check_int(data.get("schema_version", 0), "schema_version"),
            tables={check_str(k, "a table name"): TableFiles.from_dict(k, v) for k, v in tables.items()},
            replace_tables=names("replace_tables"),
            resources=names("resources"),
            new_columns={k: list(v) for k, v in new_columns.items()},
            error=check_str(data.get("error"), "error", optional=True),
            loaded_at=number("loaded_at"),
            extract_seconds=number("extract_seconds"),
            base_state_version=None if base_version is None else check_int(base_version, "base_state_version"),
            base_state_load_id=check_str(data.get("base_state_load_id"), "base_state_load_id", optional=True),
            checks=json_object(data.get("checks", {})),
        )

    @property
    def total_rows(self) -> int:
        """The rows of every table of the package."""
        return sum(t.rows for t in self.tables.values())


def write_atomic(path: Path, data: bytes) -> None:
    """Write a file so that readers see the old or the new content, never a torn one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


class LoadPackage:
    """A package folder and its manifest.

    Args:
        root: the package folder (named by its load id).
        manifest: what the package holds.
    """

    def __init__(self, root: Path, manifest: Manifest) -> None:
        self.root = root
        self.manifest = manifest
        #: this process sealed the package: it computed the data files' sizes and CRC-32 from the files in
        #: place moments before (set by the package writer; parts of partitions are checked against their
        #: own before they are adopted): :meth:`verify` checks the sizes and reads no file back
        self.written_here = False
        #: data files (by path in the package) this process checked as they came in, with the size and
        #: CRC-32 they were checked against: the package writer records these and reads none of them again
        self.checked: dict[str, tuple[int, int]] = {}

    @property
    def load_id(self) -> str:
        """The load id: the package folder's name."""
        return self.manifest.load_id

    @property
    def status(self) -> str:
        """Where the package is in its life: ``open``, ``normalized``, ``partial`` or ``loaded``."""
        return self.manifest.status

    @property
    def schema_path(self) -> Path:
        """``schema.json``: the schema the data was normalized with."""
        return self.root / "schema.json"

    @property
    def state_path(self) -> Path:
        """``state.json``: the pipeline state this package commits."""
        return self.root / "state.json"

    def data_dir(self, table: str) -> Path:
        """The folder of ``table``'s data files."""
        return self.root / "data" / table

    def file_paths(self, table: str) -> list[Path]:
        """The data files of ``table``, in the order they were written."""
        return [self.root / f for f in self.manifest.tables[table].files]

    @classmethod
    def create(cls, packages_dir: Path, manifest: Manifest) -> LoadPackage:
        """Create the package folder under ``packages_dir`` and write its manifest.

        Raises:
            FileExistsError: a package with this load id exists.
        """
        root = packages_dir / manifest.load_id
        (root / "data").mkdir(parents=True, exist_ok=False)
        package = cls(root, manifest)
        package.save()
        return package

    @classmethod
    def open(cls, root: Path) -> LoadPackage:
        """The package in folder ``root``.

        Raises:
            StateError: the manifest is missing, unreadable or of the wrong shape, or belongs to
                another folder; the hint gives the command that drops the package.
        """
        manifest = read_json(
            root / "manifest.json",
            what=f"the manifest of load package {root.name}",
            hint=recovery_hint(root),
            parse=Manifest.from_data,
        )
        if manifest.load_id != root.name:
            raise unusable(
                root / "manifest.json",
                f"the manifest of load package {root.name}",
                f"it describes load {manifest.load_id!r}, not the folder's {root.name!r}",
                recovery_hint(root),
            )
        return cls(root, manifest)

    def recovery_hint(self) -> str:
        """How to get rid of this package when it cannot be loaded."""
        return recovery_hint(self.root)

    def save(self) -> None:
        """Write the manifest atomically."""
        write_atomic(self.root / "manifest.json", self.manifest.to_json())

    def write_schema(self, schema_json: bytes) -> None:
        """Write ``schema.json`` atomically."""
        write_atomic(self.schema_path, schema_json)

    def read_schema(self) -> bytes:
        """The bytes of ``schema.json``."""
        return self.schema_path.read_bytes()

    def load_schema(self) -> Schema:
        """The schema the package's data was normalized with, checked (a :class:`StateError` naming
        the file and the recovery otherwise)."""
        return read_json(
            self.schema_path,
            what=f"the schema of load package {self.load_id}",
            hint=self.recovery_hint(),
            parse=parse_schema,
        )

    def load_state(self) -> PipelineState | None:
        """The pipeline state this package commits, checked (None for packages made without one)."""
        if not self.state_path.exists() and not self.state_path.is_symlink():
            return None
        return read_json(
            self.state_path,
            what=f"the state of load package {self.load_id}",
            hint=self.recovery_hint(),
            parse=PipelineState.from_data,
        )

    def verify(self, *, checksums: bool = True) -> tuple[Schema, PipelineState | None]:
        """Check the package before a destination reads it: its schema and state parse, and every
        data file is a file of the size and CRC-32 recorded when the package was sealed (without
        ``checksums``, or for a package this process wrote (:attr:`written_here`: its files were
        checksummed moments ago, as they were sealed), only its size: no data file is read).

        Returns:
            The package's schema and state.

        Raises:
            StateError: naming the first bad file and the command that drops the package.
        """
        schema = self.load_schema()
        state = self.load_state()
        for table, files in self.manifest.tables.items():
            for i, rel in enumerate(files.files):
                path = self.root / rel
                reason: str | OSError | None
                try:
                    reason = _data_file_problem(path, files, i, checksums=checksums and not self.written_here)
                except OSError as exc:
                    reason = exc
                if reason is not None:
                    what = f"the data file of table {table!r} in load package {self.load_id}"
                    raise unusable(path, what, reason, self.recovery_hint())
        return schema, state

    def write_state(self, state_json: bytes) -> None:
        """Write ``state.json`` atomically."""
        write_atomic(self.state_path, state_json)

    def read_state(self) -> bytes | None:
        """The pipeline state this package commits (None for packages made without one)."""
        return self.state_path.read_bytes() if self.state_path.exists() else None

    def set_status(self, status: str, *, error: str | None = None) -> None:
        """Set the status (and the error that caused it, if any) and save the manifest."""
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
        fsync_dir(completed_dir)
        self.root = target
        _prune(completed_dir, KEEP_COMPLETED)

    def discard(self) -> None:
        """Delete the package folder and everything in it."""
        shutil.rmtree(self.root, ignore_errors=True)


KEEP_COMPLETED = 200


def _data_file_problem(path: Path, files: TableFiles, i: int, *, checksums: bool) -> str | None:
    """What is wrong with the ``i``-th data file of a table, or None."""
    if not path.is_file():
        return "it is missing" if not path.exists() else "it is a folder, where a file should be"
    size = path.stat().st_size
    if files.sizes and size != files.sizes[i]:
        return f"it has {size:,} bytes, {files.sizes[i]:,} when the package was sealed (truncated or overwritten)"
    if checksums and files.checksums and file_checksum(path)[1] != files.checksums[i]:
        return "its CRC-32 differs from the one recorded when it was written (garbled)"
    return None


def _prune(completed_dir: Path, keep: int) -> None:
    """Keep the history of the newest ``keep`` loads (load ids sort by time)."""
    entries = sorted(p for p in completed_dir.iterdir() if p.is_dir())
    for old in entries[: max(len(entries) - keep, 0)]:
        shutil.rmtree(old, ignore_errors=True)


def package_folders(packages_dir: Path) -> list[Path]:
    """The package folders in a folder, oldest first (load ids sort by time); hidden entries and
    stray files are not packages."""
    try:
        if not packages_dir.is_dir():
            return []
        entries = sorted(packages_dir.iterdir())
    except OSError as exc:
        raise unusable(
            packages_dir, "the packages folder", exc, "restore access to it, or move it away to drop every package"
        ) from exc
    return [e for e in entries if not e.name.startswith(".") and e.is_dir()]


def list_packages(packages_dir: Path) -> list[LoadPackage]:
    """Packages in a folder, oldest first (load ids sort by time).

    A folder with a manifest that cannot be used is a :class:`StateError` naming the command that
    drops it. A folder without a manifest is a package whose creation was interrupted; it is skipped.
    """
    return [
        LoadPackage.open(entry)
        for entry in package_folders(packages_dir)
        if (entry / "manifest.json").exists() or (entry / "manifest.json").is_symlink()
    ]


def recovery_hint(package_root: Path) -> str:
    """The hint of every error about a package that cannot be loaded: the command that drops it."""
    return (
        f"drop the package: {drop_pending_command(package_root.parent.parent, [package_root.name])} "
        f"(or pipeline.drop_pending({package_root.name!r}) in Python). Data already committed to the "
        "destination is not touched, and the next run extracts from the last committed state"
    )
