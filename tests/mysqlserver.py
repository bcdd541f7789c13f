"""A throwaway MariaDB (MySQL) server for the tests: Debian's package, 127.0.0.1 only, data in a temporary folder.

    python -m tests.mysqlserver ensure   # find the server binaries; as root, apt-get install them when missing
    python -m tests.mysqlserver serve    # start a server, print its URL, stop it on Ctrl-C

Modelled on tests/pgserver.py: the test command (scripts/test) runs ``ensure`` before pytest; the session fixture
``mysql_url`` (tests/conftest.py) starts the server with :meth:`MySQLServer.start`, so the server lives exactly as
long as the pytest process.

The server's data folder is made by ``mariadb-install-db`` in a fresh temporary folder; the server runs with
durability off, listens on 127.0.0.1 only (a free port, its unix socket inside the folder) and its ``root`` user
has no password. Its time zone is ``+02:00`` on purpose, so that tests see what a server outside UTC does to
``TIMESTAMP`` values. MariaDB refuses to run as root: under root it runs as the ``mysql`` system user that
Debian's package creates.
"""

from __future__ import annotations

import os
import pwd
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
USER = "root"
OS_USER = "mysql"  # the system user Debian's package creates; the server runs as it when we are root
PACKAGE = "mariadb-server"
SERVER_NAMES = ("mariadbd", "mysqld")
INSTALL_NAMES = ("mariadb-install-db", "mysql_install_db")
SEARCH = ("/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin")
FOLDER_PREFIX = "headwater-mysql-"
TIME_ZONE = "+02:00"
SETTINGS = {
    "bind-address": "127.0.0.1",
    "skip-name-resolve": None,
    "default-time-zone": TIME_ZONE,
    "character-set-server": "utf8mb4",
    "collation-server": "utf8mb4_general_ci",
    "innodb-flush-log-at-trx-commit": "0",
    "innodb-doublewrite": "0",
    "innodb-buffer-pool-size": "128M",
    "innodb-log-file-size": "48M",
    "sync-binlog": "0",
    "skip-log-bin": None,
    "performance-schema": "OFF",
    "max-connections": "100",
}


class MySQLUnavailable(RuntimeError):
    """MariaDB can't be provided on this machine (server binaries missing and not installable here)."""


class MySQLStartError(RuntimeError):
    """The server binaries are there, but the server did not come up."""


def _find(names: Sequence[str]) -> Path | None:
    for name in names:
        found = shutil.which(name) or next(
            (str(Path(d) / name) for d in SEARCH if os.access(Path(d) / name, os.X_OK)), None
        )
        if found:
            return Path(found)
    return None


def find_binaries() -> tuple[Path, Path] | None:
    """The server (mariadbd) and the data folder maker (mariadb-install-db), or None when either is missing."""
    server, install = _find(SERVER_NAMES), _find(INSTALL_NAMES)
    return (server, install) if server is not None and install is not None else None


def ensure_binaries(install: bool = True) -> tuple[Path, Path]:
    """Find the binaries; when missing and `install` and we are root, apt-get install Debian's mariadb-server."""
    found = find_binaries()
    if found is None and install and os.geteuid() == 0:
        apt_install()
        found = find_binaries()
    if found is None:
        raise MySQLUnavailable(_missing_message(install))
    return found


def _missing_message(install: bool) -> str:
    missing = "MariaDB's server binaries (mariadbd, mariadb-install-db) are not on PATH or in /usr/sbin"
    external = "or set HEADWATER_TEST_MYSQL_URL to a MySQL/MariaDB server on 127.0.0.1 (mysql+pymysql://...)"
    if os.geteuid() != 0:
        return (
            f"{missing}. Install Debian's package: `sudo apt-get install {PACKAGE}` (scripts/test does it by "
            f"itself when run as root), {external}"
        )
    if install:
        return f"{missing}, even after installing Debian's package {PACKAGE}"
    return f"{missing}. Install them: `python -m tests.mysqlserver ensure` (apt-get; scripts/test runs it), {external}"


def apt_install() -> None:
    """apt-get update, then install Debian's mariadb-server package (as root), showing what runs (Debian's own
    server is kept from starting: tests/servers.py)."""
    what = "MariaDB server binaries (mariadbd, mariadb-install-db) not found"
    servers.apt_install([PACKAGE], tag="mysqlserver", unavailable=MySQLUnavailable, what=what)


def server_user() -> pwd.struct_passwd | None:
    """The system user to run the server as: `mysql` when we are root, else None (ourselves)."""
    why = f"MariaDB refuses to run as root, and Debian's package (apt-get install {PACKAGE}) creates that user"
    return servers.system_user(OS_USER, unavailable=MySQLUnavailable, why=why)


def server_version(server: Path) -> str:
    return servers.version_of(server)


