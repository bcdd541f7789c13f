"""The real meltanolabs tap-postgres against the test PostgreSQL: incremental replication by a
replication key, and a pipeline killed (SIGKILL) mid-run that loses and doubles nothing on the rerun."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import psycopg
import pytest

import headwater as hw
from tests.conftest import env_with_path
from tests.connectors import command, requirement
from tests.integration.singer.conftest import make, rows

TAP = requirement("tap-postgres")
EXE = command("tap-postgres")


def tap_config(url: str) -> dict[str, Any]:
    u = urlparse(url)
    return {"host": u.hostname, "port": u.port or 5432, "user": u.username, "password": u.password or "",
            "database": u.path.lstrip("/"), "filter_schemas": ["public"]}  # fmt: skip


def add_items(url: str, first: int, last: int) -> None:
    """Items ``first..last``, item i updated at hour i of 2026-01-01."""
    with psycopg.connect(url, autocommit=True) as con:
        con.execute(
            "INSERT INTO items SELECT i, 'item ' || i, timestamptz '2026-01-01 00:00+00' + i * interval '1 hour' "
            "FROM generate_series(%s::int, %s::int) AS i",
            (first, last),
        )


@pytest.fixture
def items(pg_database: str) -> str:
    with psycopg.connect(pg_database, autocommit=True) as con:
        con.execute("CREATE TABLE items (id int PRIMARY KEY, name text, updated_at timestamptz NOT NULL)")
        con.execute("CREATE TABLE other (id int)")
    add_items(pg_database, 1, 3)
    return pg_database


def incremental_catalog(url: str) -> dict[str, Any]:
    """The discovered catalog with public-items set to INCREMENTAL on updated_at."""
    catalog = hw.sources.singer.discover(TAP, tap_config(url), executable=EXE)
    (entry,) = [s for s in catalog["streams"] if s["tap_stream_id"] == "public-items"]
    (root,) = [m for m in entry["metadata"] if m["breadcrumb"] == []]
    root["metadata"].update({"replication-method": "INCREMENTAL", "replication-key": "updated_at"})
    return catalog


def test_a_second_run_reads_only_new_rows(items: str, tmp_path: Path) -> None:
    catalog = incremental_catalog(items)
    assert {s["tap_stream_id"] for s in catalog["streams"]} == {"public-items", "public-other"}
    source = hw.sources.singer(TAP, config=tap_config(items), catalog=catalog, select=["public-items"], executable=EXE)
    p = make(tmp_path)
    assert p.run(source).table_rows() == {"public_items": 3}  # "other" not selected
    add_items(items, 4, 5)
    second = p.run(
        hw.sources.singer(TAP, config=tap_config(items), catalog=catalog, select=["public-items"], executable=EXE)
    )
    # the SDK reads from the bookmark inclusively: item 3 again, then 4 and 5; never items 1 and 2
    assert second.table_rows() == {"public_items": 3}
    assert rows(tmp_path, "select count(*), count(distinct id) from d.public_items") == [(5, 5)]
    saved = p.state.resource_state("tap_postgres", "tap_postgres")["singer_state"]
    assert saved["bookmarks"]["public-items"]["replication_key"] == "updated_at"
    assert "other" not in "".join(t for (t,) in rows(tmp_path, "select table_name from information_schema.tables"))


@pytest.mark.parametrize("failpoint", ["extract.batch", "load.after_insert"])
def test_a_killed_run_loses_and_doubles_nothing(items: str, tmp_path: Path, failpoint: str) -> None:
    catalog = incremental_catalog(items)
    script = tmp_path / "run.py"
    script.write_text(
        "import headwater as hw\n"
        f"source = hw.sources.singer({TAP!r}, config={tap_config(items)!r}, catalog={catalog!r}, "
        f"select=['public-items'], executable={EXE!r})\n"
        f"p = hw.pipeline('singer', destination=hw.destinations.duckdb({str(tmp_path / 'h.duckdb')!r}), dataset='d', "
        f"pipelines_dir={str(tmp_path / 'p')!r}, progress=False)\n"
        "p.run(source)\n"
    )
    p = make(tmp_path)
    p.run(hw.sources.singer(TAP, config=tap_config(items), catalog=catalog, select=["public-items"], executable=EXE))
    add_items(items, 4, 6)
    env = {**env_with_path(), "HEADWATER_FAILPOINT": failpoint, "HEADWATER_HOME": os.environ["HEADWATER_HOME"]}
    died = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert died.returncode == -9, died.stderr  # SIGKILL at the failpoint
    assert rows(tmp_path, "select count(*) from d.public_items") == [(3,)]  # nothing of the killed run landed
    add_items(items, 7, 8)
    p = make(tmp_path)
    p.run(hw.sources.singer(TAP, config=tap_config(items), catalog=catalog, select=["public-items"], executable=EXE))
    assert rows(tmp_path, "select count(*), count(distinct id), min(id), max(id) from d.public_items") == [(8, 8, 1, 8)]
