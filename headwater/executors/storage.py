"""Shared storage for parts written on other machines: a folder up to an fsspec URL, and back down.

A worker of a cluster writes its part into a folder on its own disk, uploads it under the storage URL
(``file://...``, ``s3://bucket/prefix``, any fsspec filesystem), and reports the URL; the driver
downloads it into its working folder and adopts it as it adopts a part written in place. Each attempt
uploads under a name of its own, so the files of an attempt that died half-way are never mixed with
those of the attempt that finished: the driver reads only the URL the finished attempt reported.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from headwater.errors import ConfigError
from headwater.optional import install_hint, require

_ALSO = "and the filesystem's own package for the URL: s3fs for s3://, gcsfs for gs://, adlfs for az://"


def filesystem(url: str) -> tuple[Any, str]:
    """The fsspec filesystem of ``url`` and the path inside it (without a trailing ``/``).

    Raises:
        ConfigError: fsspec, or the package of the URL's protocol, is missing; the URL is not one.
    """
    fsspec = require("fsspec", f"the storage {url!r} of the ray executor", extra="filesystem", also=_ALSO)
    try:
        fs, root = fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:
        raise ConfigError(
            f"the ray executor cannot open its storage {url!r}: {exc}",
            hint=install_hint("filesystem", also=_ALSO),
        ) from None
    return fs, str(root).rstrip("/") or "/"


def join(url: str, *parts: str) -> str:
    """``url`` with ``parts`` appended, ``/``-separated."""
    return "/".join([url.rstrip("/"), *(p.strip("/") for p in parts)])


def upload(folder: Path, url: str) -> str:
    """Copy the files of ``folder`` under ``url``/<a new attempt name>; return that URL."""
    fs, root = filesystem(url)
    attempt = uuid.uuid4().hex[:16]
    target = f"{root}/{attempt}"
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            remote = f"{target}/{path.relative_to(folder).as_posix()}"
            fs.makedirs(remote.rsplit("/", 1)[0], exist_ok=True)  # a local or mounted filesystem needs it
            fs.put_file(str(path), remote)
    return join(url, attempt)


def download(url: str, folder: Path) -> None:
    """Replace ``folder`` with the files under ``url`` (written next to it, then renamed into place)."""
    fs, root = filesystem(url)
    tmp = folder.parent / f".{folder.name}.{uuid.uuid4().hex[:8]}.fetch"
    try:
        found = sorted(fs.find(root))
        if not found:
            raise FileNotFoundError(f"nothing under {url}")
        for remote in found:
            rel = str(remote)[len(root) :].lstrip("/")
            local = tmp / rel
            local.parent.mkdir(parents=True, exist_ok=True)
            fs.get_file(remote, str(local))
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def remove(url: str) -> None:
    """Delete everything under ``url`` (nothing when there is nothing)."""
    fs, root = filesystem(url)
    try:
        if fs.exists(root):
            fs.rm(root, recursive=True)
    except FileNotFoundError:
        pass
