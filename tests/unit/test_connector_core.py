"""What Singer taps and Airbyte connectors share: the connector process, JSON Schema hints, and
finding or installing a connector (headwater.sources.connector)."""

from __future__ import annotations

import gc
import logging
import stat
import sys
import time
from pathlib import Path

import pytest

from headwater.errors import ConfigError, SourceError
from headwater.sources.collector import GC_THRESHOLD
from headwater.sources.connector.env import resolve
from headwater.sources.connector.jsonschema import column_hints
from headwater.sources.connector.process import ConnectorError, ConnectorProcess, parse_lines


def script(tmp_path: Path, body: str) -> list[str]:
    path = tmp_path / "connector.py"
    path.write_text("import sys, json\n" + body)
    return [sys.executable, str(path)]


# -- the process -----------------------------------------------------------------------------------
def test_messages_come_in_order_in_batches_and_non_json_lines_are_skipped(tmp_path: Path) -> None:
    body = """
for i in range(200_000):
    print(json.dumps({"type": "RECORD", "i": i}))
print("not json")
print("[1, 2]")
print(json.dumps({"type": "STATE", "value": 1}), end="")
"""
    proc = ConnectorProcess(script(tmp_path, body), name="t")
    batches = list(proc.messages())
    flat = [m for b in batches for m in b]
    assert len(batches) > 1  # 6 MB, more than one stretch of stdout: parsed in bulk per stretch
    assert [m["i"] for m in flat[:-1]] == list(range(200_000))
    assert flat[-1] == {"type": "STATE", "value": 1}  # a last line without a newline is read too
    assert proc.skipped == 2


