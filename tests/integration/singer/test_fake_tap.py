"""Edge cases of the Singer source, with fake taps: small scripts that write Singer messages."""

from __future__ import annotations

import gzip
import io
import json
import sys
import time
from pathlib import Path

import pytest

import headwater as hw
from headwater.errors import ConfigError
from headwater.pipelines.logsetup import logging_configured
from headwater.sources.connector.process import ConnectorError
from tests.integration.singer.conftest import fake_tap, make, rows, stream

USERS = stream("users", ["id"], id="integer", name="string")
EVENTS = stream("events", None, id="integer", kind="string")


def test_a_failing_tap_names_its_exit_code_and_stderr_and_keeps_the_rows_before(tmp_path: Path) -> None:
    body = """
emit(type="SCHEMA", stream="users", schema=CATALOG["streams"][0]["schema"], key_properties=["id"])
for i in range(5):
    emit(type="RECORD", stream="users", record={"id": i, "name": f"u{i}"})
emit(type="STATE", value={"users": 4})
print("token rejected: s3cr3t-token-value", file=sys.stderr)
sys.exit(3)
"""
    tap = fake_tap(tmp_path, body, [USERS])
    p = make(tmp_path)
    source = hw.sources.singer(tap, config={"token": "s3cr3t-token-value"})
    with pytest.raises(ConnectorError) as err:
        p.run(source)
    text = str(err.value)
    assert "tap-fake exited with code 3" in text and "token rejected" in text
    assert "s3cr3t-token-value" not in text  # the config's values are secrets
    assert err.value.exit_code == 3 and err.value.stderr == ["token rejected: ***"]  # kept through keep_partial
    cause = err.value.__cause__
    assert isinstance(cause, ConnectorError) and cause.exit_code == 3
    assert "5 rows extracted before the failure are kept" in str(err.value)
    info = p.run()  # the partial package is not loaded on its own: the state did not advance
    assert info.loads == [] and len(info.kept_partial) == 1
    assert p.load(include_partial=True).table_rows() == {"users": 5}


def test_lines_that_are_not_json_are_skipped_and_records_land(tmp_path: Path) -> None:
    body = """
print("INFO starting the tap (a log line on stdout)", flush=True)
emit(type="SCHEMA", stream="users", schema=CATALOG["streams"][0]["schema"], key_properties=["id"])
emit(type="RECORD", stream="users", record={"id": 1, "name": "a"})
print("{not json", flush=True)
emit(type="RECORD", stream="users", record={"id": 2, "name": "b"})
"""
    p = make(tmp_path)
    info = p.run(hw.sources.singer(fake_tap(tmp_path, body, [USERS])))
    assert info.table_rows() == {"users": 2}
    assert rows(tmp_path, "select id, name from d.users order by id") == [(1, "a"), (2, "b")]


def test_state_is_saved_after_the_records_before_it_and_passed_back(tmp_path: Path) -> None:
    body = """
seen = (state or {}).get("last", 0)
emit(type="SCHEMA", stream="events", schema=CATALOG["streams"][0]["schema"], key_properties=[])
for i in range(seen + 1, seen + 4):
    emit(type="RECORD", stream="events", record={"id": i, "kind": "k"})
emit(type="STATE", value={"last": seen + 3})
"""
    tap = fake_tap(tmp_path, body, [EVENTS])
    p = make(tmp_path)
    p.run(hw.sources.singer(tap, state={"last": 10}))  # the first run starts from the state given
    p.run(hw.sources.singer(tap, state={"last": 10}))  # the second where the first one's state said
    assert rows(tmp_path, "select id from d.events order by id") == [(i,) for i in range(11, 17)]
    assert p.state.resource_state("tap_fake", "tap_fake")["singer_state"] == {"last": 16}


def test_activate_version_replaces_the_table(tmp_path: Path) -> None:
    body = """
n = int(os.environ["ROWS"])
emit(type="SCHEMA", stream="events", schema=CATALOG["streams"][0]["schema"], key_properties=[])
emit(type="ACTIVATE_VERSION", stream="events", version=n)
for i in range(n):
    emit(type="RECORD", stream="events", record={"id": i, "kind": "full"}, version=n)
"""
    tap = fake_tap(tmp_path, body, [EVENTS])
    p = make(tmp_path)
    p.run(hw.sources.singer(tap, env={"ROWS": "5"}))
    p.run(hw.sources.singer(tap, env={"ROWS": "3"}))
    assert rows(tmp_path, "select id from d.events order by id") == [(0,), (1,), (2,)]


def test_a_batch_message_loads_its_gzip_jsonl_file(tmp_path: Path) -> None:
    batch = tmp_path / "batch-0001.jsonl.gz"
    with gzip.open(batch, "wt") as handle:
        for i in range(1000):
            handle.write(json.dumps({"id": i, "name": f"u{i}", "tags": ["a", "b"]}) + "\n")
    body = f"""
emit(type="SCHEMA", stream="users", schema=CATALOG["streams"][0]["schema"], key_properties=["id"])
emit(type="RECORD", stream="users", record={{"id": 5000, "name": "by record"}})
emit(type="BATCH", stream="users", encoding={{"format": "jsonl", "compression": "gzip"}},
     manifest=[{batch.as_uri()!r}])
"""
    p = make(tmp_path)
    info = p.run(hw.sources.singer(fake_tap(tmp_path, body, [USERS])))
    assert info.table_rows() == {"users": 1001, "users__tags": 2000}
    assert rows(tmp_path, "select name from d.users where id = 999") == [("u999",)]


