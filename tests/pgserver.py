"""A throwaway PostgreSQL server for the tests: Debian's package, 127.0.0.1 only, data in a temporary folder.

    python -m tests.pgserver ensure   # find the server binaries; as root, apt-get install them when missing
    python -m tests.pgserver serve    # start a server, print its URL, stop it on Ctrl-C

The test command (scripts/test) runs ``ensure`` before pytest, so the slow apt step is visible and happens once;
the session fixture ``pg_url`` (tests/conftest.py) starts the server with :meth:`PgServer.start`, so the server
lives exactly as long as the pytest process.

The server is started with durability off (``fsync``, ``synchronous_commit``, ``full_page_writes``), listens on
127.0.0.1 only (a free port, its unix socket inside the temporary folder) and trusts local connections. PostgreSQL
refuses to run as root: under root it runs as the ``postgres`` system user that Debian's package creates.
"""

from __future__ import annotations

import ctypes
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

DATABASE = "headwater_test"
SUPERUSER = "postgres"  # the database superuser (initdb -U)
OS_USER = "postgres"  # the system user Debian's package creates; the server runs as it when we are root
DEBIAN_BINDIRS = "/usr/lib/postgresql/*/bin"
NEEDED = ("initdb", "pg_ctl", "postgres")
FOLDER_PREFIX = "headwater-pg-"
SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "100",
}


class PgUnavailable(RuntimeError):
    """PostgreSQL can't be provided on this machine (server binaries missing and not installable here)."""


class PgStartError(RuntimeError):
    """The server binaries are there, but the server did not come up."""


def find_bindir() -> Path | None:
    """The folder holding initdb, pg_ctl and postgres: the highest /usr/lib/postgresql/<version>/bin, else PATH."""
    candidates = sorted((Path(p) for p in glob.glob(DEBIAN_BINDIRS)), key=_version_key, reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for folder in candidates:
        if all(os.access(folder / name, os.X_OK) and (folder / name).is_file() for name in NEEDED):
            return folder
    return None


def _version_key(bindir: Path) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", bindir.parent.name))


def ensure_binaries(install: bool = True) -> Path:
    """Find the server binaries; when missing and `install` and we are root, apt-get install Debian's package."""
    bindir = find_bindir()
    if bindir is None and install and os.geteuid() == 0:
        apt_install()
        bindir = find_bindir()
    if bindir is None:
        raise PgUnavailable(_missing_message(install))
    return bindir


def _missing_message(install: bool) -> str:
    missing = f"PostgreSQL's server binaries (initdb, pg_ctl, postgres) are not in {DEBIAN_BINDIRS} or on PATH"
    external = "or set HEADWATER_TEST_PG_URL to a PostgreSQL server on 127.0.0.1"
    if os.geteuid() != 0:
        return (
            f"{missing}. Install Debian's package: `sudo apt-get install postgresql` (scripts/test does it by "
            f"itself when run as root), {external}"
        )
    if install:  # apt_install ran, yet nothing
        return f"{missing}, even after installing Debian's package postgresql"
    return f"{missing}. Install them: `python -m tests.pgserver ensure` (apt-get; scripts/test runs it), {external}"


def apt_install() -> None:
    """apt-get update, then install Debian's postgresql package (as root), showing what runs."""
    if shutil.which("apt-get") is None:
        raise PgUnavailable(
            f"PostgreSQL server binaries not found in {DEBIAN_BINDIRS} or on PATH, and there is no apt-get to "
            "install them: install PostgreSQL's server (initdb, pg_ctl, postgres) with this system's package manager"
        )
    print("pgserver: PostgreSQL server binaries not found; installing Debian's package postgresql", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "postgresql"]):
        print("pgserver: + DEBIAN_FRONTEND=noninteractive " + " ".join(command), flush=True)
        done = subprocess.run(command, env=env, check=False)
        if done.returncode != 0:
            raise PgUnavailable(f"`{' '.join(command)}` failed with exit code {done.returncode} (output above)")


