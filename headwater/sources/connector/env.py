"""Connectors in environments of their own, installed on first use and reused after.

A connector is named three ways (:func:`resolve`):

- a path to an executable (``./bin/tap-x``, ``/opt/taps/tap-x``);
- an executable on PATH (``tap-jsonl``, already installed by the user);
- a pip requirement (``"tap-jsonl"``, ``"tap-github==4.0.0"``, ``"git+https://..."`` with
  ``executable=``): installed into a virtual environment of its own under the cache folder, one per
  requirement, so taps that pin conflicting libraries never meet ("Singer taps conflict a lot").

The cache folder is ``$HEADWATER_CONNECTORS_DIR``, else ``$XDG_CACHE_HOME/headwater/connectors``
(``~/.cache/headwater/connectors``). An environment is built with uv when it is on PATH (or importable
as ``uv``), else with ``python -m venv`` and pip; it is built under a lock (two pipelines installing
the same connector at once wait for each other) and marked ready only when complete: a folder left
half-built by a killed install is built again.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from headwater.errors import ConfigError, SourceError, did_you_mean

#: the environment variable naming the cache folder of connector environments
CACHE_ENV = "HEADWATER_CONNECTORS_DIR"
_READY = "headwater-env.json"
#: a requirement's distribution name (PEP 508), optionally with extras, then a version or URL part
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(?:[=<>!~@;].*)?$")
_OUTPUT_TAIL = 30


@dataclass(frozen=True)
class Executable:
    """How to start a connector: ``argv`` (to which the protocol's arguments are added) and where it came from."""

    argv: tuple[str, ...]
    origin: str

    def __str__(self) -> str:
        return f"{' '.join(self.argv)} ({self.origin})"


def cache_dir() -> Path:
    """The folder holding connector environments."""
    given = os.environ.get(CACHE_ENV)
    if given:
        return Path(given).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "headwater" / "connectors"


def resolve(
    spec: str, *, executable: str | None = None, python: str | None = None, what: str = "connector"
) -> Executable:
    """The executable of a connector given as a path, a name on PATH or a pip requirement.

    Args:
        spec: the path, name or requirement.
        executable: the command a requirement installs, when it is not the distribution's name
            (``airbyte-source-faker`` installs ``source-faker``).
        python: the interpreter of a new environment (default: the one running Headwater).
        what: how messages name it (``"Singer tap"``).

    Raises:
        ConfigError: ``spec`` is empty, a path that is not an executable file, or not a requirement.
        SourceError: installing the requirement failed (with pip's or uv's last lines of output).
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"a {what} needs an executable, a path or a pip requirement, got {spec!r}")
    spec = spec.strip()
    if (os.sep in spec or spec.startswith(".")) and "://" not in spec:  # not "x @ file:///...", "git+https://..."
        path = Path(spec).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ConfigError(
                f"{what} {spec!r} is not an executable file",
                hint="give a path to an executable, a command on PATH, or a pip requirement such as 'tap-jsonl'",
            )
        return Executable((str(path.resolve()),), "path")
    found = shutil.which(spec)
    if found is not None:
        return Executable((found,), "PATH")
    match = _REQUIREMENT.match(spec)
    if match is None and executable is None:
        raise ConfigError(
            f"{what} {spec!r} is not on PATH and not a pip requirement",
            hint="install it, give its path, or name a package such as 'tap-jsonl' or 'tap-github==4.0.0'",
        )
    command = executable or (match.group(1) if match else spec)
    folder = ensure_env(spec, python=python, what=what)
    exe = folder / "bin" / command
    if not exe.exists():
        scripts = sorted(
            p.name for p in (folder / "bin").iterdir() if not p.name.startswith(("python", "pip", "activate"))
        )
        raise ConfigError(
            f"{what} requirement {spec!r} installed no command {command!r} (in {folder / 'bin'})",
            hint=f"name the command with executable=...; {did_you_mean(command, scripts, listing='commands')}",
        )
    return Executable((str(exe),), f"{spec} in {folder}")


#: bumped when the way environments are built changes, so older ones are built again (2: bytecode compiled)
_LAYOUT = 2


def env_folder(requirement: str) -> Path:
    """The environment folder of a requirement (one per exact requirement text)."""
    match = _REQUIREMENT.match(requirement)
    stem = re.sub(r"[^a-z0-9]+", "-", (match.group(1) if match else "connector").lower()).strip("-")
    digest = hashlib.sha256(f"{requirement}|{sys.version_info[:2]}|{_LAYOUT}".encode()).hexdigest()[:12]
    return cache_dir() / f"{stem}-{digest}"


def ensure_env(requirement: str, *, python: str | None = None, what: str = "connector") -> Path:
    """The environment of ``requirement``, installed now if it is not there yet."""
    folder = env_folder(requirement)
    if (folder / _READY).exists():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with _locked(folder.with_name(folder.name + ".lock")):
        if (folder / _READY).exists():  # another process installed it while we waited
            return folder
        shutil.rmtree(folder, ignore_errors=True)  # half-built by an install that was killed
        started = time.monotonic()
        try:
            _install(folder, requirement, python or sys.executable, what)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        seconds = round(time.monotonic() - started, 1)
        info = {"requirement": requirement, "python": python or sys.executable, "seconds": seconds}
        (folder / _READY).write_text(json.dumps(info))
    return folder


def _install(folder: Path, requirement: str, python: str, what: str) -> None:
    uv = _uv()
    if uv is not None:
        steps = [
            [*uv, "venv", "--quiet", "--python", python, str(folder)],
            # bytecode compiled at install (pip does it by default, uv does not): a connector that imports a
            # large SDK starts in about a second instead of seven, even where PYTHONDONTWRITEBYTECODE is set
            [
                *uv,
                "pip",
                "install",
                "--quiet",
                "--compile-bytecode",
                "--python",
                str(folder / "bin" / "python"),
                requirement,
            ],
        ]
    else:
        steps = [
            [python, "-m", "venv", str(folder)],
            [
                str(folder / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                requirement,
            ],
        ]
    for argv in steps:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-_OUTPUT_TAIL:])
            raise SourceError(
                f"installing {what} {requirement!r} failed ({argv[0]} exited with {done.returncode}):\n{tail}",
                hint="check the requirement's name and version, and that the package index is reachable",
            )


def _uv() -> list[str] | None:
    found = shutil.which("uv")
    if found is not None:
        return [found]
    if importlib.util.find_spec("uv") is not None:
        return [sys.executable, "-m", "uv"]
    return None


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
