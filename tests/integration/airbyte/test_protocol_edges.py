"""Protocol edges real connectors do not produce on demand, with a connector written as a script (a real
executable given by path, speaking the protocol): an exit with an error after a STATE message, the
GLOBAL state, a stream's records on both sides of a state."""

from __future__ import annotations

import io
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import headwater as hw
from headwater.pipelines.logsetup import logging_configured
from headwater.sources.connector.process import ConnectorError
from tests.integration.airbyte.conftest import query

SCRIPT = r"""#!{python}
import json, os, sys
here = os.path.dirname(os.path.abspath(__file__))
command = sys.argv[1]
args = dict(zip(sys.argv[2::2], sys.argv[3::2]))
def out(m): print(json.dumps(m), flush=True)
schema = {{"type": "object", "properties": {{"id": {{"type": "integer"}}}}}}
if command == "spec":
    out({{"type": "SPEC", "spec": {{"connectionSpecification": {{"type": "object", "required": ["n"],
        "properties": {{"n": {{"type": "integer"}}, "crash": {{"type": "boolean"}}}}}}}}}})
elif command == "check":
    if json.load(open(args["--config"])).get("bad"):
        out({{"type": "TRACE", "trace": {{"type": "ERROR", "emitted_at": 0, "error": {{"message": "n is too big",
            "internal_message": "ValueError: n > 10", "failure_type": "config_error"}}}}}})
        sys.exit(1)
    out({{"type": "CONNECTION_STATUS", "connectionStatus": {{"status": "SUCCEEDED"}}}})
elif command == "discover":
    streams = [{{"name": "ticks", "json_schema": schema, "supported_sync_modes": ["incremental"],
        "source_defined_cursor": True, "default_cursor_field": ["id"], "source_defined_primary_key": [["id"]]}}]
    if "snap" in json.load(open(args["--config"])):
        streams.append({{"name": "snap", "json_schema": schema, "supported_sync_modes": ["full_refresh"]}})
    out({{"type": "CATALOG", "catalog": {{"streams": streams}}}})
else:
    config = json.load(open(args["--config"]))
    given = json.load(open(args["--state"])) if "--state" in args else None
    with open(os.path.join(here, "states.jsonl"), "a") as f:
        f.write(json.dumps(given) + "\n")
    start = given[0]["global"]["shared_state"]["last"] if given else 0
    with open(os.path.join(here, "configs.jsonl"), "a") as f:
        f.write(json.dumps(config) + "\n")
    if config.get("rotate"):
        out({{"type": "CONTROL", "control": {{"type": "CONNECTOR_CONFIG", "emitted_at": 0,
            "connectorConfig": {{"config": {{**config, "refresh_token": "r0tated-t0ken-99"}}}}}}}})
    for i in range(start + 1, start + config["n"] + 1):
        out({{"type": "RECORD", "record": {{"stream": "ticks", "data": {{"id": i}}, "emitted_at": 0}}}})
        if i == start + 2:
            out({{"type": "STATE", "state": {{"type": "GLOBAL", "global": {{"shared_state": {{"last": i}},
                "stream_states": []}}}}}})
    for i in range(config.get("snap", 0)):
        out({{"type": "RECORD", "record": {{"stream": "snap", "data": {{"id": i}}, "emitted_at": 0}}}})
    if config.get("crash"):
        print("disk on fire", file=sys.stderr)
        sys.exit(3)
    out({{"type": "STATE", "state": {{"type": "GLOBAL", "global": {{"shared_state": {{"last": start + config["n"]}},
        "stream_states": []}}}}}})
"""


@pytest.fixture
def connector(tmp_path: Path) -> Path:
    path = tmp_path / "bin" / "source-ticks"
    path.parent.mkdir()
    path.write_text(SCRIPT.format(python=sys.executable))
    os.chmod(path, 0o755)
    return path


def states(connector: Path) -> list[Any]:
    return [json.loads(line) for line in (connector.parent / "states.jsonl").read_text().splitlines()]


