"""Run records: every run, load and extract leaves one in the working folder (failed ones too, and when the
destination is down); ``headwater runs`` lists and shows them (a real subprocess); the destination keeps
them in ``_hw_runs``, best effort."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import headwater as hw
from headwater.errors import DestinationError, ExtractError, StateError
from headwater.observe.history import KEEP_RUNS, list_runs, read_run, record_path
from tests.conftest import env_with_path


@hw.resource(primary_key="id")
def numbers(n: int = 3) -> Iterator[dict[str, Any]]:
    for i in range(n):
        yield {"id": i, "tags": [i, i + 1]}


@hw.resource(primary_key="id")
def broken() -> Iterator[dict[str, Any]]:
    yield {"id": 1}
    raise RuntimeError("upstream closed the connection")


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "headwater", *args],
        cwd=cwd,
        env=env_with_path(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_every_run_load_and_extract_is_recorded_newest_first(make_pipeline: Callable[..., Any]) -> None:
    p = make_pipeline("history")
    first = p.run(numbers())
    load_id = p.extract(numbers(5))
    loaded = p.load()
    runs = list_runs(p.workdir)
    assert [r["kind"] for r in runs] == ["load", "extract", "run"]
    assert all(r["status"] == "completed" and r["error"] is None for r in runs)
    assert runs[2]["run_id"] == first.run_id and runs[0]["run_id"] == loaded.run_id
    assert runs[2]["load_ids"] == first.load_ids and runs[2]["rows"] == first.rows == 9
    assert runs[2]["tables"] == {"numbers": {"rows": 3}, "numbers__tags": {"rows": 6}}
    assert runs[2]["schema"] == {"name": "history", "version": 1}
    assert runs[2]["metrics"] == first.metrics.to_dict()
    assert runs[1]["load_ids"] == [load_id] and runs[1]["rows"] == 15  # extracted, not loaded yet
    assert runs[0]["load_ids"] == [load_id] and runs[0]["rows"] == 15
    assert runs[0]["metrics"]["tables"]["numbers"]["files"] == 1  # the load wrote the package's file
    assert runs[0]["started_at"] >= runs[1]["ended_at"] >= runs[1]["started_at"] >= runs[2]["ended_at"]
    assert list_runs(p.workdir, limit=1) == runs[:1]
    assert read_run(p.workdir, first.run_id) == runs[2]
    assert record_path(p.workdir, first.run_id).parent == p.workdir.root / "runs"


def test_a_failed_run_is_recorded_with_its_error_and_shown_by_the_cli(
    make_pipeline: Callable[..., Any], tmp_path: Path
) -> None:
    p = make_pipeline("failing")
    p.run(numbers())
    with pytest.raises(ExtractError, match="upstream closed the connection") as caught:
        p.run(broken())
    failed = list_runs(p.workdir)[0]
    assert failed["status"] == "failed" and failed["kind"] == "run"
    assert failed["error"]["type"] == "ExtractError"
    assert "upstream closed the connection" in failed["error"]["message"]
    assert failed["error"]["hint"] == caught.value.hint
    assert "RuntimeError: upstream closed the connection" in failed["error"]["traceback"]
    assert len(failed["load_ids"]) == 1  # the partial package that keeps the row read before the failure

    listed = cli("runs", "failing", "--pipelines-dir", str(tmp_path / "pipelines"), cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert failed["run_id"] in lines[2] and "failed" in lines[2] and "ExtractError: " in lines[2]
    assert "completed" in lines[3] and lines[3].rstrip().endswith(" 9")  # 3 rows and their 6 tags
    shown = cli(
        "runs", "show", "failing", failed["run_id"], "--pipelines-dir", str(tmp_path / "pipelines"), cwd=tmp_path
    )
    assert shown.returncode == 0, shown.stderr
    assert "status       failed" in shown.stdout
    assert "upstream closed the connection" in shown.stdout and "hint: " in shown.stdout
    assert "broken  rows 1" in shown.stdout and "errors 1" in shown.stdout
    as_json = cli(
        "runs", "failing", "--json", "--limit", "1", "--pipelines-dir", str(tmp_path / "pipelines"), cwd=tmp_path
    )
    assert [r["run_id"] for r in json.loads(as_json.stdout)] == [failed["run_id"]]


def test_cli_mistakes_get_clear_errors(make_pipeline: Callable[..., Any], tmp_path: Path) -> None:
    p = make_pipeline("named")
    run_id = p.run(numbers()).run_id
    where = ["--pipelines-dir", str(tmp_path / "pipelines")]
    typo = cli("runs", "nmaed", *where, cwd=tmp_path)
    assert typo.returncode == 1 and "did you mean 'named'?" in typo.stderr
    near = run_id[:-2] + ("8Z" if run_id[-2] == "9" else "9Z")  # one digit off, never the id itself
    wrong = cli("runs", "show", "named", near, *where, cwd=tmp_path)
    assert wrong.returncode == 1 and f"did you mean {run_id!r}?" in wrong.stderr
    garbage = cli("runs", "show", "named", "../../etc/passwd", *where, cwd=tmp_path)
    assert garbage.returncode == 1 and "is not a run id" in garbage.stderr
    half = cli("runs", "show", "named", *where, cwd=tmp_path)
    assert half.returncode == 2 and "headwater runs show NAME RUN_ID" in half.stderr
    with pytest.raises(StateError, match="has no run"):
        read_run(p.workdir, "20000101T000000.000000Z")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_run_whose_destination_is_down_is_still_recorded(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    url = f"postgresql://nobody:secret-pw@127.0.0.1:{_closed_port()}/nowhere"
    p = hw.pipeline("down", destination=url, pipelines_dir=tmp_path / "pipelines", progress=False)
    with caplog.at_level(logging.WARNING, logger="headwater"), pytest.raises(DestinationError) as caught:
        p.run(numbers())
    (record,) = list_runs(p.workdir)
    assert record["status"] == "failed" and record["error"]["type"] == type(caught.value).__name__
    assert "secret-pw" not in json.dumps(record)
    assert any("_hw_runs" in r.getMessage() for r in caplog.records)  # the destination row: logged, not raised


def test_a_destination_that_cannot_keep_the_row_never_fails_a_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "lake"
    p = hw.pipeline(
        "blocked",
        destination=hw.destinations.filesystem(root),
        dataset="raw",
        pipelines_dir=tmp_path / "p",
        progress=False,
    )
    (root / "raw").mkdir(parents=True)
    (root / "raw" / "_hw_runs").write_text("a file where the folder of run rows goes")
    with caplog.at_level(logging.WARNING, logger="headwater"):
        info = p.run(numbers())
    assert info.rows == 9 and p.query("select count(*) as n from numbers").to_pylist() == [{"n": 3}]
    assert list_runs(p.workdir)[0]["status"] == "completed"
    assert any("could not record run" in r.getMessage() for r in caplog.records)


def test_the_destination_keeps_the_runs_in_hw_runs(make_pipeline: Callable[..., Any]) -> None:
    p = make_pipeline("kept")
    ok = p.run(numbers())
    with pytest.raises(ExtractError):
        p.run(broken())
    rows = p.query("select run_id, pipeline, kind, status, rows, error, metrics from raw._hw_runs order by run_id")
    got = rows.to_pylist()
    assert [(r["kind"], r["status"], r["pipeline"]) for r in got] == [
        ("run", "completed", "kept"),
        ("run", "failed", "kept"),
    ]
    assert got[0]["run_id"] == ok.run_id and got[0]["rows"] == 9 and got[0]["error"] is None
    assert got[1]["error"].startswith("ExtractError: ") and "hint: " in got[1]["error"]
    assert json.loads(got[0]["metrics"]) == ok.metrics.to_dict()
    p.drop()  # dropping the pipeline forgets its runs, there and in its working folder
    assert p.query("select count(*) as n from raw._hw_runs").to_pylist() == [{"n": 0}]
    assert not (p.workdir.root / "runs").exists()


def test_only_the_newest_records_are_kept(make_pipeline: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    import headwater.observe.history as history

    assert KEEP_RUNS >= 100
    monkeypatch.setattr(history, "KEEP_RUNS", 3)
    p = make_pipeline("pruned")
    ids = [p.run(numbers()).run_id for _ in range(5)]
    assert [r["run_id"] for r in list_runs(p.workdir)] == ids[::-1][:3]


def test_a_record_that_cannot_be_written_never_fails_a_run(
    make_pipeline: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    p = make_pipeline("unwritable")
    p.run(numbers())
    runs = p.workdir.root / "runs"
    for f in runs.iterdir():
        f.unlink()
    runs.rmdir()
    runs.write_text("a file where the folder of records goes")
    with caplog.at_level(logging.WARNING, logger="headwater"):
        info = p.run(numbers(4))
    assert info.rows == 12
    assert any("could not write the record of run" in r.getMessage() for r in caplog.records)
    # the destination still got the run's row
    assert p.query("select count(*) as n from raw._hw_runs").to_pylist() == [{"n": 2}]
