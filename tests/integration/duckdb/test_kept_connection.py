"""A run opens its DuckDB file once (state read and load share the connection), and never holds the
file's lock longer than it must: not while a long extraction runs, not after ``run`` returns."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

import headwater as hw
from headwater.destinations import kept

OPEN_READ_ONLY = "import duckdb, sys; duckdb.connect(sys.argv[1], read_only=True).close()"


def other_process_opens(path: Path) -> bool:
    """Whether another process can open the file now (DuckDB locks it for the process holding it)."""
    done = subprocess.run([sys.executable, "-c", OPEN_READ_ONLY, str(path)], capture_output=True, timeout=120)
    return done.returncode == 0


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The databases ``duckdb.connect`` opened (the real one runs; the calls are counted)."""
    opened: list[str] = []
    real = duckdb.connect

    def counting(database: Any = ":memory:", *args: Any, **kwargs: Any) -> Any:
        opened.append(str(database))
        return real(database, *args, **kwargs)

    monkeypatch.setattr(duckdb, "connect", counting)
    return opened


def ticks() -> Any:
    calls = {"n": 0}

    @hw.resource(primary_key="id")
    def ticks(cursor: Any = hw.incremental("t")) -> Iterator[list[dict[str, int]]]:
        n = calls["n"]
        calls["n"] += 1
        yield [{"id": 2 * n, "t": n}, {"id": 2 * n + 1, "t": n}]

    return ticks


def test_a_run_opens_the_file_once_and_frees_it_when_it_returns(tmp_path: Path, connects: list[str]) -> None:
    path = tmp_path / "once.duckdb"
    p = hw.pipeline("once", destination=hw.destinations.duckdb(path), pipelines_dir=tmp_path / "w", progress=False)
    resource = ticks()
    for _ in range(3):
        connects.clear()
        info = p.run(resource)
        assert info.table_rows() == {"ticks": 2}
        assert connects.count(str(path)) == 1, connects  # the state read's connection did the load
        assert other_process_opens(path)  # and it is closed: the file is free
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("select count(*), count(distinct id) from once_dataset.ticks").fetchall() == [(6, 6)]
        assert con.execute("select count(*) from once_dataset._hw_loads").fetchall() == [(3,)]


def test_a_failed_run_frees_the_file_too(tmp_path: Path) -> None:
    path = tmp_path / "failed.duckdb"
    p = hw.pipeline("failed", destination=hw.destinations.duckdb(path), pipelines_dir=tmp_path / "w", progress=False)
    p.run([{"id": 1}], table_name="t")

    @hw.resource
    def broken() -> Iterator[dict[str, int]]:
        yield {"id": 1}
        raise RuntimeError("the API went away")

    with pytest.raises(Exception, match="the API went away"):
        p.run(broken())
    assert other_process_opens(path)


def test_a_long_extraction_does_not_hold_the_file(tmp_path: Path) -> None:
    assert kept.KEEP_SECONDS < 1.5
    path = tmp_path / "long.duckdb"
    p = hw.pipeline("long", destination=hw.destinations.duckdb(path), pipelines_dir=tmp_path / "w", progress=False)
    p.run([{"id": 0}], table_name="slow")
    seen: dict[str, bool] = {}

    @hw.resource(table_name="slow")
    def slow() -> Iterator[dict[str, int]]:
        time.sleep(kept.KEEP_SECONDS + 0.5)  # the state was read before this; its connection waits that long
        seen["free during the extraction"] = other_process_opens(path)
        yield {"id": 1}

    assert p.run(slow()).table_rows() == {"slow": 1}
    assert seen == {"free during the extraction": True}
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("select count(*) from long_dataset.slow").fetchall() == [(2,)]


def test_a_kept_connection_gets_the_settings_of_a_new_one(tmp_path: Path) -> None:
    destination = hw.destinations.duckdb(tmp_path / "settings.duckdb", config={"memory_limit": "100MB"})
    with destination.keep_connections():
        with destination.client("raw") as client:
            client.execute("SET memory_limit = '1GB'")
            client.execute("SET search_path = 'settings.main'")
        with destination.client("raw") as client:  # the same connection, as a new one would be
            limit = client.execute("SELECT current_setting('memory_limit')")[0][0]
            path = client.execute("SELECT current_setting('search_path')")[0][0]
    with duckdb.connect(config={"memory_limit": "100MB"}) as fresh:
        assert limit == fresh.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
        assert path == fresh.execute("SELECT current_setting('search_path')").fetchall()[0][0]
