"""``headwater --help`` imports the command line only: typer and the command modules, not the data path
(Arrow, DuckDB, pandas), which the commands import when they run (docs/benchmarks.md, "Small runs")."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import env_with_path

HELP = """
import contextlib, io, json, sys
from headwater.cli import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    code = main(sys.argv[1:])
print(json.dumps({"code": code, "help": out.getvalue(), "modules": sorted(sys.modules)}))
"""

#: the data path: what a run needs and ``--help`` must not pay for
HEAVY = ("pyarrow", "duckdb", "pandas", "numpy", "headwater.pipelines.pipeline", "headwater.normalize")


@pytest.mark.parametrize("args", [["--help"], ["pipeline", "--help"], ["runs", "--help"]])
def test_help_imports_no_data_path(args: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", HELP, *args], capture_output=True, text=True, env=env_with_path(), timeout=120
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["code"] == 0 and "Usage:" in result["help"]
    loaded = [m for m in result["modules"] if any(m == h or m.startswith(h + ".") for h in HEAVY)]
    assert not loaded, f"{' '.join(args)} imported {loaded}"