def test_a_crash_after_a_state_keeps_the_rows_and_the_next_run_starts_from_the_committed_state(
    connector: Path, make_pipeline: Callable[[str], Any]
) -> None:
    p = make_pipeline("ticks")
    crashing = hw.sources.airbyte(str(connector), config={"n": 4, "crash": True})
    with pytest.raises(ConnectorError, match="exited with code 3") as info:
        p.run(crashing)
    assert "disk on fire" in str(info.value) and "4 rows extracted before the failure are kept" in str(info.value)
    assert info.value.exit_code == 3  # the error that says where the rows are kept still has the exit code
    assert getattr(info.value.__cause__, "exit_code", None) == 3  # the connector's error, as it was raised
    assert "ticks" not in p.dataset().tables()
    # the state after row 2 travelled with the rows in the partial package; nothing was committed
    source = hw.sources.airbyte(str(connector), config={"n": 4})
    assert p.run(source).table_rows() == {"ticks": 4}
    assert states(connector)[-1] is None  # the rerun started from the beginning: no --state
    assert p.run(source).table_rows() == {"ticks": 4}
    assert states(connector)[-1] == [
        {"type": "GLOBAL", "global": {"shared_state": {"last": 4}, "stream_states": []}}
    ]  # the GLOBAL state came back as the protocol's list of state messages
    assert query(p, "select min(id) as lo, max(id) as hi from raw.ticks") == [{"lo": 1, "hi": 8}]


def test_the_required_config_key_is_checked_against_the_spec(connector: Path) -> None:
    with pytest.raises(hw.errors.ConfigError, match="lacks the required key\\(s\\) 'n'"):
        hw.sources.airbyte(str(connector), config={"m": 4})


def test_a_check_that_reports_a_trace_error_and_exits_gives_the_connectors_message(connector: Path) -> None:
    with pytest.raises(hw.sources.airbyte.AirbyteError) as info:
        hw.sources.airbyte(str(connector), config={"n": 40, "bad": True})
    text = str(info.value)
    assert "check failed: n is too big (ValueError: n > 10) [failure_type=config_error]" in text
    assert info.value.hint == "fix the connector's config and run again"
    assert isinstance(info.value.__cause__, ConnectorError)  # it exited with 1 after saying why


def test_a_config_the_connector_updates_is_used_by_the_next_read_and_the_user_is_told(
    connector: Path, make_pipeline: Callable[[str], Any], caplog: pytest.LogCaptureFixture
) -> None:
    source = hw.sources.airbyte(str(connector), config={"n": 1, "rotate": True, "refresh_token": "old-t0ken-11"})
    p = make_pipeline("ticks")
    with caplog.at_level(logging.WARNING, logger="headwater.connector"):
        p.run(source)
    assert "updated its config" in caplog.text and "r0tated-t0ken-99" not in caplog.text  # a secret
    p.run(source)
    configs = [json.loads(line) for line in (connector.parent / "configs.jsonl").read_text().splitlines()]
    assert [c["refresh_token"] for c in configs] == ["old-t0ken-11", "r0tated-t0ken-99"]


def test_a_full_refresh_stream_that_brings_no_rows_empties_its_table(
    connector: Path, make_pipeline: Callable[[str], Any]
) -> None:
    p = make_pipeline("ticks")
    p.run(hw.sources.airbyte(str(connector), config={"n": 1, "snap": 3}))
    assert query(p, "select count(*) as n from raw.snap") == [{"n": 3}]
    p.run(hw.sources.airbyte(str(connector), config={"n": 1, "snap": 0}))
    assert query(p, "select count(*) as n from raw.snap") == [{"n": 0}]  # replaced by nothing
    assert query(p, "select count(*) as n from raw.ticks") == [{"n": 2}]  # the incremental stream appended


def test_each_stream_read_leaves_an_access_record_even_when_the_connector_crashes(
    connector: Path, make_pipeline: Callable[[str], Any]
) -> None:
    p = make_pipeline("ticks_access")
    stream = io.StringIO()
    with logging_configured("INFO", "json", stream=stream):
        p.run(hw.sources.airbyte(str(connector), config={"n": 3, "snap": 2}))
        with pytest.raises(ConnectorError):
            p.run(hw.sources.airbyte(str(connector), config={"n": 4, "crash": True}))
    access = [json.loads(x)["access"] for x in stream.getvalue().splitlines() if '"headwater.access"' in x]
    assert [(a["what"], a["rows"]) for a in access] == [
        ("stream 'ticks' of ticks", 3),
        ("stream 'snap' of ticks", 2),
        ("stream 'ticks' of ticks", 4),
    ]
    assert all(a["source"] == "airbyte" and a["url"] == str(connector) and a["host"] == "localhost" for a in access)
