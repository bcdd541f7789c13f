"""``headwater singer-target`` as a real subprocess: commits at STATE boundaries and prints each state
only after the data before it is committed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb

from tests.conftest import env_with_path


def messages() -> str:
    """Three stretches of records (10, 10, 5), each followed by a STATE; a log line among them."""
    out: list[Any] = [{"type": "SCHEMA", "stream": "users", "key_properties": ["id"],
                       "schema": {"properties": {"id": {"type": "integer"}, "tags": {"type": "array"}}}}]  # fmt: skip
    n = 0
    for size, state in ((10, 1), (10, 2), (5, 3)):
        for _ in range(size):
            n += 1
            out.append({"type": "RECORD", "stream": "users", "record": {"id": n, "tags": ["a", "b"]}})
        out.append({"type": "STATE", "value": {"bookmark": state}})
    lines = [json.dumps(m) for m in out]
    lines.insert(3, "INFO a log line on stdout")
    return "\n".join(lines) + "\n"


def target(tmp_path: Path, *args: str, failpoint: str | None = None) -> subprocess.CompletedProcess[str]:
    env = env_with_path()
    env["HEADWATER_HOME"] = os.environ["HEADWATER_HOME"]
    if failpoint:
        env["HEADWATER_FAILPOINT"] = failpoint
    command = [sys.executable, "-m", "headwater", "singer-target", "--destination", f"duckdb:///{tmp_path}/t.duckdb"]
    command += ["--dataset", "raw", "--pipelines-dir", str(tmp_path / "p"), *args]
    return subprocess.run(command, input=messages(), capture_output=True, text=True, env=env, timeout=300)


def count(tmp_path: Path) -> int:
    with duckdb.connect(str(tmp_path / "t.duckdb"), read_only=True) as con:
        return con.execute("select count(*) from raw.users").fetchall()[0][0]  # type: ignore[no-any-return]


def test_one_load_prints_the_last_state_after_it(tmp_path: Path) -> None:
    done = target(tmp_path)
    assert done.returncode == 0, done.stderr
    assert [json.loads(line) for line in done.stdout.splitlines()] == [{"bookmark": 3}]
    assert "1 input line(s) were not JSON" in done.stderr
    assert count(tmp_path) == 25


def test_commit_every_prints_each_state_after_its_commit(tmp_path: Path) -> None:
    done = target(tmp_path, "--commit-every", "10")
    assert done.returncode == 0, done.stderr
    assert [json.loads(line) for line in done.stdout.splitlines()] == [{"bookmark": b} for b in (1, 2, 3)]
    assert "in 3 load(s)" in done.stderr
    with duckdb.connect(str(tmp_path / "t.duckdb"), read_only=True) as con:
        assert con.execute("select count(distinct _hw_load_id), count(*) from raw.users").fetchall() == [(3, 25)]
        assert con.execute("select count(*) from raw.users__tags").fetchall() == [(50,)]


def test_a_target_killed_in_its_second_load_printed_only_the_first_state(tmp_path: Path) -> None:
    died = target(tmp_path, "--commit-every", "10", failpoint="load.after_insert:2")
    assert died.returncode == -9, died.stderr
    assert [json.loads(line) for line in died.stdout.splitlines()] == [{"bookmark": 1}]
    assert count(tmp_path) == 10  # what the printed state covers, and nothing of the killed load


def test_a_bad_destination_prints_no_state_and_fails(tmp_path: Path) -> None:
    env = env_with_path()
    command = [sys.executable, "-m", "headwater", "singer-target", "--destination", "nosuchdb"]
    done = subprocess.run(command, input=messages(), capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 1 and done.stdout == ""
    assert "nosuchdb" in done.stderr
