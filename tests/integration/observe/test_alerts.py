"""Alert hooks on real runs: a webhook on a real HTTP server on 127.0.0.1, callables, hooks that break,
a webhook that is down, and a flows file whose on_failure points to the server."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import headwater as hw
from headwater.cli import main
from headwater.errors import ExtractError
from tests.apiserver import APIServer, Reply, Request
from tests.servers import free_port


@pytest.fixture
def hooks_server() -> Iterator[APIServer]:
    with APIServer() as server:

        @server.route("/hook", "POST")
        def hook(req: Request) -> Reply:
            return Reply(204)

        yield server


def failing() -> Iterator[dict[str, Any]]:
    yield {"id": 1}
    raise RuntimeError("the API went away")


def summaries(server: APIServer) -> list[dict[str, Any]]:
    calls = server.calls("/hook")
    assert all(c.headers.get("content-type") == "application/json" for c in calls)
    return [c.json() for c in calls]


def test_a_webhook_gets_the_failed_run_with_its_error_and_the_successful_run_with_its_info(
    hooks_server: APIServer, tmp_path: Path
) -> None:
    url = f"{hooks_server.url}/hook"
    p = hw.pipeline("alerted", dataset="raw", pipelines_dir=tmp_path / "p", on_failure=url, on_success=url)
    with pytest.raises(ExtractError, match="the API went away"):
        p.run(hw.resource(failing, name="events"))
    info = p.run([{"id": 1, "tags": ["a", "b"]}], table_name="items")
    failed, done = summaries(hooks_server)
    assert failed["status"] == "failed" and failed["pipeline"] == "alerted" and failed["kind"] == "run"
    assert failed["error"]["type"] == "ExtractError" and "the API went away" in failed["error"]["message"]
    assert "drop it then" in failed["error"]["hint"]  # the hint of a partial package, as the error says it
    assert failed["run_id"] < done["run_id"] and failed["started_at"] <= failed["ended_at"]
    assert done["status"] == "completed" and done["error"] is None and done["load_ids"] == [info.load_id]
    assert done["info"]["loads"][0]["tables"]["items__tags"]["rows"] == 2
    assert done["dataset"] == "raw" and done["seconds"] >= 0


def test_callable_hooks_get_the_summary_and_a_broken_hook_changes_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[dict[str, Any]] = []

    def broken(summary: dict[str, Any]) -> None:
        raise ValueError("the pager is down too")

    p = hw.pipeline("hooked", dataset="raw", pipelines_dir=tmp_path / "p", on_failure=broken, on_success=seen.append)
    info = p.run([{"id": 1}], table_name="items")
    assert info.rows == 1 and [s["status"] for s in seen] == ["completed"]
    assert seen[0]["run_id"] and seen[0]["info"]["pipeline"] == "hooked"
    with caplog.at_level(logging.WARNING, logger="headwater"), pytest.raises(ExtractError, match="went away"):
        p.run(hw.resource(failing, name="events"))  # the run's own error, not the hook's
    warned = [r.getMessage() for r in caplog.records if r.name == "headwater.alerts"]
    assert len(warned) == 1 and "on_failure hook" in warned[0] and "the pager is down too" in warned[0]
    load_id = p.extract([{"id": 2}], table_name="items")
    assert seen[-1]["kind"] == "extract" and seen[-1]["load_ids"] == [load_id] and seen[-1]["info"] is None


def test_a_webhook_that_is_down_is_logged_and_the_run_still_succeeds_or_fails_as_it_did(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"http://127.0.0.1:{free_port()}/hook?token=hook-secret-123"
    p = hw.pipeline("unheard", dataset="raw", pipelines_dir=tmp_path / "p", on_failure=url, on_success=url)
    with caplog.at_level(logging.WARNING, logger="headwater"):
        assert p.run([{"id": 1}], table_name="items").rows == 1
        with pytest.raises(ExtractError, match="went away"):
            p.run(hw.resource(failing, name="events"))
    warned = [r.getMessage() for r in caplog.records if r.name == "headwater.alerts"]
    assert len(warned) == 2 and "on_success hook" in warned[0] and "on_failure hook" in warned[1]
    assert all("no attempt of 2 succeeded" in w and "ConnectError" in w for w in warned)
    assert all("hook-secret-123" not in w and "token=***" in w for w in warned)


def test_a_flows_file_sends_a_failed_flow_to_its_on_failure_webhook_and_names_a_python_on_success(
    hooks_server: APIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv").write_text("id,name\n1,x\n2,y\n")
    (tmp_path / "my_alerts.py").write_text(
        "import json, pathlib\n\n"
        "def notify(summary):\n"
        "    pathlib.Path('notified.json').write_text(json.dumps(summary))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "flows.toml").write_text(
        f"""
[sources.files]
type = "filesystem"
config = {{ url = "{tmp_path / "in"}", glob = "*.csv" }}

[sources.nothing]
type = "filesystem"
config = {{ url = "{tmp_path / "in"}", glob = "*.parquet", required = true }}

[destinations.wh]
type = "duckdb"
config = {{ path = "{tmp_path / "wh.duckdb"}" }}

[[flows]]
name = "good"
from = "files"
to = "wh"
pipeline = {{ on_success = "my_alerts:notify", on_failure = "{hooks_server.url}/hook" }}

[[flows]]
name = "broken"
from = "nothing"
to = "wh"
pipeline = {{ on_failure = "{hooks_server.url}/hook" }}
"""
    )
    code = main(["run", str(tmp_path / "flows.toml"), "--pipelines-dir", str(tmp_path / "p")])
    assert code == 1  # one flow failed
    (failed,) = summaries(hooks_server)
    assert failed["pipeline"] == "broken" and failed["status"] == "failed"
    assert failed["error"]["type"] == "SourceError" and "no file matches" in failed["error"]["message"]
    notified = json.loads((tmp_path / "notified.json").read_text())
    assert notified["pipeline"] == "good" and notified["status"] == "completed"
    assert notified["info"]["loads"][0]["tables"]["in"]["rows"] == 2  # the stream is named after the folder


def test_flows_refuse_a_hook_that_is_neither_a_url_nor_a_function(tmp_path: Path) -> None:
    from headwater.flows import load
    from headwater.flows.reader import FlowsError

    raw = {
        "sources": {"s": {"type": "filesystem", "config": {"url": str(tmp_path)}}},
        "destinations": {"d": {"type": "duckdb"}},
        "flows": [{"name": "f", "from": "s", "to": "d", "pipeline": {"on_failure": "mail me", "on_sucess": print}}],
    }
    with pytest.raises(FlowsError) as err:
        load(raw)
    text = str(err.value)
    assert "flows[0].pipeline.on_failure" in text and "expected a webhook URL" in text
    assert "did you mean 'on_success'" in text
    raw["flows"][0]["pipeline"] = {"on_failure": "no_such_module_xyz:notify"}
    with pytest.raises(FlowsError, match="cannot import 'no_such_module_xyz'"):
        load(raw).build()
    assert sys.modules.get("no_such_module_xyz") is None
