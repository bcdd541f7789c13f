"""Debian's chromium, headless, for the tests that load a page in a real browser (the dashboard).

::

    python -m tests.chromium ensure   # find chromium; as root, apt-get install Debian's package when missing

The test command (scripts/test) runs ``ensure`` before pytest and sets ``HEADWATER_REQUIRE_CHROMIUM=1``:
a missing browser is then a failure, not a skip. :func:`load` runs one headless chromium on a URL with a
throwaway profile and returns the DOM after the page's scripts ran (``--dump-dom`` with a virtual-time
budget: chromium runs the page's timers and fetches until they settle or the budget is spent) and what
the page wrote to the console (``--enable-logging=stderr``); :func:`screenshot` saves a PNG of it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

from tests import servers

#: the names Debian's package (and others) install the browser under
BINARIES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
#: the variable the test command sets: no chromium is then a failure
REQUIRED = "HEADWATER_REQUIRE_CHROMIUM"


class ChromiumUnavailable(Exception):
    """No chromium, and none could be installed."""


@dataclass(frozen=True)
class Page:
    """What chromium saw of a page: its DOM after the scripts ran, and the console lines it logged."""

    dom: str
    console: list[str]
    stderr: str


def find() -> str | None:
    """The path of a chromium binary on PATH, if any."""
    for name in BINARIES:
        found = shutil.which(name)
        if found:
            return found
    return None


def ensure(install: bool = True) -> str:
    """The chromium binary; when missing and ``install`` and we are root, apt-get install Debian's package.

    Raises:
        ChromiumUnavailable: there is none (with what to do).
    """
    binary = find()
    if binary is None and install and os.geteuid() == 0:
        servers.apt_install(["chromium"], tag="chromium", unavailable=ChromiumUnavailable, what="no chromium on PATH")
        binary = find()
    if binary is None:
        if os.geteuid() != 0:
            raise ChromiumUnavailable(
                "no chromium on PATH, and not root, so it cannot be installed here: install Debian's package "
                "(`sudo apt-get install chromium`; scripts/test does it by itself when run as root)"
            )
        raise ChromiumUnavailable("no chromium on PATH, even after installing Debian's package chromium")
    return binary


def required() -> bool:
    """Whether a missing chromium fails the tests (the test command sets ``HEADWATER_REQUIRE_CHROMIUM=1``)."""
    return os.environ.get(REQUIRED, "") not in ("", "0")


def unavailable(reason: str) -> NoReturn:
    """chromium can't be had: fail under the test command, skip (with the reason) otherwise."""
    if required():
        pytest.fail(f"chromium is required ({REQUIRED}=1) but unavailable: {reason}", pytrace=False)
    pytest.skip(f"chromium unavailable: {reason}")


def _command(binary: str, profile: Path, *args: str) -> list[str]:
    return [
        binary,
        "--headless",
        "--no-sandbox",  # as root chromium refuses to start with its sandbox
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",  # nothing but the page's own requests (to 127.0.0.1)
        f"--user-data-dir={profile}",
        "--virtual-time-budget=10000",
        *args,
    ]


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False, stdin=subprocess.DEVNULL)


def load(binary: str, url: str) -> Page:
    """Load ``url`` in a fresh headless chromium and return the DOM after its scripts ran and the
    console lines (``INFO:CONSOLE`` and the like, with the message and its source)."""
    with tempfile.TemporaryDirectory(prefix="hw-chromium-") as profile:
        done = _run(_command(binary, Path(profile), "--enable-logging=stderr", "--v=0", "--dump-dom", url))
    if done.returncode != 0 or not done.stdout:
        raise AssertionError(f"chromium exited with {done.returncode} loading {url}:\n{done.stderr[-4000:]}")
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return Page(done.stdout, console, done.stderr)


def screenshot(binary: str, url: str, path: Path, *, width: int = 1400, height: int = 1800) -> Path:
    """Save a PNG of ``url`` as a ``width`` x ``height`` window shows it."""
    with tempfile.TemporaryDirectory(prefix="hw-chromium-") as profile:
        done = _run(
            _command(
                binary,
                Path(profile),
                "--hide-scrollbars",
                f"--window-size={width},{height}",
                f"--screenshot={path}",
                url,
            )
        )
    if done.returncode != 0:
        raise AssertionError(f"chromium exited with {done.returncode} taking a screenshot:\n{done.stderr[-4000:]}")
    return path


def main(argv: Sequence[str]) -> int:
    if list(argv) != ["ensure"]:
        print(__doc__ or "", file=sys.stderr)
        return 2
    try:
        binary = ensure(install=True)
    except ChromiumUnavailable as exc:
        print(f"chromium: error: {exc}", file=sys.stderr)
        return 1
    version = servers.version_of(Path(binary))
    print(f"chromium: {version} ({binary})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
