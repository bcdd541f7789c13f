"""Where the files are: a local folder (or ``file://``) or any fsspec URL, listed with their signatures.

A listing is a sorted list of :class:`FileEntry` values: the path that identifies the file in the
state, the name it gets in ``_file_name`` (relative to the URL), and its signature (modification time
in nanoseconds and size) that tells a changed file from a file already read.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote, urlparse

from headwater.errors import ConfigError, SourceError
from headwater.optional import install_hint, require

_FSSPEC_ALSO = "and the filesystem's own package: s3fs, gcsfs, adlfs..."
FSSPEC_HINT = install_hint("filesystem", also=_FSSPEC_ALSO)


@dataclass(frozen=True)
class FileEntry:
    """One file of a listing."""

    path: str  # a local path, or the fsspec path (with its protocol) of a remote file
    name: str  # relative to the listed URL (POSIX separators); the file's name when the URL is a file
    mtime_ns: int
    size: int

    @property
    def signature(self) -> list[int]:
        """What tells a changed file from one already read: ``[mtime_ns, size]``."""
        return [self.mtime_ns, self.size]


@dataclass(frozen=True)
class Location:
    """A parsed URL: local (``fs`` is None) or an fsspec filesystem and the path inside it."""

    url: str
    root: str
    fs: Any = None

    @property
    def is_local(self) -> bool:
        """Whether the location is on the local disk (no fsspec filesystem)."""
        return self.fs is None


def locate(url: str | os.PathLike[str]) -> Location:
    """Parse ``url``: a local path, ``file://...``, or a URL of any fsspec filesystem (``s3://``, ...)."""
    text = os.fspath(url)
    if not isinstance(text, str) or not text:
        raise ConfigError(f"filesystem: url must be a path or a URL, got {url!r}")
    parsed = urlparse(text)
    if parsed.scheme == "file":
        return Location(text, str(Path(unquote(parsed.netloc + parsed.path)).resolve()))
    if len(parsed.scheme) <= 1:  # no scheme, or a Windows drive letter
        return Location(text, str(Path(text).expanduser().resolve()))
    fsspec = require("fsspec", f"filesystem: reading {text!r}", extra="filesystem", also=_FSSPEC_ALSO)
    try:
        fs, root = fsspec.core.url_to_fs(text)
    except (ImportError, ValueError) as exc:
        raise ConfigError(f"filesystem: cannot open {text!r}: {exc}", hint=FSSPEC_HINT) from None
    return Location(text, str(root).rstrip("/"), fs)


def list_files(loc: Location, glob: str) -> list[FileEntry]:
    """The files under ``loc`` matching ``glob``, sorted by path; ``loc`` itself when it is a file."""
    try:
        return _list_local(loc, glob) if loc.is_local else _list_remote(loc, glob)
    except OSError as exc:
        raise SourceError(f"filesystem: cannot list {loc.url!r}: {exc}", path=loc.url) from exc


def _list_local(loc: Location, glob: str) -> list[FileEntry]:
    root = Path(loc.root)
    if root.is_file():
        st = root.stat()
        return [FileEntry(str(root), root.name, st.st_mtime_ns, st.st_size)]
    if not root.is_dir():
        return []
    out = []
    for path in root.glob(glob):
        if path.is_file():
            st = path.stat()
            out.append(FileEntry(str(path), path.relative_to(root).as_posix(), st.st_mtime_ns, st.st_size))
    return sorted(out, key=lambda e: e.path)


def _list_remote(loc: Location, glob: str) -> list[FileEntry]:
    fs = loc.fs
    if fs.isfile(loc.root):
        info = fs.info(loc.root)
        return [_remote_entry(fs, loc.root, loc.root.rsplit("/", 1)[-1], info)]
    found = fs.glob(f"{loc.root}/{glob.lstrip('/')}", detail=True)
    out = []
    for path, info in found.items():
        if info.get("type", "file") != "file":
            continue
        path = str(path)
        name = path[len(loc.root) :].lstrip("/") if path.startswith(loc.root) else path
        out.append(_remote_entry(fs, path, name, info))
    return sorted(out, key=lambda e: e.path)


def _remote_entry(fs: Any, path: str, name: str, info: dict[str, Any]) -> FileEntry:
    return FileEntry(fs.unstrip_protocol(path), name, _mtime_ns(info), int(info.get("size") or 0))


def _mtime_ns(info: dict[str, Any]) -> int:
    """The modification time an fsspec listing reports (each filesystem names it differently); 0 when
    there is none, so that only a change of size marks the file as changed."""
    for key in ("mtime", "LastModified", "last_modified", "updated", "modified", "created"):
        value = info.get(key)
        if value is None:
            continue
        if isinstance(value, dt.datetime):
            return int(value.timestamp() * 1_000_000_000)
        if isinstance(value, int | float):
            return int(value * 1_000_000_000)
        if isinstance(value, str):
            try:
                return int(dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1_000_000_000)
            except ValueError:
                continue
    return 0


def open_binary(loc: Location, entry: FileEntry) -> BinaryIO:
    """The file's bytes as stored (compression is undone by the reader)."""
    if loc.is_local:
        return open(entry.path, "rb")
    return loc.fs.open(entry.path, "rb")
