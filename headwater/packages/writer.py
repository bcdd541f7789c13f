"""Writes normalized Arrow tables into a package's files, off the normalizing thread.

Package files are Arrow IPC files (LZ4-compressed record batches) by default: writing them costs a
fifth of Parquet's encoding, every destination reads them back batch by batch, and they keep Arrow
types exactly. ``file_format="parquet"`` writes Parquet instead (smaller on disk, readable by any
engine while the package waits). Encoding releases the GIL, so a writer thread overlaps it with the
normalization of the next batch. The queue between the two is short, which keeps memory bounded:
when the disk is slower than the normalizer, the normalizer waits.
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path
from typing import Any, TypeGuard

import pyarrow as pa
import pyarrow.ipc as ipc

from headwater.errors import ConfigError, StateError
from headwater.packages.files import fsync_dir, seal_file
from headwater.packages.package import LoadPackage, TableFiles
from headwater.schema.vocabulary import PACKAGE_FORMATS, PackageFormat

_STOP = object()


FILE_FORMATS = PACKAGE_FORMATS


def is_package_format(value: object) -> TypeGuard[PackageFormat]:
    """Whether ``value`` is a package file format: ``"arrow"`` or ``"parquet"``."""
    return value in FILE_FORMATS


class _TableFile:
    def __init__(self, path: Path, schema: pa.Schema, file_format: PackageFormat) -> None:
        self.path = path
        self.schema = schema
        self.sink = pa.OSFile(str(path), "wb")
        self.writer: Any
        if file_format == "parquet":
            import pyarrow.parquet as pq

            self.writer = pq.ParquetWriter(self.sink, schema, compression="zstd", write_statistics=False)
        else:
            self.writer = ipc.new_file(self.sink, schema, options=ipc.IpcWriteOptions(compression="lz4"))

    def close(self) -> None:
        self.writer.close()
        self.sink.close()


class PackageWriter:
    """Appends Arrow tables to per-table Arrow IPC files of a package.

    A new file starts whenever a table's Arrow schema changes (a new column, a widened type), so every
    file has one schema; the destination reads them together by column name.

    Args:
        package: the package the files go into.
        file_format: ``"arrow"`` (Arrow IPC, the default) or ``"parquet"``.
        threaded: write on a thread of its own, overlapping the normalization of the next batch.

    Raises:
        ConfigError: an unknown ``file_format``.
    """

    def __init__(self, package: LoadPackage, *, file_format: str = "arrow", threaded: bool = True) -> None:
        if not is_package_format(file_format):
            raise ConfigError(f"unknown package file format {file_format!r}", hint="use 'arrow' or 'parquet'")
        self.package = package
        self.file_format: PackageFormat = file_format
        self._open: dict[str, _TableFile] = {}
        self._counts: dict[str, int] = {}
        self._error: BaseException | None = None
        self._queue: queue.Queue[Any] | None = None
        self._thread: threading.Thread | None = None
        if threaded:
            self._queue = queue.Queue(maxsize=4)
            self._thread = threading.Thread(target=self._run, name="headwater-writer", daemon=True)
            self._thread.start()

    def write(self, table: str, data: pa.Table) -> None:
        """Queue ``data`` for ``table``'s current file (written at once when not threaded).

        Raises:
            StateError: a previous write failed (on the writer thread, it surfaces at the next call).
        """
        self._raise_pending()
        if self._queue is None:
            self._write(table, data)
        else:
            self._queue.put((table, data))

    def close(self) -> None:
        """Finish every file and record them, with their sizes and CRC-32, in the manifest (not saved:
        the caller seals it)."""
        if self._queue is not None and self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._queue = None
        for f in self._open.values():
            f.close()
        self._open.clear()
        self._raise_pending()
        try:
            for files in self.package.manifest.tables.values():
                sealed = [seal_file(self.package.root / rel, self.package.checked.get(rel)) for rel in files.files]
                files.sizes = [size for size, _ in sealed]
                files.checksums = [crc for _, crc in sealed]
            # the files' entries in their folders (new files, parts renamed in), and the folders' own entries
            # up to the package's root (which sealing the manifest syncs), are as durable as the files
            folders = {
                Path(rel).parents[i]
                for t in self.package.manifest.tables.values()
                for rel in t.files
                for i in range(len(Path(rel).parents) - 1)
            }
            for folder in sorted(folders, key=lambda f: -len(f.parts)):  # deepest first
                fsync_dir(self.package.root / folder)
            self.package.written_here = True
        except OSError as exc:
            self._error = exc
            self._raise_pending()

    # -- internals -------------------------------------------------------------------------------
    def _run(self) -> None:
        assert self._queue is not None
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if self._error is not None:
                continue  # drain without writing after a failure
            try:
                self._write(*item)
            except BaseException as exc:
                self._error = exc

    def _raise_pending(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise StateError(
                f"writing the load package at {self.package.root} failed: {error}",
                hint="check free disk space and permissions of the pipeline's working folder",
            ) from error

    def _write(self, table: str, data: pa.Table) -> None:
        current = self._open.get(table)
        if current is None or current.schema != data.schema:
            if current is not None:
                current.close()
            current = self._new_file(table, data.schema)
        current.writer.write_table(data)
        files = self.package.manifest.tables.setdefault(table, TableFiles())
        files.rows += data.num_rows

    def _new_file(self, table: str, schema: pa.Schema) -> _TableFile:
        folder = self.package.data_dir(table)
        folder.mkdir(parents=True, exist_ok=True)
        n = self._counts.get(table, 0)
        self._counts[table] = n + 1
        path = folder / f"{n:05d}.{self.file_format}"
        f = _TableFile(path, schema, self.file_format)
        self._open[table] = f
        files = self.package.manifest.tables.setdefault(table, TableFiles())
        files.files.append(str(path.relative_to(self.package.root)))
        return f
