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

import glob
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from tests import servers

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
    what = f"PostgreSQL server binaries (initdb, pg_ctl, postgres) not found in {DEBIAN_BINDIRS} or on PATH"
    servers.apt_install(["postgresql"], tag="pgserver", unavailable=PgUnavailable, what=what)


def server_user() -> pwd.struct_passwd | None:
    """The system user to run initdb and the server as: `postgres` when we are root, else None (ourselves)."""
    why = "PostgreSQL refuses to run as root, and Debian's package (apt-get install postgresql) creates that user"
    return servers.system_user(OS_USER, unavailable=PgUnavailable, why=why)


def server_version(bindir: Path) -> str:
    return servers.version_of(bindir / "postgres")


def pg_query(url: str, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
    """Run one statement on its own autocommit connection; the rows it returns (none for DDL/DML)."""
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return list(cur.fetchall()) if cur.description is not None else []


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
        base = servers.base_folder(user)
        servers.remove_stale_folders(base, FOLDER_PREFIX, _postmaster_pid)
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
            self.port = servers.free_port()
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
                preexec_fn=servers.die_with_parent(signal.SIGQUIT),
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


def _postmaster_pid(folder: Path) -> int:
    return int((folder / "data" / "postmaster.pid").read_text().split()[0])


def _ensured() -> str:
    bindir = ensure_binaries(install=True)
    user = server_user()
    runs_as = f", runs as system user {user.pw_name}" if user else ""
    return f"{server_version(bindir)} in {bindir}{runs_as}"


def main(argv: Sequence[str]) -> int:
    return servers.command_line(
        argv,
        doc=__doc__ or "",
        tag="pgserver",
        ensure=_ensured,
        start=lambda: PgServer.start(install=True),
        errors=(PgUnavailable, PgStartError),
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
