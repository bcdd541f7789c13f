"""A working folder belongs to one destination and one dataset.

The same pipeline name used with another DuckDB file (another current folder), another dataset or
another destination type gets a working folder of its own and starts from what *that* destination has
committed: no primary key, cursor or table is inherited from another dataset, ``pipeline info`` shows
one destination's loads, and ``drop`` drops the tables of the destination it names.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

import headwater as hw
from headwater.errors import ConfigError, StateError
from headwater.pipelines.pipeline import attach
from tests.conftest import env_with_path


def tables_in(db: Path, schema: str | None = None) -> list[str]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        sql = "select table_name from duckdb_tables()"
        rows = con.execute(
            sql + (" where schema_name = ?" if schema else "") + " order by 1", [schema] if schema else []
        )
        return [r[0] for r in rows.fetchall() if not r[0].startswith("_hw_")]
    finally:
        con.close()


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "headwater", *args], capture_output=True, text=True, env=env_with_path(), timeout=120
    )


@pytest.fixture
def folders(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """Two project folders under one home, as a user following the docs in two places would have."""
    a, b = tmp_path / "project_a", tmp_path / "project_b"
    a.mkdir()
    b.mkdir()
    here = Path.cwd()
    yield a, b
    os.chdir(here)


def test_the_same_name_in_another_folder_inherits_no_primary_key(folders: tuple[Path, Path], tmp_path: Path) -> None:
    """The reproduction: a second ``tracker`` (another folder, another DuckDB file, no primary key)
    failed with "6 row(s) have no value for primary key column 'id'"."""
    a, b = folders
    os.chdir(a)

    @hw.resource(primary_key="id", write_disposition="merge")
    def issues() -> Iterator[list[dict[str, Any]]]:
        yield [{"id": i, "title": f"t{i}"} for i in range(3)]

    hw.pipeline("tracker", progress=False).run(issues)
    os.chdir(b)
    info = hw.pipeline("tracker", progress=False).run([{"repo": "x", "n": i} for i in range(6)], table_name="issues")
    assert info.table_rows() == {"issues": 6}
    assert tables_in(a / "tracker.duckdb") == ["issues"]
    assert tables_in(b / "tracker.duckdb") == ["issues"]
    pipelines = tmp_path / "hwhome" / "pipelines"
    folders_made = sorted(p.name for p in pipelines.iterdir())
    assert len(folders_made) == 2 and folders_made[0] == "tracker" and folders_made[1].startswith("tracker@")
    # each folder's schema is its own destination's: b's issues table has no primary key
    b_schema = hw.pipeline("tracker", progress=False).schema()
    assert b_schema.tables["issues"].primary_key == []
    os.chdir(a)
    assert hw.pipeline("tracker", progress=False).schema().tables["issues"].primary_key == ["id"]


def test_another_file_does_not_get_the_other_pipelines_tables(folders: tuple[Path, Path]) -> None:
    """The reproduction: a ``crm`` pipeline created the other ``crm``'s empty tables in its own file."""
    a, b = folders

    @hw.resource
    def users() -> Iterator[dict[str, int]]:
        yield {"id": 1}

    @hw.resource
    def numbers() -> Iterator[dict[str, int]]:
        yield {"n": 1}

    @hw.source
    def crm() -> list[Any]:
        return [users, numbers]

    os.chdir(a)
    hw.pipeline("crm", progress=False).run(crm())
    os.chdir(b)
    hw.pipeline("crm", progress=False).run(crm().with_resources("numbers"))
    assert tables_in(a / "crm.duckdb") == ["numbers", "users"]
    assert tables_in(b / "crm.duckdb") == ["numbers"]


def test_another_dataset_starts_from_its_own_state(tmp_path: Path) -> None:
    """A cursor advanced in dataset ``a`` must not make dataset ``b`` skip rows it never received."""
    rows = [{"id": i, "ts": i} for i in range(5)]

    @hw.resource
    def events(cursor: Any = hw.incremental("ts")) -> Iterator[list[dict[str, int]]]:
        start = cursor.start_value
        yield [r for r in rows if start is None or r["ts"] > start]

    db = tmp_path / "w.duckdb"
    first = hw.pipeline("events", destination=hw.destinations.duckdb(db), dataset="a", progress=False)
    assert first.run(events).table_rows() == {"events": 5}
    assert first.run(events).table_rows() == {}
    second = hw.pipeline("events", destination=hw.destinations.duckdb(db), dataset="b", progress=False)
    assert second.workdir.root != first.workdir.root
    assert second.run(events).table_rows() == {"events": 5}  # every row, not none
    assert first.run(events).table_rows() == {}  # and a's cursor is where it was