def server_user() -> pwd.struct_passwd | None:
    """The system user to run initdb and the server as: `postgres` when we are root, else None (ourselves)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(OS_USER)
    except KeyError:
        raise PgUnavailable(
            f"running as root, but there is no {OS_USER!r} system user: PostgreSQL refuses to run as root, and "
            "Debian's package (apt-get install postgresql) creates that user"
        ) from None


def server_version(bindir: Path) -> str:
    done = subprocess.run([str(bindir / "postgres"), "--version"], capture_output=True, text=True, check=False)
    return done.stdout.strip() or done.stderr.strip()


def pg_query(url: str, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
    """Run one statement on its own autocommit connection; the rows it returns (none for DDL/DML)."""
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return list(cur.fetchall()) if cur.description is not None else []


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PgServer:
    """One throwaway server. ``PgServer.start()`` returns it running with the database ``headwater_test``;
    ``stop()`` (idempotent) shuts it down immediately and deletes its folder. Also a context manager."""

    def __init__(self, bindir: Path, folder: Path, user: pwd.struct_passwd | None) -> None:
        self.bindir = bindir
        self.folder = folder
        self.data = folder / "data"
        self.log = folder / "server.log"
        self.user = user
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._stopped = False

    @property
    def url(self) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{DATABASE}"

    def url_for(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    @classmethod
    def start(cls, *, install: bool = False, timeout: float = 60.0) -> PgServer:
        """initdb into a fresh temporary folder, start the server, wait until it accepts connections, create
        the database. Raises PgUnavailable when there are no binaries (installing them only if `install`),
        PgStartError when the server does not come up."""
        bindir = ensure_binaries(install)
        user = server_user()
        base = _base_folder(user)
        _remove_stale_folders(base)
        folder = Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX, dir=base))
        (folder / "owner.pid").write_text(str(os.getpid()))
        if user is not None:
            os.chown(folder, user.pw_uid, user.pw_gid)
        server = cls(bindir, folder, user)
        try:
            server._initdb()
            server._launch(timeout)
            pg_query(server.url_for("postgres"), f'CREATE DATABASE "{DATABASE}"')
        except BaseException:
            server.stop()
            raise
        return server

    def _initdb(self) -> None:
        self._run(
            "initdb",
            ["-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"],
        )
        # Only this machine, only by the loopback address or the socket in our folder: trust.
        (self.data / "pg_hba.conf").write_text(
            "# headwater test server: local connections only, trusted\n"
            "local all all trust\n"
            "host  all all 127.0.0.1/32 trust\n"
        )

    def _launch(self, timeout: float, attempts: int = 5) -> None:
        self._log = open(self.log, "ab")  # noqa: SIM115  # closed in stop()
        for attempt in range(1, attempts + 1):
            self.port = free_port()
            offset = self._log.tell()
            command = [str(self.bindir / "postgres"), "-D", str(self.data), "-p", str(self.port)]
            command += ["-c", f"unix_socket_directories={self.folder}"]
            for name, value in SETTINGS.items():
                command += ["-c", f"{name}={value}"]
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                env=self._env(),
                start_new_session=True,  # Ctrl-C in the terminal reaches pytest, which stops us in order
                preexec_fn=_die_with_parent(),
                **self._as_user(),
            )
            if self._wait_ready(timeout):
                return
            log = self.log.read_bytes()[offset:].decode(errors="replace")
            if "could not bind" in log and attempt < attempts:  # someone took the free port meanwhile
                continue
            raise PgStartError(f"PostgreSQL did not start (exit code {self.process.returncode}); its log:\n{log}")

    def _wait_ready(self, timeout: float) -> bool:
        """True once the server accepts connections on 127.0.0.1; False if it exited; PgStartError on timeout."""
        import psycopg

        assert self.process is not None
        deadline = time.monotonic() + timeout
        conninfo = f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname=postgres connect_timeout=5"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                psycopg.connect(conninfo).close()
                return True
            except psycopg.OperationalError:
                time.sleep(0.05)
        raise PgStartError(
            f"PostgreSQL did not accept connections on 127.0.0.1:{self.port} within {timeout:.0f}s; its log:\n"
            + self.log.read_text(errors="replace")
        )

    def stop(self) -> None:
        """Stop the server (`pg_ctl stop -m immediate`) and delete its folder. Safe to call more than once."""
        if self._stopped:
            return
        self._stopped = True
        process = self.process
        if process is not None and process.poll() is None:
            try:
                self._run("pg_ctl", ["stop", "-D", str(self.data), "-m", "immediate", "-w", "-t", "30"])
            except PgStartError:
                pass  # fall back to killing it below
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> PgServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        if self.user is not None:
            env.update(HOME=self.user.pw_dir, USER=self.user.pw_name, LOGNAME=self.user.pw_name)
        return env

    def _as_user(self) -> dict[str, Any]:
        """Popen arguments that drop root to the postgres system user (no supplementary groups)."""
        if self.user is None:
            return {}
        return {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}

    def _run(self, program: str, args: list[str]) -> None:
        command = [str(self.bindir / program), *args]
        done = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=self._env(),
            cwd=self.folder,
            check=False,
            **self._as_user(),
        )
        if done.returncode != 0:
            raise PgStartError(
                f"`{' '.join(command)}` failed (exit code {done.returncode}):\n{done.stdout}{done.stderr}"
            )


def _base_folder(user: pwd.struct_passwd | None) -> Path:
    """The temporary folder's parent: the usual temp dir, or /tmp if another user (postgres) can't reach it."""
    base = Path(tempfile.gettempdir()).resolve()
    if user is not None and not all(p.stat().st_mode & stat.S_IXOTH for p in (base, *base.parents)):
        base = Path("/tmp")
    return base


def _remove_stale_folders(base: Path) -> None:
    """Delete folders left by test runs that were killed (their owner process is gone, and with it their server)."""
    for folder in base.glob(FOLDER_PREFIX + "*"):
        try:
            owner = int((folder / "owner.pid").read_text())
        except (OSError, ValueError):
            continue  # being set up right now, or not ours
        try:
            postmaster = int((folder / "data" / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            postmaster = 0
        if not _alive(owner) and not (postmaster and _alive(postmaster)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _die_with_parent() -> Any:
    """A preexec_fn making the server get SIGQUIT (immediate shutdown) if this process dies, even by SIGKILL."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    parent = os.getpid()

    def preexec() -> None:
        libc.prctl(1, signal.SIGQUIT)  # PR_SET_PDEATHSIG, set after the switch to the postgres user
        if os.getppid() != parent:  # the parent died before prctl
            os._exit(1)

    return preexec


def main(argv: Sequence[str]) -> int:
    command = argv[0] if argv else ""
    if command not in ("ensure", "serve"):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        if command == "ensure":
            bindir = ensure_binaries(install=True)
            user = server_user()
            runs_as = f", runs as system user {user.pw_name}" if user else ""
            print(f"pgserver: {server_version(bindir)} in {bindir}{runs_as}", flush=True)
            return 0
        with PgServer.start(install=True) as server:
            print(f"pgserver: {server.url} (data in {server.folder}); Ctrl-C stops it", flush=True)
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
            assert server.process is not None
            server.process.wait()
            return 1  # the server exited by itself
    except (PgUnavailable, PgStartError) as exc:
        print(f"pgserver: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
