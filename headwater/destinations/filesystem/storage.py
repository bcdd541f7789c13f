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
        return os.listdir(folder)

    def read_bytes(self, path: str) -> bytes:
        return Path(path).read_bytes()

    def write_atomic(self, path: str, data: bytes) -> None:
        write_atomic(Path(path), data)

    def makedirs(self, folder: str) -> None:
        Path(folder).mkdir(parents=True, exist_ok=True)

    def rm(self, path: str) -> None:
        target = Path(path)
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink()

    def exists(self, path: str) -> bool:
        return Path(path).exists()


class FsspecFiles:
    """Any fsspec filesystem. Object stores write an object whole, so a write is atomic there."""

    def __init__(self, fs: Any) -> None:
        self.fs = fs

    def names(self, folder: str) -> list[str]:
        return [str(p).rstrip("/").rsplit("/", 1)[-1] for p in self.fs.ls(folder, detail=False)]

    def read_bytes(self, path: str) -> bytes:
        data: bytes = self.fs.cat_file(path)
        return data

    def write_atomic(self, path: str, data: bytes) -> None:
        self.fs.pipe_file(path, data)

    def makedirs(self, folder: str) -> None:
        self.fs.makedirs(folder, exist_ok=True)

    def rm(self, path: str) -> None:
        self.fs.rm(path, recursive=True)

    def exists(self, path: str) -> bool:
        return bool(self.fs.exists(path))
