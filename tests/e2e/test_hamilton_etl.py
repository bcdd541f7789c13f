"""examples/hamilton_etl.py runs as a user runs it: raw events loaded by one pipeline, reports computed
by a Hamilton dataflow, loaded by another; the reports equal what the sample file says."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import duckdb

from tests.conftest import env_with_path

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "data" / "github_events.jsonl"


def _expected() -> tuple[list[tuple[str, int, int]], list[tuple[str, int, int]]]:
    events = [json.loads(line) for line in SAMPLE.read_text().splitlines()]
    by_type: dict[str, list[str]] = defaultdict(list)
    commits: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for e in events:
        by_type[e["type"]].append(e["actor"]["login"])
        for c in e["payload"].get("commits", []):
            commits[e["repo"]["name"]].append((c["sha"], c["author"]["name"]))
    per_type = [(t, len(a), len(set(a))) for t, a in sorted(by_type.items())]
    per_repo = [(r, len(c), len({name for _, name in c})) for r, c in sorted(commits.items())]
    return per_type, per_repo


def test_hamilton_etl_example(tmp_path: Path) -> None:
    env = env_with_path()
    env["HEADWATER_HOME"] = str(tmp_path / "home")
    env["HAMILTON_TELEMETRY_ENABLED"] = "false"
    command = [sys.executable, str(ROOT / "examples" / "hamilton_etl.py")]
    for _ in range(2):  # a second run replaces the reports: the same rows
        done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert "commits_per_repo" in done.stdout
        per_type, per_repo = _expected()
        with duckdb.connect(str(tmp_path / "hamilton_etl.duckdb"), read_only=True) as con:
            got_type = con.execute("select type, events, actors from reports.events_per_type order by 1").fetchall()
            got_repo = con.execute("select repo, commits, authors from reports.commits_per_repo order by 1").fetchall()
            raw = con.execute("select count(*) from raw.events").fetchall()
        assert got_type == per_type
        assert got_repo == per_repo
        assert raw == [(500,)]
