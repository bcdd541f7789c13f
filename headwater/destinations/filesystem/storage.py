"""The few file operations the filesystem destination needs, on local disk or through fsspec."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from headwater.packages.package import write_atomic


class LocalFiles:
    """Local disk: atomic writes by rename, fsync'd."""

    def names(self, folder: str) -> list[str]:
        """The names of the entries of ``folder``."""
        return os.listdir(folder)

    def read_bytes(self, path: str) -> bytes:
        """The content of the file ``path``."""
        return Path(path).read_bytes()

    def write_atomic(self, path: str, data: bytes) -> None:
        """Write ``data`` to ``path`` atomically (a temporary file renamed over it)."""
        write_atomic(Path(path), data)

    def makedirs(self, folder: str) -> None:
        """Create ``folder`` and its parents if missing."""
        Path(folder).mkdir(parents=True, exist_ok=True)

    def rm(self, path: str) -> None:
        """Delete the file or folder ``path``."""
        target = Path(path)
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink()

    def exists(self, path: str) -> bool:
        """Whether ``path`` exists."""
        return Path(path).exists()


class FsspecFiles:
    """Any fsspec filesystem. Object stores write an object whole, so a write is atomic there."""

    def __init__(self, fs: Any) -> None:
        self.fs = fs

    def names(self, folder: str) -> list[str]:
        """The names of the entries of ``folder``."""
        return [str(p).rstrip("/").rsplit("/", 1)[-1] for p in self.fs.ls(folder, detail=False)]

    def read_bytes(self, path: str) -> bytes:
        """The content of the file ``path``."""
        data: bytes = self.fs.cat_file(path)
        return data

    def write_atomic(self, path: str, data: bytes) -> None:
        """Write ``data`` to ``path`` in one put (object stores replace an object whole)."""
        self.fs.pipe_file(path, data)

    def makedirs(self, folder: str) -> None:
        """Create ``folder`` and its parents if missing."""
        self.fs.makedirs(folder, exist_ok=True)

    def rm(self, path: str) -> None:
        """Delete ``path``, recursively."""
        self.fs.rm(path, recursive=True)

    def exists(self, path: str) -> bool:
        """Whether ``path`` exists."""
        return bool(self.fs.exists(path))
