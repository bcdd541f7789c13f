"""``headwater run --dry-run`` on flows: the plan's counts are what the run then does, and the dry run
leaves the destination and the working folders byte for byte as they were (or absent)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import duckdb
import pytest

from headwater.cli import main

FLOWS = """
[sources.shop]
type = "sql_database"
config = {{ credentials = "sqlite:///${{here}}/shop.sqlite", chunk_size = 2 }}  # an item: at most 2 rows

[destinations.warehouse]
type = "duckdb"
config = {{ path = "{db}" }}

[[flows]]
name = "shop_raw"
from = "shop"
to = "warehouse"
dataset = "raw"
write_disposition = "merge"

[flows.resources.orders]
incremental = {{ cursor_path = "updated", initial_value = 0 }}
"""


def make_shop(path: Path, orders: list[tuple[int, str, int]]) -> None:
    con = sqlite3.connect(path)
    con.execute("create table if not exists orders (id integer primary key, status text, updated integer)")
    con.executemany("insert or replace into orders values (?, ?, ?)", orders)
    con.commit()
    con.close()


def snapshot(*folders: Path) -> dict[str, str]:
    out = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")) if folder.exists() else []:
            if path.is_file():
                out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def dry_run(flows: Path, pipelines: Path, capsys: pytest.CaptureFixture[str], *more: str) -> dict:
    capsys.readouterr()
    assert main(["run", str(flows), "--dry-run", "--json", "--pipelines-dir", str(pipelines), *more]) == 0
    (plan,) = json.loads(capsys.readouterr().out)
    return plan


def test_dry_run_then_run_gives_the_planned_counts_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, pipelines = tmp_path / "w.duckdb", tmp_path / "p"
    make_shop(tmp_path / "shop.sqlite", [(i, "placed", i) for i in range(1, 11)])
    flows = tmp_path / "flows.toml"
    flows.write_text(FLOWS.format(db=db))

    # a fresh destination: everything new, and nothing created by the dry run
    plan = dry_run(flows, pipelines, capsys)
    assert plan["tables"]["orders"]["new"] is True and plan["tables"]["orders"]["rows"] == 10
    assert plan["cursors"][0]["from_value"] is None and plan["cursors"][0]["to_value"] == 10
    assert not db.exists() and not pipelines.exists()
    assert main(["run", str(flows), "--pipelines-dir", str(pipelines)]) == 0

    # changes upstream: 2 updated, 3 new; the plan says so, and changes nothing
    make_shop(
        tmp_path / "shop.sqlite",
        [(3, "shipped", 11), (4, "shipped", 12), *[(i, "placed", i + 2) for i in (11, 12, 13)]],
    )
    before = snapshot(db.parent / "w.duckdb", pipelines)
    plan = dry_run(flows, pipelines, capsys)
    orders = plan["tables"]["orders"]
    assert (orders["new"], orders["rows"], orders["inserted"], orders["updated"], orders["deleted"]) == (
        False,
        5,
        3,
        2,
        0,
    )
    assert plan["cursors"][0]["from_value"] == 10 and plan["cursors"][0]["to_value"] == 15
    assert snapshot(db.parent / "w.duckdb", pipelines) == before  # byte for byte

    # the human table names the same numbers
    capsys.readouterr()
    assert main(["run", str(flows), "--dry-run", "--pipelines-dir", str(pipelines)]) == 0
    text = capsys.readouterr().out
    assert "orders" in text and "+3 new" in text and "~2 updated" in text

    # --limit: at most N items per resource (one chunk of at most 2 rows instead of all 5 changed rows)
    limited = dry_run(flows, pipelines, capsys, "--limit", "1")
    assert 0 < limited["tables"]["orders"]["rows"] <= 2

    # the real run does what the plan said
    with duckdb.connect(str(db), read_only=True) as con:
        rows_before = con.execute("select count(*) from raw.orders").fetchone()[0]
    capsys.readouterr()
    assert main(["run", str(flows), "--json", "--pipelines-dir", str(pipelines)]) == 0
    (info,) = json.loads(capsys.readouterr().out)
    assert sum(t["rows"] for load in info["loads"] for t in load["tables"].values()) == orders["rows"]
    with duckdb.connect(str(db), read_only=True) as con:
        rows_after = con.execute("select count(*) from raw.orders").fetchone()[0]
        shipped = con.execute("select count(*) from raw.orders where status = 'shipped'").fetchone()[0]
    assert rows_after - rows_before == orders["inserted"] - orders["deleted"]
    assert shipped == orders["updated"]


def test_limit_without_dry_run_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_shop(tmp_path / "shop.sqlite", [(1, "placed", 1)])
    flows = tmp_path / "flows.toml"
    flows.write_text(FLOWS.format(db=tmp_path / "w.duckdb"))
    assert main(["run", str(flows), "--limit", "3"]) == 2
    assert "--limit goes with --dry-run" in capsys.readouterr().err
