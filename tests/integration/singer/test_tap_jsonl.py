"""The real tap-jsonl (singer-sdk), installed into its own environment, as a source and piped into
``headwater singer-target``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import headwater as hw
from headwater.errors import ConfigError
from headwater.sources.connector.env import resolve
from tests.conftest import env_with_path
from tests.connectors import requirement
from tests.integration.singer.conftest import make, rows

TAP = requirement("tap-jsonl")


def write_users(path: Path, users: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(u) + "\n" for u in users))


def config(path: Path) -> dict[str, Any]:
    return {"path": str(path), "stream_name": "users", "primary_keys": ["id"]}


USERS = [
    {"id": 1, "name": "ada", "address": {"city": "London", "zip": "N1"}, "tags": ["math", "code"]},
    {"id": 2, "name": "bob", "address": {"city": "Paris", "zip": "75001"}, "tags": []},
]


def test_nested_records_flatten_and_unnest_and_a_rerun_merges(tmp_path: Path) -> None:
    data = tmp_path / "users.jsonl"
    write_users(data, USERS)
    p = make(tmp_path)
    info = p.run(hw.sources.singer(TAP, config=config(data)))
    assert info.table_rows() == {"users": 2, "users__tags": 2}
    assert rows(tmp_path, "select id, name, address__city, address__zip from d.users order by id") == [
        (1, "ada", "London", "N1"),
        (2, "bob", "Paris", "75001"),
    ]
    assert rows(tmp_path, "select value from d.users__tags order by _hw_list_idx") == [("math",), ("code",)]
    write_users(data, [{**USERS[0], "name": "ada lovelace"}, USERS[1], {"id": 3, "name": "cy", "tags": ["x"]}])
    os.utime(data, (1e10, 1e10))  # a newer modification time: tap-jsonl's bookmark lets the file through
    p.run(hw.sources.singer(TAP, config=config(data)))
    assert rows(tmp_path, "select id, name from d.users order by id") == [(1, "ada lovelace"), (2, "bob"), (3, "cy")]
    assert rows(tmp_path, "select count(*) from d.users__tags") == [(3,)]
    st = p.state.resource_state("tap_jsonl", "tap_jsonl")
    assert st["singer_state"]["bookmarks"]["users"]["replication_key"] == "_sdc_last_modified"
    assert st["bookmark_properties"] == {"users": ["_sdc_last_modified"]}
    assert st["replication_keys"] == {"users": "_sdc_last_modified"}


def test_select_the_stream_and_a_misspelled_one(tmp_path: Path) -> None:
    data = tmp_path / "users.jsonl"
    write_users(data, USERS)
    with pytest.raises(ConfigError, match="no stream 'user'") as err:
        hw.sources.singer(TAP, config=config(data), select=["user"])
    assert "did you mean 'users'" in str(err.value)
    info = make(tmp_path).run(hw.sources.singer(TAP, config=config(data), select={"users": ["id", "name"]}))
    assert info.table_rows() == {"users": 2}  # tags not selected: no child table
    cols = {r[0] for r in rows(tmp_path, "select column_name from information_schema.columns where table_name='users'")}
    assert {"id", "name"} <= cols and "address__city" not in cols


def test_tap_jsonl_piped_into_singer_target(tmp_path: Path) -> None:
    data = tmp_path / "users.jsonl"
    write_users(data, USERS)
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(config(data)))
    (tap,) = resolve(TAP).argv
    db = tmp_path / "target.duckdb"
    target = [sys.executable, "-m", "headwater", "singer-target", "--destination", f"duckdb:///{db}"]
    target += ["--dataset", "raw", "--pipelines-dir", str(tmp_path / "p")]
    env = env_with_path()
    with subprocess.Popen([tap, "--config", str(cfg)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as producer:
        done = subprocess.run(target, stdin=producer.stdout, capture_output=True, env=env, timeout=300, check=False)
    assert producer.returncode == 0 and done.returncode == 0, done.stderr.decode()
    tap_out = subprocess.run([tap, "--config", str(cfg)], capture_output=True, check=True).stdout.decode()
    last_state = [json.loads(line)["value"] for line in tap_out.splitlines() if '"type":"STATE"' in line][-1]
    emitted = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert emitted == [last_state]
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select id, address__city from raw.users order by id").fetchall() == [
            (1, "London"),
            (2, "Paris"),
        ]
        assert con.execute("select count(*) from raw.users__tags").fetchall() == [(2,)]
