"""The command line as a new user meets it: help that shows flags as flags, load ids shown whole,
wrong names refused with a "did you mean", and waiting packages listed and dropped."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import headwater as hw
from headwater.cli.app import build_app
from tests.conftest import env_with_path

COMMANDS = [
    [],
    ["pipeline"],
    ["pipeline", "list"],
    ["pipeline", "info"],
    ["pipeline", "state"],
    ["pipeline", "reset"],
    ["pipeline", "drop-pending"],
    ["pipeline", "drop"],
    ["schema"],
    ["schema", "show"],
    ["dashboard"],
]


def cli(*args: str, columns: int = 200, answer: str = "") -> subprocess.CompletedProcess[str]:
    env = env_with_path()
    env["COLUMNS"] = str(columns)
    exe = str(Path(sys.executable).parent / "headwater")
    return subprocess.run([exe, *args], input=answer, capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "headwater")
def test_every_help_shows_flags_as_flags(command: list[str]) -> None:
    out = CliRunner().invoke(build_app(), [*command, "--help"], env={"COLUMNS": "100"})
    assert out.exit_code == 0, out.output
    text = out.output
    assert "<bool>" not in text and "BOOLEAN" not in text, text
    assert re.search(r"^\s+--help\s+Show this message", text, re.MULTILINE), text
    if command in (["pipeline", "info"], ["pipeline", "state"]):
        assert re.search(r"^\s+--json\s+print", text, re.MULTILINE), text
    if command in (["pipeline", "reset"], ["pipeline", "drop"], ["pipeline", "drop-pending"]):
        assert re.search(r"^\s+-y, --yes\s+do not ask", text, re.MULTILINE), text
    if command == ["pipeline", "drop-pending"]:
        assert "--load-id LOAD_ID" in text
    if command == ["dashboard"]:
        assert re.search(r"^\s+--no-browser\s+do not open", text, re.MULTILINE), text
        assert "--port PORT" in text and "[NAME]..." in text


def failing_items(fail: bool) -> Any:
    @hw.resource(primary_key="id", name="items")
    def items(cursor: Any = hw.incremental("id")) -> Any:
        yield [{"id": i} for i in range(5)]
        if fail:
            raise ConnectionError("reset by peer")
        yield [{"id": i} for i in range(5, 8)]

    return items()


def test_info_shows_whole_load_ids_and_the_packages_waiting(make_pipeline: Any, tmp_path: Path) -> None:
    p = make_pipeline("infotest")
    with pytest.raises(hw.errors.ExtractError):
        p.run(failing_items(fail=True))
    (partial,) = [x.load_id for x in p.pending_packages()]
    loaded = p.run(failing_items(fail=False)).load_id
    pdir = str(tmp_path / "pipelines")

    for columns in (200, 50):  # a narrow terminal must not cut ids
        out = cli("pipeline", "info", "infotest", "--pipelines-dir", pdir, columns=columns)
        assert out.returncode == 0, out.stderr
        assert loaded in out.stdout and partial in out.stdout
    assert "partial" in out.stdout and "stale" in out.stdout and "drop-pending infotest" in out.stdout

    data = json.loads(cli("pipeline", "info", "infotest", "--pipelines-dir", pdir, "--json").stdout)
    (waiting,) = data["pending_packages"]
    assert waiting["load_id"] == partial and waiting["status"] == "partial" and waiting["stale"]
    assert [load["load_id"] for load in data["loads"]] == [loaded]

    # the command info prints drops it; without --yes it asks first
    refused = cli("pipeline", "drop-pending", "infotest", "--pipelines-dir", pdir, answer="n\n")
    assert refused.returncode == 1 and p.pending_packages() != []
    done = cli("pipeline", "drop-pending", "infotest", "--load-id", partial, "--pipelines-dir", pdir, answer="y\n")
    assert done.returncode == 0, done.stderr
    assert p.pending_packages() == []
    assert "no packages waiting" in cli("pipeline", "drop-pending", "infotest", "--pipelines-dir", pdir).stdout


def test_a_wrong_resource_name_fails_with_a_did_you_mean(make_pipeline: Any, tmp_path: Path) -> None:
    p = make_pipeline("resetting")
    p.run(failing_items(fail=False))
    pdir = str(tmp_path / "pipelines")
    for extra in (["--yes"], []):  # refused before the question is asked
        out = cli("pipeline", "reset", "resetting", "--resource", "itemz", *extra, "--pipelines-dir", pdir)
        assert out.returncode == 1, out
        assert "no resource 'itemz'; did you mean 'items'?" in out.stderr
        assert "nothing to reset" not in out.stdout and "Reset the state" not in out.stdout
    assert p.state.incremental_state("resetting", "items") != {}
    with pytest.raises(hw.errors.ConfigError, match="did you mean 'items'"):
        p.reset_state("itemz")
    version = p.state.version
    ok = cli("pipeline", "reset", "resetting", "--resource", "items", "--yes", "--pipelines-dir", pdir)
    assert ok.returncode == 0 and ok.stdout.strip() == "reset: resetting.items", ok
    assert p.state.version == version + 1


def test_a_wrong_pipeline_or_load_id_fails_with_a_did_you_mean(make_pipeline: Any, tmp_path: Path) -> None:
    p = make_pipeline("typo_target")
    p.extract(failing_items(fail=False))
    pdir = str(tmp_path / "pipelines")
    out = cli("pipeline", "info", "typo_targe", "--pipelines-dir", pdir)
    assert out.returncode == 1 and "did you mean 'typo_target'" in out.stderr
    (waiting,) = [x.load_id for x in p.pending_packages()]
    wrong = waiting[:-3] + "99Z"
    out = cli("pipeline", "drop-pending", "typo_target", "--load-id", wrong, "--yes", "--pipelines-dir", pdir)
    assert out.returncode == 1 and f"did you mean {waiting!r}" in out.stderr
    assert [x.load_id for x in p.pending_packages()] == [waiting]