def test_a_schema_message_at_run_time_changes_the_hints(tmp_path: Path) -> None:
    body = """
emit(type="SCHEMA", stream="users", key_properties=["id"],
     schema={"type": "object", "properties": {"id": {"type": "integer"},
                                              "at": {"type": "string", "format": "date-time"}}})
emit(type="RECORD", stream="users", record={"id": 1, "at": "2026-01-01T00:00:00Z"})
emit(type="RECORD", stream="users", record={"id": 1, "at": "2026-01-02T00:00:00Z"})
"""
    p = make(tmp_path)
    p.run(hw.sources.singer(fake_tap(tmp_path, body, [USERS])))
    assert rows(tmp_path, "select count(*) from d.users") == [(1,)]  # merged on the key of the SCHEMA message
    assert rows(
        tmp_path, "select data_type from information_schema.columns where table_name = 'users' and column_name = 'at'"
    ) == [("TIMESTAMP WITH TIME ZONE",)]


def test_parallel_runs_one_tap_per_stream_two_at_a_time(tmp_path: Path) -> None:
    body = """
import sys
import time
assert len(selected) == 1, selected  # one stream per process
name = selected[0]
open(os.path.join(os.environ["MARKS"], name + ".start"), "w").write(str(time.time()))
time.sleep(1.0)
emit(type="SCHEMA", stream=name, schema=CATALOG["streams"][0]["schema"], key_properties=[])
for i in range(10):
    emit(type="RECORD", stream=name, record={"id": i})
emit(type="STATE", value={name: 10})
open(os.path.join(os.environ["MARKS"], name + ".end"), "w").write(str(time.time()))
"""
    marks = tmp_path / "marks"
    marks.mkdir()
    tap = fake_tap(tmp_path, body, [USERS, EVENTS])
    p = make(tmp_path)
    info = p.run(hw.sources.singer(tap, parallel=2, env={"MARKS": str(marks)}))
    assert info.table_rows() == {"users": 10, "events": 10}
    times = {f.name: float(f.read_text()) for f in marks.iterdir()}
    assert max(times["users.start"], times["events.start"]) < min(times["users.end"], times["events.end"])
    assert p.state.resource_state("tap_fake", "users")["singer_state"] == {"users": 10}
    assert p.state.resource_state("tap_fake", "events")["singer_state"] == {"events": 10}


def test_a_misspelled_stream_is_refused_with_the_closest_name(tmp_path: Path) -> None:
    tap = fake_tap(tmp_path, "", [USERS, EVENTS])
    with pytest.raises(ConfigError, match="no stream 'user'") as err:
        hw.sources.singer(tap, select=["user"])
    assert "users" in str(err.value)
    with pytest.raises(ConfigError, match="no property 'nam'"):
        hw.sources.singer(tap, select={"users": ["nam"]})


def test_select_marks_the_catalog_and_only_selected_streams_load(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    body = """
(tap_catalog,) = [json.load(open(args[args.index("--catalog") + 1]))]
for s in tap_catalog["streams"]:  # a careless tap: writes every stream whatever the selection
    emit(type="SCHEMA", stream=s["stream"], schema=s["schema"], key_properties=s["key_properties"])
    emit(type="RECORD", stream=s["stream"], record={"id": 1, "name": "x", "kind": "y"})
json.dump(tap_catalog, open(os.environ["SEEN"], "w"))
"""
    seen = tmp_path / "seen.json"
    p = make(tmp_path)
    tap = fake_tap(tmp_path, body, [USERS, EVENTS])
    info = p.run(hw.sources.singer(tap, select=["users.id"], env={"SEEN": str(seen)}))
    assert info.table_rows() == {"users": 1}
    assert "records of streams that were not selected; dropped: {'events': 1}" in caplog.text
    got = {s["tap_stream_id"]: s for s in json.loads(seen.read_text())["streams"]}
    meta = {tuple(m["breadcrumb"]): m["metadata"] for m in got["users"]["metadata"]}
    assert meta[()]["selected"] is True and got["users"]["schema"]["selected"] is True
    assert meta[("properties", "id")]["selected"] is True and meta[("properties", "name")]["selected"] is False
    assert got["events"]["schema"]["selected"] is False


def test_a_bad_tap_path_and_bad_arguments_are_refused_at_once(tmp_path: Path) -> None:
    script = tmp_path / "not-executable"
    script.write_text("print()")
    with pytest.raises(ConfigError, match="is not an executable file"):
        hw.sources.singer(str(script))
    tap = fake_tap(tmp_path, "", [USERS])
    with pytest.raises(ConfigError, match="parallel"):
        hw.sources.singer(tap, parallel=0)
    with pytest.raises(ConfigError, match="not both"):
        hw.sources.singer(tap, tap_name=tap)
    with pytest.raises(ConfigError, match="JSON"):
        hw.sources.singer(tap, config={"when": time})


def test_a_catalog_file_is_used_as_given_and_a_bad_one_is_refused(tmp_path: Path) -> None:
    body = """
assert "--discover" not in args
for name in selected:
    emit(type="RECORD", stream=name, record={"id": 1})
"""
    tap = fake_tap(tmp_path, body, [])  # discovers nothing: the catalog file must be what is used
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps({"streams": [USERS, EVENTS]}))
    p = make(tmp_path)
    assert p.run(hw.sources.singer(tap, catalog=path, select=["events"])).table_rows() == {"events": 1}
    path.write_text('{"streams": {}}')
    with pytest.raises(ConfigError, match="is not a Singer catalog"):
        hw.sources.singer(tap, catalog=path)
    with pytest.raises(ConfigError, match="could not read the catalog"):
        hw.sources.singer(tap, catalog=tmp_path / "missing.json")


