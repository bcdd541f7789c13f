"""What the throwaway test servers share (tests/pgserver.py, tests/mysqlserver.py): Debian's packages
installed as root when missing, the system user a server runs as, a free port on 127.0.0.1, folders
left by killed runs removed, and servers that die with the process that started them."""

from __future__ import annotations

import ctypes
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any


def apt_install(packages: Sequence[str], *, tag: str, unavailable: type[Exception], what: str) -> None:
    """``apt-get update`` then ``apt-get install -y packages`` (as root), showing what runs.

    Debian's server packages would start their own server through invoke-rc.d; a ``policy-rc.d`` that
    refuses keeps them from doing so (only the tests' throwaway servers run), removed afterwards if made
    here. ``what`` says what was missing, for the error when there is no apt-get.
    """
    if shutil.which("apt-get") is None:
        raise unavailable(
            f"{what}, and there is no apt-get to install them: install them with this system's package manager"
        )
    print(f"{tag}: {what}; installing Debian's package(s) {' '.join(packages)}", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    policy = Path("/usr/sbin/policy-rc.d")
    created = False
    if not policy.exists():
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        created = True
    try:
        for command in (["apt-get", "update"], ["apt-get", "install", "-y", *packages]):
            print(f"{tag}: + DEBIAN_FRONTEND=noninteractive " + " ".join(command), flush=True)
            done = subprocess.run(command, env=env, check=False)
            if done.returncode != 0:
                raise unavailable(f"`{' '.join(command)}` failed with exit code {done.returncode} (output above)")
    finally:
        if created:
            policy.unlink(missing_ok=True)


def system_user(name: str, *, unavailable: type[Exception], why: str) -> pwd.struct_passwd | None:
    """The system user to run a server as when we are root (servers refuse root), else None (ourselves)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise unavailable(f"running as root, but there is no {name!r} system user: {why}") from None


def version_of(binary: Path) -> str:
    done = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=False)
    return done.stdout.strip() or done.stderr.strip()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def base_folder(user: pwd.struct_passwd | None) -> Path:
    """A server folder's parent: the usual temp dir, or /tmp if the server's user can't reach it."""
    base = Path(tempfile.gettempdir()).resolve()
    if user is not None and not all(p.stat().st_mode & stat.S_IXOTH for p in (base, *base.parents)):
        base = Path("/tmp")
    return base


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_folders(base: Path, prefix: str, server_pid: Callable[[Path], int]) -> None:
    """Delete folders left by test runs that were killed: their owner process is gone, and so is the
    server whose pid ``server_pid(folder)`` reads (0 if none)."""
    for folder in base.glob(prefix + "*"):
        try:
            owner = int((folder / "owner.pid").read_text())
        except (OSError, ValueError):
            continue  # being set up right now, or not ours
        try:
            server = server_pid(folder)
        except (OSError, ValueError, IndexError):
            server = 0
        if not alive(owner) and not (server and alive(server)):
            shutil.rmtree(folder, ignore_errors=True)


def die_with_parent(sig: signal.Signals) -> Any:
    """A preexec_fn making the server get ``sig`` if this process dies, even by SIGKILL."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    parent = os.getpid()

    def preexec() -> None:
        libc.prctl(1, sig)  # PR_SET_PDEATHSIG, set after the switch to the server's user
        if os.getppid() != parent:  # the parent died before prctl
            os._exit(1)

    return preexec


def command_line(
    argv: Sequence[str],
    *,
    doc: str,
    tag: str,
    ensure: Callable[[], str],
    start: Callable[[], AbstractContextManager[Any]],
    errors: tuple[type[Exception], ...],
) -> int:
    """``python -m tests.<server> ensure|serve``: ``ensure`` finds (installs) the binaries and prints what it
    found; ``serve`` starts a server, prints its URL and runs until Ctrl-C."""
    command = argv[0] if argv else ""
    if command not in ("ensure", "serve"):
        print(doc, file=sys.stderr)
        return 2
    try:
        if command == "ensure":
            print(f"{tag}: {ensure()}", flush=True)
            return 0
        with start() as server:
            print(f"{tag}: {server.url} (data in {server.folder}); Ctrl-C stops it", flush=True)
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
            assert server.process is not None
            server.process.wait()
            return 1  # the server exited by itself
    except errors as exc:
        print(f"{tag}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
