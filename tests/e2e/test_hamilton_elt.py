"""examples/hamilton_elt.py runs as a user runs it: raw events loaded into DuckDB, the SQL models made
right after the load, then the Hamilton dataflow's Ibis expressions materialized as tables beside them;
every table checked against counts computed here from the sample file."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import duckdb

from tests.conftest import env_with_path

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "data" / "github_events.jsonl"


def run_example(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = env_with_path()
    env["HEADWATER_HOME"] = str(tmp_path / "home")
    script = str(ROOT / "examples" / "hamilton_elt.py")
    return subprocess.run([sys.executable, script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)


def test_hamilton_elt_example(tmp_path: Path) -> None:
    events = [json.loads(line) for line in SAMPLE.read_text().splitlines()]
    pushes = [e for e in events if e["type"] == "PushEvent"]
    commits_by_author = Counter(c["author"]["name"] for e in pushes for c in e["payload"].get("commits", []))
    events_by_repo = Counter(e["repo"]["name"] for e in events)
    pushes_by_repo = Counter(e["repo"]["name"] for e in pushes)

    for _ in range(2):  # a second run replaces every table (raw, models, Hamilton's) with the same content
        out = run_example(tmp_path)
        assert out.returncode == 0, out.stderr
        assert "model push_events: ok (" in out.stdout and "model pushes_per_repo: ok (" in out.stdout
        assert "materialized top_committers: 5 rows" in out.stdout

    with duckdb.connect(str(tmp_path / "hamilton_elt.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from github.events").fetchone() == (len(events),)
        # the SQL models, in dependency order although listed the other way round
        assert con.execute("select count(*), sum(commits) from github.push_events").fetchone() == (
            len(pushes),
            sum(commits_by_author.values()),
        )
        per_repo = dict(con.execute("select repo, pushes from github.pushes_per_repo").fetchall())
        assert per_repo == dict(pushes_by_repo)
        ran = con.execute("select name, status from github._hw_models order by ran_at").fetchall()
        assert ran[:2] == [("push_events", "ok"), ("pushes_per_repo", "ok")] and len(ran) == 4
        # the Hamilton tables
        top = con.execute("select author, commits from github.top_committers").fetchall()
        assert top == sorted(commits_by_author.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
        activity = con.execute("select repo, events, pushes from github.repo_activity").fetchall()
        assert {r: (n, p) for r, n, p in activity} == {
            r: (n, pushes_by_repo.get(r, 0)) for r, n in events_by_repo.items()
        }
        # days in the session's time zone: only the total is the same everywhere
        assert con.execute("select sum(events) from github.daily_events").fetchone() == (len(events),)
