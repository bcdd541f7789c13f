"""headwater.optional: a missing optional dependency is a ConfigError naming the extra to install."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from headwater.errors import ConfigError
from headwater.optional import require


def test_an_installed_module_is_returned() -> None:
    assert require("json", "the test").dumps([1]) == "[1]"


@pytest.mark.parametrize(
    ("kwargs", "hint"),
    [
        ({"extra": "rest"}, "pip install 'headwater[rest]'"),
        ({"package": "not-a-real-package"}, "pip install 'not-a-real-package'"),
        ({"extra": "filesystem", "also": "and s3fs"}, "pip install 'headwater[filesystem]' (and s3fs)"),
    ],
)
def test_a_missing_module_names_what_needs_it_and_how_to_install_it(kwargs: dict[str, str], hint: str) -> None:
    with pytest.raises(ConfigError, match="the rest_api source needs") as err:
        require("headwater_no_such_module.sub", "the rest_api source", **kwargs)
    assert hint in (err.value.hint or "")


# -- every call site in the sources: the import made to fail (None in sys.modules), the message and hint shown


def _missing(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)


def test_the_rest_client_without_httpx(monkeypatch: pytest.MonkeyPatch) -> None:
    from headwater.sources.rest_api import RESTClient

    _missing(monkeypatch, "httpx")
    with pytest.raises(ConfigError, match="the rest_api source needs the httpx package") as err:
        RESTClient("https://api.example.com")
    assert "pip install 'headwater[rest]'" in (err.value.hint or "")


def test_a_rich_json_path_without_jsonpath_ng(monkeypatch: pytest.MonkeyPatch) -> None:
    from headwater.sources.rest_api.selectors import path_of

    _missing(monkeypatch, "jsonpath_ng", "jsonpath_ng.ext")
    with pytest.raises(ConfigError, match=r"the JSON path '\$\.\.only_here' needs the jsonpath-ng package") as err:
        path_of("$..only_here")
    assert "pip install 'headwater[rest]'" in (err.value.hint or "")
    assert path_of("data.items")({"data": {"items": [1]}}) == [[1]]  # a dotted path needs no jsonpath-ng


def test_the_sql_database_source_without_sqlalchemy(monkeypatch: pytest.MonkeyPatch) -> None:
    from headwater.sources.sql_database.connection import connect

    _missing(monkeypatch, "sqlalchemy")
    with pytest.raises(ConfigError, match="the sql_database source needs the SQLAlchemy package") as err:
        connect("sqlite://", "auto")
    assert "pip install 'headwater[sql]' (or 'headwater[sql-fast]' for the ADBC drivers)" in (err.value.hint or "")


def test_a_postgresql_url_without_a_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    from headwater.sources.sql_database.connection import connect

    _missing(monkeypatch, "psycopg2", "psycopg")
    with pytest.raises(ConfigError, match="needs the psycopg\\[binary\\] package") as err:
        connect("postgresql://me:s3cret-pw@localhost:5432/db", "sqlalchemy")
    assert "s3cret-pw" not in str(err.value)
    assert "postgresql://me:***@localhost:5432/db" in str(err.value)
    assert "pip install 'psycopg[binary]' (or psycopg2" in (err.value.hint or "")


def test_backend_adbc_without_the_driver(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from headwater.sources.sql_database.connection import connect

    _missing(monkeypatch, "adbc_driver_sqlite", "adbc_driver_sqlite.dbapi")
    url = f"sqlite:///{tmp_path / 'x.db'}"
    with pytest.raises(ConfigError, match="backend='adbc' on sqlite needs the adbc-driver-sqlite package") as err:
        connect(url, "adbc")
    assert "pip install 'adbc-driver-sqlite' (or 'headwater[sql-fast]')" in (err.value.hint or "")
    assert connect(url, "auto").adbc_module is None  # auto falls back to SQLAlchemy quietly


def test_a_remote_url_without_fsspec(monkeypatch: pytest.MonkeyPatch) -> None:
    from headwater.sources.filesystem.files import locate

    _missing(monkeypatch, "fsspec")
    with pytest.raises(ConfigError, match="filesystem: reading 's3://bucket/data' needs the fsspec package") as err:
        locate("s3://bucket/data")
    assert "pip install 'headwater[filesystem]' (and the filesystem's own package: s3fs" in (err.value.hint or "")


@pytest.mark.parametrize(
    ("package", "missing", "message"),
    [
        ("headwater.sources.rest_api", "httpx", "the rest_api source needs the httpx package"),
        ("headwater.sources.sql_database", "sqlalchemy", "the sql_database source needs the SQLAlchemy package"),
    ],
)
def test_importing_a_source_without_its_extra(package: str, missing: str, message: str) -> None:
    code = (
        f"import sys; sys.modules[{missing!r}] = None\n"
        "from headwater.errors import ConfigError\n"
        "try:\n"
        f"    import {package}\n"
        "except ConfigError as exc:\n"
        "    print(exc)\n"
    )
    root = str(Path(__file__).resolve().parents[2])  # this checkout's headwater, whatever is installed
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert message in done.stdout
