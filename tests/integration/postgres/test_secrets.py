"""A PostgreSQL password never leaks, tested as a class: every way a URL can hold it (user information,
percent-encoded or with an unencoded ``/``, ``#``, ``@`` or ``?``, a ``?password=`` parameter, plain or
form-encoded) x every sink (connection errors with their tracebacks, ``describe()`` and reprs, log
records of every logger at DEBUG, files under the working folder, the ``_hw_*`` tables), with the
session's real server (trust authentication accepts any password) and a closed port.

The sql_database source holds the same URLs: its connection errors are checked too.
"""

from __future__ import annotations

import json
import logging
import re
import traceback
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

import headwater as hw
from headwater import redact
from headwater.errors import HeadwaterError
from headwater.pipelines.pipeline import attach
from tests.conftest import create_database, drop_database
from tests.integration.rest_api.test_secrets import _Collect, _files

TRICKY = "Zq9x/Wv8y#Kt7u@Rs6v?Pq5+ z%"  # every URL delimiter, a plus, a space, a percent sign

#: name -> (the password, how to put it in a server URL "postgresql://postgres@host:port/db")
KINDS: dict[str, tuple[str, Callable[[str, str], str]]] = {
    "userinfo, percent-encoded": (TRICKY, lambda url, pw: url.replace("postgres@", f"postgres:{quote(pw, safe='')}@")),
    "userinfo, plain": ("Plain-Pw-0x77aa", lambda url, pw: url.replace("postgres@", f"postgres:{pw}@")),
    "userinfo, unencoded /": ("Zq9x/Wv8y-0x1A", lambda url, pw: url.replace("postgres@", f"postgres:{pw}@")),
    "userinfo, unencoded #": ("Zq9x#Wv8y-0x2B", lambda url, pw: url.replace("postgres@", f"postgres:{pw}@")),
    "userinfo, unencoded @": ("Zq9x@Wv8y-0x3C", lambda url, pw: url.replace("postgres@", f"postgres:{pw}@")),
    "userinfo, unencoded ?": ("Zq9x?Wv8y-0x4D", lambda url, pw: url.replace("postgres@", f"postgres:{pw}@")),
    "password parameter": (TRICKY, lambda url, pw: f"{url}?password={quote(pw, safe='')}"),
    "password parameter, form-encoded": (TRICKY, lambda url, pw: f"{url}?sslmode=disable&password={quote_plus(pw)}"),
}
SINKS = ("message", "describe", "logs", "working folder", "system tables")


def forms(password: str) -> list[str]:
    """The password as it could show, and each piece a parser splitting at a delimiter could show."""
    pieces = [p for p in re.split(r"[/#?@]", password) if len(p) >= 4 and p != password]
    return [password, quote(password, safe=""), quote_plus(password), json.dumps(password)[1:-1], *pieces]


def _closed_port_url(url: str) -> str:
    return re.sub(r"@127\.0\.0\.1:\d+/", "@127.0.0.1:1/", url)


def _scenario(base: Path, server_url: str, kind: str) -> dict[str, str]:
    with redact.isolated_registry():  # what this scenario's URL registers, nothing registered before
        return _isolated_scenario(base, server_url, kind)


def _isolated_scenario(base: Path, server_url: str, kind: str) -> dict[str, str]:
    password, put = KINDS[kind]
    database = create_database(server_url)
    collect = _Collect()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(collect)
    root.setLevel(logging.DEBUG)
    messages, describe, tables = [], [], []
    try:
        for label, url in (
            ("reachable", put(database, password)),
            ("closed", _closed_port_url(put(database, password))),
        ):
            p = hw.pipeline(
                f"pg_{label}", destination=url, dataset="raw", pipelines_dir=base / "pipelines", progress=False
            )
            describe += [repr(p), repr(p.destination), p.destination.describe(), str(p.destination.to_uri())]
            try:
                info = p.run([{"a": 1}], table_name="t")
            except HeadwaterError as exc:
                messages.append("".join(traceback.format_exception(exc)))
            else:
                describe.append(str(info))
                tables.append(
                    json.dumps(
                        [
                            p.query(f"select * from raw.{t}").to_pylist()
                            for t in ("_hw_loads", "_hw_state", "_hw_schemas")
                        ],
                        default=str,
                    )
                )
            try:  # the same URL as a source
                hw.pipeline(
                    f"src_{label}",
                    destination=hw.destinations.duckdb(str(base / f"{label}.duckdb")),
                    pipelines_dir=base / "pipelines",
                    progress=False,
                ).run(hw.sources.sql_database(url, tables=["_hw_loads"], schema="raw"))
            except HeadwaterError as exc:
                messages.append("".join(traceback.format_exception(exc)))
    finally:
        root.removeHandler(collect)
        root.setLevel(old_level)
        drop_database(database)
    assert messages, "at least the closed port fails"
    return {
        "message": "\n".join(messages),
        "describe": "\n".join(describe),
        "logs": "\n".join(collect.lines),
        "working folder": _files(base / "pipelines"),
        "system tables": "\n".join(tables),
    }


@pytest.fixture(scope="module")
def scenario(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], dict[str, str]]:
    cache: dict[str, dict[str, str]] = {}

    def get(kind: str) -> dict[str, str]:
        if kind not in cache:
            cache[kind] = _scenario(tmp_path_factory.mktemp("pgsecrets"), pg_url, kind)
        return cache[kind]

    return get


@pytest.mark.parametrize("sink", SINKS)
@pytest.mark.parametrize("kind", list(KINDS))
def test_no_password_reaches_any_sink(kind: str, sink: str, scenario: Callable[[str], dict[str, str]]) -> None:
    text = scenario(kind)[sink]
    for form in forms(KINDS[kind][0]):
        assert form not in text, f"{form!r} in the {sink}"


@pytest.mark.parametrize("kind", ["userinfo, percent-encoded", "userinfo, unencoded #", "password parameter"])
def test_the_loads_happened_and_their_tables_were_checked(kind: str, scenario: Callable[[str], dict[str, str]]) -> None:
    """The reachable server took these URLs: the system-table sink above is not vacuous for them."""
    assert '"load_id"' in scenario(kind)["system tables"]


def test_the_stored_uri_reopens_without_the_password(pg_url: str, tmp_path: Path) -> None:
    database = create_database(pg_url)
    try:
        url = f"{database}?sslmode=disable&password={quote(TRICKY, safe='')}"
        p = hw.pipeline("reopen", destination=url, dataset="raw", pipelines_dir=tmp_path, progress=False)
        p.run([{"a": 1}], table_name="t")
        meta = json.loads((tmp_path / "reopen" / "pipeline.json").read_text())
        assert meta["destination_uri"] == f"{database}?sslmode=disable"
        assert meta["destination"] == f"postgres ({database}?sslmode=disable&password=***)"
        assert attach("reopen", pipelines_dir=tmp_path).query("select a from raw.t").to_pylist() == [{"a": 1}]
    finally:
        drop_database(database)
