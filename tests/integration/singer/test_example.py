"""examples/singer_jsonl.py runs as a user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb

from tests.conftest import env_with_path

ROOT = Path(__file__).resolve().parents[3]


def test_singer_jsonl_example(tmp_path: Path) -> None:
    env = env_with_path()
    env["HEADWATER_HOME"] = str(tmp_path / "home")
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "singer_jsonl.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    assert "events: 500 rows" in out.stdout
    with duckdb.connect(str(tmp_path / "singer.duckdb"), read_only=True) as con:
        assert con.execute("select count(*), count(distinct id) from github.events").fetchall() == [(500, 500)]
        assert con.execute("select count(*) from github.events__payload__commits").fetchall() == [(265,)]