def mysql_query(url: str, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
    """Run one statement on its own autocommit connection (pymysql); the rows it returns (none for DDL/DML)."""
    import pymysql
    import sqlalchemy as sa

    u = sa.make_url(url)
    conn = pymysql.connect(
        host=u.host or "127.0.0.1",
        port=u.port or 3306,
        user=u.username or USER,
        password=u.password or "",
        database=u.database,
        autocommit=True,
        charset="utf8mb4",
        connect_timeout=10,
    )
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return list(cur.fetchall()) if cur.description is not None else []
    finally:
        conn.close()


class MySQLServer:
    """One throwaway server. ``MySQLServer.start()`` returns it running with the database ``headwater_test``;
    ``stop()`` (idempotent) shuts it down and deletes its folder. Also a context manager."""

    def __init__(self, server: Path, install_db: Path, folder: Path, user: pwd.struct_passwd | None) -> None:
        self.server = server
        self.install_db = install_db
        self.folder = folder
        self.data = folder / "data"
        self.socket = folder / "mysqld.sock"
        self.log = folder / "server.log"
        self.user = user
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._stopped = False

    @property
    def url(self) -> str:
        return self.url_for(DATABASE)

    def url_for(self, database: str) -> str:
        return f"mysql+pymysql://{USER}@127.0.0.1:{self.port}/{database}"

    @classmethod
    def start(cls, *, install: bool = False, timeout: float = 60.0) -> MySQLServer:
        """Make a data folder in a fresh temporary folder, start the server, wait until it accepts connections,
        let root in from 127.0.0.1 and create the database. Raises MySQLUnavailable when there are no binaries
        (installing them only if `install`), MySQLStartError when the server does not come up."""
        server_bin, install_db = ensure_binaries(install)
        user = server_user()
        base = servers.base_folder(user)
        servers.remove_stale_folders(base, FOLDER_PREFIX, _mysqld_pid)
        folder = Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX, dir=base))
        (folder / "owner.pid").write_text(str(os.getpid()))
        if user is not None:
            os.chown(folder, user.pw_uid, user.pw_gid)
        server = cls(server_bin, install_db, folder, user)
        try:
            server._install_db()
            server._launch(timeout)
            server._grant()
        except BaseException:
            server.stop()
            raise
        return server

    def _install_db(self) -> None:
        command = [
            str(self.install_db),
            "--no-defaults",
            f"--datadir={self.data}",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            "--skip-name-resolve",
            # temporary tables in the server's own folder, not /tmp, which other jobs clean and share
            f"--tmpdir={self.folder}",
        ]
        if self.user is not None:
            command.append(f"--user={self.user.pw_name}")
        done = subprocess.run(
            command, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=self._env(), cwd=self.folder
        )
        if done.returncode != 0:
            raise MySQLStartError(
                f"`{' '.join(command)}` failed (exit code {done.returncode}):\n{done.stdout}{done.stderr}"
            )

    def _launch(self, timeout: float, attempts: int = 5) -> None:
        self._log = open(self.log, "ab")  # noqa: SIM115  # closed in stop()
        for attempt in range(1, attempts + 1):
            self.port = servers.free_port()
            offset = self._log.tell()
            command = [
                str(self.server),
                "--no-defaults",
                f"--datadir={self.data}",
                f"--socket={self.socket}",
                f"--pid-file={self.folder / 'mysqld.pid'}",
                f"--port={self.port}",
                f"--tmpdir={self.folder}",
            ]
            command += [f"--{name}" if value is None else f"--{name}={value}" for name, value in SETTINGS.items()]
            if self.user is not None:
                command.append(f"--user={self.user.pw_name}")
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                env=self._env(),
                cwd=self.folder,
                start_new_session=True,  # Ctrl-C in the terminal reaches pytest, which stops us in order
                preexec_fn=servers.die_with_parent(signal.SIGKILL),
                **self._as_user(),
            )
            if self._wait_ready(timeout):
                return
            log = self.log.read_bytes()[offset:].decode(errors="replace")
            if ("Address already in use" in log or "Can't start server" in log) and attempt < attempts:
                continue
            raise MySQLStartError(f"MariaDB did not start (exit code {self.process.returncode}); its log:\n{log}")

    def _socket_connect(self) -> Any:
        import pymysql

        return pymysql.connect(unix_socket=str(self.socket), user=USER, password="", autocommit=True, connect_timeout=5)

    def _wait_ready(self, timeout: float) -> bool:
        """True once the server accepts connections on its socket; False if it exited; MySQLStartError on timeout."""
        import pymysql

        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                self._socket_connect().close()
                return True
            except pymysql.err.OperationalError:
                time.sleep(0.05)
        raise MySQLStartError(
            f"MariaDB did not accept connections within {timeout:.0f}s; its log:\n"
            + self.log.read_text(errors="replace")
        )

    def _grant(self) -> None:
        """root from 127.0.0.1 (install-db made root@localhost, the socket only), and the test database."""
        conn = self._socket_connect()
        try:
            with conn.cursor() as cur:
                cur.execute(f"CREATE USER IF NOT EXISTS '{USER}'@'127.0.0.1' IDENTIFIED BY ''")
                cur.execute(f"GRANT ALL PRIVILEGES ON *.* TO '{USER}'@'127.0.0.1' WITH GRANT OPTION")
                cur.execute(f"CREATE DATABASE IF NOT EXISTS `{DATABASE}` CHARACTER SET utf8mb4")
        finally:
            conn.close()

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and delete its folder. Safe to call more than once."""
        if self._stopped:
            return
        self._stopped = True
        process = self.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> MySQLServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MYSQL", "MARIADB"))}
        env["LC_ALL"] = "C"
        env["TZ"] = "UTC"
        if self.user is not None:
            env.update(HOME=self.user.pw_dir, USER=self.user.pw_name, LOGNAME=self.user.pw_name)
        return env

    def _as_user(self) -> dict[str, Any]:
        """Popen arguments that drop root to the mysql system user (no supplementary groups)."""
        if self.user is None:
            return {}
        return {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}


def _mysqld_pid(folder: Path) -> int:
    return int((folder / "mysqld.pid").read_text().split()[0])


def _ensured() -> str:
    server, _ = ensure_binaries(install=True)
    user = server_user()
    runs_as = f", runs as system user {user.pw_name}" if user else ""
    return f"{server_version(server)} ({server}){runs_as}"


def main(argv: Sequence[str]) -> int:
    return servers.command_line(
        argv,
        doc=__doc__ or "",
        tag="mysqlserver",
        ensure=_ensured,
        start=lambda: MySQLServer.start(install=True),
        errors=(MySQLUnavailable, MySQLStartError),
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
