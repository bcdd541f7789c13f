"""The command line, run as a user runs it: in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import env_with_path


def cli(*args: str, module: bool = False) -> subprocess.CompletedProcess[str]:
    exe = [sys.executable, "-m", "headwater"] if module else [str(Path(sys.executable).parent / "headwater")]
    return subprocess.run([*exe, *args], capture_output=True, text=True, env=env_with_path(), timeout=120)


def test_help_and_version() -> None:
    for module in (False, True):
        out = cli("--help", module=module)
        assert out.returncode == 0, out.stderr
        assert "pipeline" in out.stdout and "schema" in out.stdout
    out = cli("--version")
    assert out.returncode == 0 and out.stdout.startswith("headwater ")


def test_pipeline_info_and_schema_show(make_pipeline: Any, tmp_path: Path) -> None:
    p = make_pipeline("clitest")
    p.run([{"id": 1, "userName": "a", "tags": ["x"]}], table_name="users", primary_key="id")
    pdir = str(tmp_path / "pipelines")
    out = cli("pipeline", "info", "clitest", "--pipelines-dir", pdir)
    assert out.returncode == 0, out.stderr
    assert "clitest" in out.stdout and "raw" in out.stdout and "users" in out.stdout
    data = json.loads(cli("pipeline", "info", "clitest", "--pipelines-dir", pdir, "--json").stdout)
    assert data["dataset"] == "raw"
    assert data["loads"][0]["tables"] == {"users": 1, "users__tags": 1}
    assert data["schemas"] == [{"name": "clitest", "version": 1, "tables": 2}]
    listed = cli("pipeline", "list", "--pipelines-dir", pdir)
    assert listed.stdout.split() == ["clitest"]
    shown = cli("schema", "show", "clitest", "--pipelines-dir", pdir)
    assert shown.returncode == 0, shown.stderr
    assert "user_name" in shown.stdout and "primary key" in shown.stdout and "users__tags" in shown.stdout
    as_json = json.loads(cli("schema", "show", "clitest", "--pipelines-dir", pdir, "--format", "json").stdout)
    assert as_json[0]["tables"][0]["name"] == "users"


def test_usage_errors_exit_2() -> None:
    out = cli("pipeline", "bogus")
    assert out.returncode == 2
    assert "No such command" in out.stderr


def test_unknown_pipeline_fails_with_a_hint(tmp_path: Path) -> None:
    out = cli("pipeline", "info", "nope", "--pipelines-dir", str(tmp_path))
    assert out.returncode == 1
    assert "no pipeline 'nope'" in out.stderr and "hint:" in out.stderr


def test_default_pipelines_dir_follows_headwater_home(tmp_path: Path) -> None:
    import headwater as hw

    hw.pipeline("homed", progress=False).run([{"a": 1}], table_name="t")
    out = cli("pipeline", "list")
    assert "homed" in out.stdout.split()


def test_state_reset_and_drop(make_pipeline: Any, tmp_path: Path) -> None:
    import headwater as hw

    data = [{"id": i, "ts": i} for i in range(5)]

    @hw.resource(primary_key="id")
    def items(cursor=hw.incremental("ts")):
        st = hw.state()
        st["runs"] = st.get("runs", 0) + 1
        yield [r for r in data if r["ts"] >= cursor.start_value] if cursor.start_value is not None else data

    p = make_pipeline("stateful")
    p.run(items)
    pdir = str(tmp_path / "pipelines")
    shown = cli("pipeline", "state", "stateful", "--pipelines-dir", pdir)
    assert shown.returncode == 0, shown.stderr
    assert "items" in shown.stdout and "ts" in shown.stdout and "4" in shown.stdout and "runs" in shown.stdout
    as_json = json.loads(cli("pipeline", "state", "stateful", "--pipelines-dir", pdir, "--json").stdout)
    assert as_json["sources"]["stateful"]["incremental"]["items"]["ts"]["last_value"] == 4

    # without --yes the command asks; answering no changes nothing
    refused = subprocess.run(
        [str(Path(sys.executable).parent / "headwater"), "pipeline", "reset", "stateful", "--pipelines-dir", pdir],
        input="n\n",
        capture_output=True,
        text=True,
        env=env_with_path(),
        timeout=120,
    )
    assert refused.returncode == 1 and "Reset the state" in refused.stdout
    assert p.state.incremental_state("stateful", "items") != {}
    reset = cli("pipeline", "reset", "stateful", "--resource", "items", "--yes", "--pipelines-dir", pdir)
    assert reset.returncode == 0, reset.stderr
    assert "reset: stateful.items" in reset.stdout
    assert p.state.incremental_state("stateful", "items") == {}
    # the reset is committed to the destination too: a new machine does not bring the cursor back
    assert p.run(items).table_rows() == {"items": 5}

    dropped = cli("pipeline", "drop", "stateful", "--yes", "--pipelines-dir", pdir)
    assert dropped.returncode == 0, dropped.stderr
    import duckdb

    con = duckdb.connect(str(tmp_path / "stateful.duckdb"), read_only=True)
    con.execute("select table_name from duckdb_tables() where schema_name = 'raw' order by 1")
    assert [r[0] for r in con.fetchall()] == ["_hw_loads", "_hw_runs", "_hw_schemas", "_hw_state"]
    con.execute("select count(*) from raw._hw_state")
    assert con.fetchall()[0][0] == 0
    con.execute("select count(*) from raw._hw_runs")  # the pipeline's runs went with it
    assert con.fetchall()[0][0] == 0
    con.close()
    assert not (tmp_path / "pipelines" / "stateful").exists()