def test_a_failure_raises_with_exit_code_and_stderr_tail_after_the_messages_before(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    body = """
print(json.dumps({"type": "RECORD", "n": 1}), flush=True)
for i in range(30):
    print(f"line {i} password=hunter22", file=sys.stderr)
sys.exit(7)
"""
    proc = ConnectorProcess(script(tmp_path, body), name="tap-x", secrets=["hunter22"])
    got: list[dict[str, object]] = []

    def consume() -> None:
        for batch in proc.messages():
            got.extend(batch)

    with caplog.at_level(logging.INFO, logger="headwater.connector.tap-x"), pytest.raises(ConnectorError) as err:
        consume()
    assert got == [{"type": "RECORD", "n": 1}]  # yielded before the error
    assert err.value.exit_code == 7
    assert err.value.stderr[-1] == "line 29 password=***" and len(err.value.stderr) == 20
    assert "tap-x exited with code 7" in str(err.value) and "hunter22" not in str(err.value)
    assert "line 0 password=***" in caplog.text and "hunter22" not in caplog.text  # stderr logged, redacted


def test_the_connector_writes_ahead_while_headwater_is_busy(tmp_path: Path) -> None:
    """Its stdout is read on a thread: a connector writing 8 MB finishes while the consumer still holds
    the first batch (without the read-ahead it would wait on a full pipe until the consumer reads)."""
    done = tmp_path / "done"
    body = f"""
line = json.dumps({{"type": "RECORD", "pad": "x" * 1000}}) + "\\n"
for i in range(8000):
    sys.stdout.write(line)
sys.stdout.flush()
open({str(done)!r}, "w").close()
"""
    messages = ConnectorProcess(script(tmp_path, body), name="t").messages()
    first = next(messages)
    deadline = time.monotonic() + 30
    while not done.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert done.exists(), "the connector was blocked until Headwater read its output"
    assert len(first) + sum(len(b) for b in messages) == 8000


def test_the_collector_is_held_back_while_messages_stream_in_and_restored_after(tmp_path: Path) -> None:
    before = gc.get_threshold()
    body = 'for i in range(100_000):\n    print(json.dumps({"type": "RECORD", "i": i}))\n'
    messages = ConnectorProcess(script(tmp_path, body), name="t").messages()
    next(messages)
    assert gc.get_threshold()[0] >= GC_THRESHOLD
    messages.close()  # stopped early
    assert gc.get_threshold() == before
    assert sum(len(b) for b in ConnectorProcess(script(tmp_path, body), name="t").messages()) == 100_000
    assert gc.get_threshold() == before


def test_run_and_output_and_a_command_that_cannot_start(tmp_path: Path) -> None:
    proc = ConnectorProcess(script(tmp_path, 'print(json.dumps({"a": 1}, indent=2))'), name="t")
    assert proc.output().decode().startswith("{\n")  # a multi-line document as it is
    assert ConnectorProcess(script(tmp_path, "print('{\"a\": 1}')"), name="t").run() == [{"a": 1}]
    with pytest.raises(ConnectorError, match="could not start t"):
        ConnectorProcess([str(tmp_path / "missing")], name="t").run()


def test_closing_the_generator_early_stops_the_process(tmp_path: Path) -> None:
    body = "import time\nwhile True:\n    print(json.dumps({'x': 1}), flush=True)\n    time.sleep(0.01)\n"
    proc = ConnectorProcess(script(tmp_path, body), name="t")
    gen = proc.messages()
    next(gen)
    gen.close()
    assert proc._proc is not None and proc._proc.poll() is not None


def test_parse_lines_in_bulk_and_one_by_one() -> None:
    skipped: list[bytes] = []
    assert parse_lines([b'{"a": 1}', b"", b'{"b": 2}'], skipped.append) == [{"a": 1}, {"b": 2}]
    assert parse_lines([b'{"a": 1}', b"oops", b"3"], skipped.append) == [{"a": 1}]
    assert skipped == [b"oops", b"3"]


# -- JSON Schema -----------------------------------------------------------------------------------
def test_column_hints_from_json_schema() -> None:
    schema = {
        "type": "object",
        "properties": {
            "id": {"type": ["null", "integer"]},
            "at": {"type": "string", "format": "date-time"},
            "day": {"type": ["string", "null"], "format": "date"},
            "price": {"type": "number", "multipleOf": 0.01},
            "ratio": {"type": "number"},
            "ok": {"type": "boolean"},
            "name": {"anyOf": [{"type": "null"}, {"type": "string"}]},
            "address": {"type": "object", "properties": {"city": {"type": "string"}, "geo": {"type": "object"}}},
            "tags": {"type": "array", "items": {"type": "string"}},
            "mixed": {"type": ["string", "integer"]},
            "free": {"type": ["object", "null"], "additionalProperties": True},
        },
    }
    assert column_hints(schema) == {
        "id": "bigint",
        "at": "timestamp",
        "day": "date",
        "price": "decimal(38,2)",
        "ratio": "double",
        "ok": "bool",
        "name": "text",
        "address__city": "text",
    }  # lists, mixed types and free-form objects are left to the normalizer


def test_column_hints_stop_at_max_depth() -> None:
    deep = {"properties": {"a": {"type": "object", "properties": {"b": {"type": "object", "properties": {}}}}}}
    assert column_hints(deep, max_depth=0) == {"a": "json"}
    assert column_hints({"properties": "nonsense"}) == {}


# -- finding and installing a connector ------------------------------------------------------------
def test_resolve_refuses_a_path_that_is_not_executable(tmp_path: Path) -> None:
    plain = tmp_path / "tap-plain"
    plain.write_text("#!/bin/sh\n")
    with pytest.raises(ConfigError, match="is not an executable file") as err:
        resolve(str(plain), what="Singer tap")
    assert "pip requirement" in (err.value.hint or "")
    plain.chmod(plain.stat().st_mode | stat.S_IXUSR)
    found = resolve(str(plain))
    assert found.argv == (str(plain.resolve()),) and found.origin == "path"
    with pytest.raises(ConfigError, match="needs an executable"):
        resolve("  ")


def test_resolve_an_install_that_fails_says_so_with_the_installers_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEADWATER_CONNECTORS_DIR", str(tmp_path / "cache"))
    missing = tmp_path / "no-such-project"
    with pytest.raises(SourceError, match="installing Singer tap 'tap-nothing @ file://") as err:
        resolve(f"tap-nothing @ {missing.as_uri()}", what="Singer tap")
    assert "no-such-project" in str(err.value)  # the installer's own words
    assert "check the requirement's name and version" in (err.value.hint or "")
    assert [p.name for p in (tmp_path / "cache").iterdir() if not p.name.endswith(".lock")] == []  # no half env


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_a_batch_file_is_read_at_once_and_a_line_that_is_not_json_names_the_file(
    tmp_path: Path, compression: str
) -> None:
    import gzip

    from headwater.sources.singer.messages import read_batch_file

    def write(name: str, text: str) -> str:
        data = text.encode()
        path = tmp_path / name
        path.write_bytes(gzip.compress(data) if compression == "gzip" else data)
        return path.as_uri()

    good = write("good.jsonl", '{"id": 1, "tags": ["a"]}\n\n{"id": 2}\n')
    assert read_batch_file(good, {"compression": compression}, "users") == [{"id": 1, "tags": ["a"]}, {"id": 2}]
    bad = write("bad.jsonl", '{"id": 1}\nnot json\n')
    with pytest.raises(SourceError, match=r"bad\.jsonl.* is not JSON lines: 'not json'"):
        read_batch_file(bad, {"compression": compression}, "users")
