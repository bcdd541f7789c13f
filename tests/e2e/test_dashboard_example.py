"""examples/dashboard_data.py runs as a user runs it: two runs, the second adding a column, read back as the
dashboard reads them (tables, the schema change, the cursor)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import env_with_path

ROOT = Path(__file__).resolve().parents[2]


def test_dashboard_data_example(tmp_path: Path) -> None:
    env = env_with_path()
    env["HEADWATER_HOME"] = str(tmp_path / "home")
    command = [sys.executable, str(ROOT / "examples" / "dashboard_data.py")]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "table users: 2 rows",
        "schema dashboard_demo v1: first version",
        "schema dashboard_demo v2: added users.team (text)",
        "cursor users.joined: 2026-02-01T09:30:00Z",
        "problems: none",
        "see it in a browser: headwater dashboard dashboard_demo",
    ]