def test_a_tap_that_fails_to_discover_says_so_when_the_source_is_made(tmp_path: Path) -> None:
    tap = tmp_path / "tap-broken"
    tap.write_text("#!/bin/sh\necho 'config is missing the required key: api_key' >&2\nexit 2\n")
    tap.chmod(0o755)
    with pytest.raises(ConnectorError, match="exited with code 2") as err:
        hw.sources.singer(str(tap))
    assert "required key: api_key" in str(err.value)


def test_without_discovery_the_tap_runs_without_a_catalog(tmp_path: Path) -> None:
    body = """
assert catalog is None and "--catalog" not in args
emit(type="SCHEMA", stream="users", schema=CATALOG["streams"][0]["schema"], key_properties=["id"])
emit(type="RECORD", stream="users", record={"id": 1, "name": "a"})
"""
    tap = fake_tap(tmp_path, body, [USERS])
    p = make(tmp_path)
    assert p.run(hw.sources.singer(tap_name=tap, tap_auto_discover_schema=False)).table_rows() == {"users": 1}
    with pytest.raises(ConfigError, match="need a catalog"):
        hw.sources.singer(tap, discover=False, select=["users"])


def test_an_old_tap_gets_properties_and_a_catalog_after_log_lines_is_found(tmp_path: Path) -> None:
    tap = tmp_path / "tap-old"
    tap.write_text(
        f"#!{sys.executable}\nimport json, sys\nargs = sys.argv[1:]\n"
        "if '--discover' in args:\n"
        "    print('INFO discovering (a log line on stdout)')\n"
        f"    print(json.dumps({{'streams': [{USERS!r}]}}, indent=2))\n"
        "    sys.exit(0)\n"
        "assert '--catalog' not in args, args\n"
        "props = json.load(open(args[args.index('--properties') + 1]))\n"
        "assert props['streams'][0]['schema']['selected'] is True\n"
        "print(json.dumps({'type': 'RECORD', 'stream': 'users', 'record': {'id': 7}}))\n"
    )
    tap.chmod(0o755)
    p = make(tmp_path)
    info = p.run(hw.sources.singer(str(tap), catalog_flag="--properties", select=["users"]))
    assert info.table_rows() == {"users": 1}


def test_a_tap_that_does_not_take_catalog_is_run_again_with_properties(tmp_path: Path) -> None:
    body = """
import argparse
parser = argparse.ArgumentParser()
for flag in ("--config", "--properties", "--state"):
    parser.add_argument(flag)
parsed = parser.parse_args()  # exits with code 2 on --catalog: "unrecognized arguments"
props = json.load(open(parsed.properties))
emit(type="RECORD", stream="users", record={"id": len(props["streams"])})
"""
    tap = fake_tap(tmp_path, body, [USERS])
    p = make(tmp_path)
    assert p.run(hw.sources.singer(tap)).table_rows() == {"users": 1}


def test_each_stream_read_from_a_tap_leaves_an_access_record(tmp_path: Path) -> None:
    body = """
for s in selected:
    emit(type="SCHEMA", stream=s, schema=CATALOG["streams"][0]["schema"], key_properties=["id"])
    for i in range(3 if s == "users" else 2):
        emit(type="RECORD", stream=s, record={"id": i})
"""
    tap = fake_tap(tmp_path, body, [USERS, EVENTS])
    stream_ = io.StringIO()
    with logging_configured("INFO", "json", stream=stream_):
        make(tmp_path).run(hw.sources.singer(tap, config={"token": "tok-9a8b7c"}))
    access = [json.loads(x)["access"] for x in stream_.getvalue().splitlines() if '"headwater.access"' in x]
    # one per stream, both from the tap's one resource; no generic record for the resource
    assert [(a["resource"], a["what"], a["rows"]) for a in access] == [
        ("tap_fake", "stream 'events' of tap-fake", 2),
        ("tap_fake", "stream 'users' of tap-fake", 3),
    ]
    assert all(a["source"] == "singer" and a["url"] == tap and a["host"] == "localhost" for a in access)
    assert "tok-9a8b7c" not in stream_.getvalue()
