"""The Debian packages the suite runs (PostgreSQL, MariaDB, chromium), installed in one go.

    python -m tests.packages ensure   # as root: one apt-get update and one apt-get install of what is missing

scripts/test runs it in the background while the connectors are installed, before each tool's own
``ensure`` (tests/pgserver.py, tests/mysqlserver.py, tests/chromium.py) checks its binaries: three
packages cost one ``apt-get update`` and one dpkg run, not three of each. A server given by URL
(HEADWATER_TEST_PG_URL, HEADWATER_TEST_MYSQL_URL) needs no package. Not root, or no apt-get: it says
so and leaves it to the tools' own ``ensure``, which say what to install.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence

from tests import chromium, mysqlserver, pgserver, servers


class PackagesUnavailable(RuntimeError):
    pass


def missing() -> list[str]:
    """The Debian packages of what the suite needs and this machine lacks."""
    wanted = []
    if not os.environ.get("HEADWATER_TEST_PG_URL") and pgserver.find_bindir() is None:
        wanted.append("postgresql")
    if not os.environ.get("HEADWATER_TEST_MYSQL_URL") and mysqlserver.find_binaries() is None:
        wanted.append(mysqlserver.PACKAGE)
    if chromium.find() is None:
        wanted.append("chromium")
    return wanted


def main(argv: Sequence[str]) -> int:
    if list(argv) != ["ensure"]:
        print(__doc__ or "", file=sys.stderr)
        return 2
    packages = missing()
    if not packages:
        print("packages: PostgreSQL, MariaDB and chromium are installed", flush=True)
        return 0
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        print(f"packages: missing {' '.join(packages)}; not root or no apt-get, see the next steps", flush=True)
        return 0
    try:
        servers.apt_install(packages, tag="packages", unavailable=PackagesUnavailable, what="missing")
    except PackagesUnavailable as exc:
        print(f"packages: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
