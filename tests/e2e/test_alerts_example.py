"""examples/alerts.py runs as a user runs it: the on_failure callable hears of the failed run, the logs
are JSON lines tagged with each run, and the access records land in their own file."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import env_with_path

ROOT = Path(__file__).resolve().parents[2]


def test_alerts_example(tmp_path: Path) -> None:
    env = env_with_path()
    env["HEADWATER_HOME"] = str(tmp_path / "home")
    script = str(ROOT / "examples" / "alerts.py")
    out = subprocess.run([sys.executable, script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert re.fullmatch(r"ok orders run \d{8}T\d{6}\.\d{6}Z: 3 rows", lines[0])
    assert re.fullmatch(r"ALERT orders run \d{8}T\d{6}\.\d{6}Z failed after \d+\.\d\ds:", lines[1])
    assert lines[2].startswith("  ExtractError: resource 'partner_orders' failed: ValueError: line 2 of the partner")
    assert lines[3:] == [
        "the run raised its own error: ExtractError",
        "log lines from 2 runs; reads: [('orders.csv', 3), ('__main__.damaged_feed', 1)]",
    ]
    records = [json.loads(x) for x in (tmp_path / "pipeline.log.jsonl").read_text().splitlines()]
    failed = [r for r in records if r["level"] == "ERROR" and r["logger"] == "headwater.runs"]
    assert len(failed) == 1 and failed[0]["pipeline"] == "orders" and "truncated" in failed[0]["message"]
    access, feed = [json.loads(x) for x in (tmp_path / "access.log.jsonl").read_text().splitlines()]
    assert (
        access["access"]["url"] == str(tmp_path / "drops" / "orders.csv") and access["run_id"] == records[0]["run_id"]
    )
    # the failing Python resource's read is recorded too, with the row it gave before failing
    assert feed["access"]["source"] == "python" and feed["access"]["rows"] == 1