def test_info_and_drop_name_one_destination(tmp_path: Path) -> None:
    """``pipeline info`` mixed DuckDB and Iceberg loads, ``drop`` dropped tables in the last destination
    only: now each has its own working folder, info and drop name one of them."""
    if importlib.util.find_spec("pyiceberg") is None:
        pytest.skip("pyiceberg is not installed")
    pdir = tmp_path / "pipelines"
    duck = hw.pipeline("mixed", destination=hw.destinations.duckdb(tmp_path / "m.duckdb"), pipelines_dir=pdir)
    ice = hw.pipeline("mixed", destination=hw.destinations.iceberg(tmp_path / "wh"), pipelines_dir=pdir)
    duck.run([{"a": 1}], table_name="in_duckdb")
    ice.run([{"a": 1}], table_name="in_iceberg")
    ice.run([{"a": 2}], table_name="in_iceberg")
    assert duck.workdir.root.name == "mixed" and ice.workdir.root.name.startswith("mixed@")

    ambiguous = cli("pipeline", "info", "mixed", "--pipelines-dir", str(pdir))
    assert ambiguous.returncode == 1
    assert "2 working folders" in ambiguous.stderr and ice.workdir.root.name in ambiguous.stderr
    with pytest.raises(StateError, match="2 working folders"):
        attach("mixed", pdir)

    shown = json.loads(cli("pipeline", "info", ice.workdir.root.name, "--pipelines-dir", str(pdir), "--json").stdout)
    assert shown["destination"].startswith("iceberg")
    assert [set(load["tables"]) for load in shown["loads"]] == [{"in_iceberg"}, {"in_iceberg"}]
    shown = json.loads(cli("pipeline", "info", "mixed", "--pipelines-dir", str(pdir), "--json").stdout or "{}")
    assert shown == {}  # still ambiguous: nothing printed on stdout

    dropped = cli("pipeline", "drop", ice.workdir.root.name, "--yes", "--pipelines-dir", str(pdir))
    assert dropped.returncode == 0, dropped.stderr
    assert not ice.workdir.root.exists() and duck.workdir.root.exists()
    assert tables_in(tmp_path / "m.duckdb") == ["in_duckdb"]  # the other destination kept its table
    with hw.destinations.iceberg(tmp_path / "wh").client(ice.dataset_name) as client:
        assert "in_iceberg" not in client.table_names()  # dropped where it was
    # one folder left: the plain name is unambiguous again
    assert attach("mixed", pdir).destination.name == "duckdb"
    assert json.loads(cli("pipeline", "info", "mixed", "--pipelines-dir", str(pdir), "--json").stdout)["loads"]


def test_a_folder_is_never_used_for_another_identity(tmp_path: Path) -> None:
    pdir = tmp_path / "pipelines"
    first = hw.pipeline("own", destination=hw.destinations.duckdb(tmp_path / "x.duckdb"), pipelines_dir=pdir)
    first.run([{"a": 1}], table_name="t")
    other = hw.pipeline("own", destination=hw.destinations.duckdb(tmp_path / "y.duckdb"), pipelines_dir=pdir)
    other.workdir = first.workdir  # as if something pointed it at the other folder
    with pytest.raises(StateError, match="belongs to"):
        other.run([{"a": 1}], table_name="t")
    assert tables_in(tmp_path / "y.duckdb") == [] if (tmp_path / "y.duckdb").exists() else True


def test_reopening_the_same_destination_and_dataset_uses_the_same_folder(tmp_path: Path) -> None:
    pdir = tmp_path / "pipelines"
    dest = f"duckdb:///{tmp_path}/same.duckdb"
    a = hw.pipeline("same", destination=dest, dataset="raw", pipelines_dir=pdir)
    a.run([{"a": 1}], table_name="t")
    b = hw.pipeline(
        "same", destination=hw.destinations.duckdb(tmp_path / "same.duckdb"), dataset="raw", pipelines_dir=pdir
    )
    assert b.workdir.root == a.workdir.root == pdir / "same"
    assert attach("same", pdir).workdir.root == a.workdir.root


def test_the_default_dataset_never_collides_with_the_duckdb_catalog(tmp_path: Path, caplog: Any) -> None:
    p = hw.pipeline("shop", destination=hw.destinations.duckdb(tmp_path / "shop_dataset.duckdb"), progress=False)
    assert p.dataset_name == "shop_dataset_2"
    p.run([{"a": 1}], table_name="orders")
    con = duckdb.connect(str(tmp_path / "shop_dataset.duckdb"), read_only=True)
    try:  # a user's qualified SQL is not ambiguous
        assert con.execute("select count(*) from shop_dataset_2.orders").fetchone() == (1,)
    finally:
        con.close()
    with caplog.at_level(logging.WARNING, logger="headwater"):
        named = hw.pipeline("crm2", destination=hw.destinations.duckdb(tmp_path / "crm2.duckdb"), dataset="crm2")
    assert named.dataset_name == "crm2"  # the user's choice is kept, with a warning saying why it is a bad one
    assert "ambiguous" in caplog.text


def test_dot_pipelines_cannot_drop_the_pipelines_folder(tmp_path: Path) -> None:
    pdir = tmp_path / "pipelines"
    hw.pipeline("keep", destination=hw.destinations.duckdb(tmp_path / "k.duckdb"), pipelines_dir=pdir).run(
        [{"a": 1}], table_name="t"
    )
    for name in (".", "..", "../pipelines", str(pdir)):
        with pytest.raises(ConfigError, match="pipeline name"):
            hw.pipeline(name, pipelines_dir=pdir).drop()
    assert (pdir / "keep" / "pipeline.json").exists()
