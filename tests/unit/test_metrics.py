"""headwater.observe: the metrics' JSON shape (the run records' contract), cursor lag, the resource scope
across threads, and the run records on disk (written atomically, listed newest first, pruned, checked)."""

from __future__ import annotations

import contextvars
import datetime as dt
import decimal
import logging
import threading
from pathlib import Path

import pytest

from headwater.errors import StateError
from headwater.observe import history
from headwater.observe.metrics import RunMetrics, current, cursor_lag, json_value, resource_scope
from headwater.pipelines.workdir import WorkDir


def test_to_dict_is_the_metrics_shape_of_the_run_record() -> None:
    m = RunMetrics()
    r = m.resource("issues")
    r.request()
    r.request()
    r.retry("HTTP 429")
    r.waited(1.5)
    r.read(nbytes=2048)
    r.add_rows(100)
    r.add_custom("api_calls", 2, "counter")
    r.add_custom("api_calls", 1, "counter")
    r.add_custom("depth", 4, "gauge")
    r.add_custom("depth", 2, "gauge")
    r.note_cursor("updated_at", dt.datetime(2026, 1, 1, tzinfo=dt.UTC), now=dt.datetime(2026, 1, 1, 1, tzinfo=dt.UTC))
    m.normalized("issues", 100, 9000)
    m.quarantined("issues", 2)
    m.loaded_files("issues", 1)
    m.checks_failed("issues")
    m.add_stage("extract", 0, 500_000_000)
    m.add_stage("load", 500_000_000, 800_000_000, "L1")
    m.add_stage("normalize", 100_000_000, 200_000_000)
    m.add_stage("normalize", 300_000_000, 400_000_000)
    assert m.to_dict() == {
        "stages": {"extract": {"seconds": 0.5}, "normalize": {"seconds": 0.2}, "load": {"seconds": 0.3}},
        "resources": {
            "issues": {
                "rows": 100,
                "bytes": 2048,
                "seconds": 0.0,
                "requests": 2,
                "retries": 1,
                "retry_reasons": {"HTTP 429": 1},
                "rate_limit_wait_seconds": 1.5,
                "errors": 0,
                "custom": {"api_calls": 3, "depth": 2},
            }
        },
        "tables": {"issues": {"rows": 100, "bytes": 9000, "files": 1, "quarantined": 2, "checks_failed": 1}},
        "cursors": {"issues": {"column": "updated_at", "value": "2026-01-01T00:00:00+00:00", "lag_seconds": 3600.0}},
    }
    assert m.stages["normalize"].spans == [(100_000_000, 400_000_000, None)]  # one span, first to last piece
    r.read(queries=2, files=3)
    assert {k: m.to_dict()["resources"]["issues"][k] for k in ("queries", "files")} == {"queries": 2, "files": 3}


def test_cursor_lag_is_for_times_only() -> None:
    now = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
    assert cursor_lag(dt.datetime(2026, 3, 1, 11, tzinfo=dt.UTC), now) == 3600
    assert cursor_lag(dt.datetime(2026, 3, 1, 11), now) == 3600  # naive: UTC
    assert cursor_lag(dt.date(2026, 3, 1), now) == 12 * 3600
    assert cursor_lag("2026-03-01T11:30:00Z", now) == 1800
    assert cursor_lag(42, now) is None
    assert cursor_lag("42", now) is None
    assert cursor_lag("2026-99-99", now) is None
    assert json_value(decimal.Decimal("1.50")) == "1.50"
    assert json_value(dt.date(2026, 1, 2)) == "2026-01-02"


def test_the_resource_scope_follows_the_thread_or_a_copied_context() -> None:
    m = RunMetrics()
    outer, inner = m.resource("outer"), m.resource("inner")
    seen: dict[str, object] = {}
    with resource_scope(outer):
        with resource_scope(inner):
            assert current() is inner
        assert current() is outer
        t = threading.Thread(target=lambda: seen.update(plain=current()))
        t.start()
        t.join()
        copied = contextvars.copy_context()
        t = threading.Thread(target=copied.run, args=(lambda: seen.update(copied=current()),))
        t.start()
        t.join()
    assert current() is None
    assert seen == {"plain": None, "copied": outer}
    assert outer.started_ns is not None and outer.ended_ns is not None and outer.started_ns <= outer.ended_ns
    with resource_scope(None):
        assert current() is None


def test_records_are_listed_newest_first_read_back_and_pruned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    folder = WorkDir(tmp_path / "p")
    ids = [history.new_run_id(dt.datetime(2026, 1, 1, 0, 0, i, tzinfo=dt.UTC)) for i in range(4)]
    for i, run_id in enumerate(ids):
        history.write_run(folder, {"run_id": run_id, "status": "completed", "rows": i})
    assert [r["run_id"] for r in history.list_runs(folder)] == ids[::-1]
    assert history.read_run(folder, ids[1])["rows"] == 1
    assert history.run_started_at(ids[2]) == dt.datetime(2026, 1, 1, 0, 0, 2, tzinfo=dt.UTC)
    assert not list((tmp_path / "p" / "runs").glob(".*.tmp"))  # no temporary file left behind

    (tmp_path / "p" / "runs" / f"{ids[3]}.json").write_text("{not json")
    with caplog.at_level(logging.WARNING, logger="headwater"):
        assert [r["run_id"] for r in history.list_runs(folder)] == ids[2::-1]
    assert any("cannot be read" in r.getMessage() for r in caplog.records)

    monkeypatch.setattr(history, "KEEP_RUNS", 2)
    newest = history.new_run_id(dt.datetime(2026, 1, 2, tzinfo=dt.UTC))
    history.write_run(folder, {"run_id": newest})
    assert sorted(p.stem for p in (tmp_path / "p" / "runs").glob("*.json")) == [ids[3], newest]


def test_run_ids_are_checked_and_misses_get_the_closest() -> None:
    folder = WorkDir(Path("/nonexistent/p"))
    with pytest.raises(StateError, match="is not a run id"):
        history.record_path(folder, "../../etc/passwd")
    with pytest.raises(StateError, match="has no run") as err:
        history.read_run(folder, "20260101T000000.000000Z")
    assert "no runs recorded yet" in (err.value.hint or "")
    with pytest.raises(StateError, match="limit"):
        history.list_runs(folder, limit=-1)
    record = {"error": {"type": "ExtractError", "message": "resource 'x' failed: boom\nmore"}}
    assert history.error_summary(record) == "ExtractError: resource 'x' failed: boom"
    assert history.error_summary({"error": None}) == ""
    assert len(history.error_summary({"error": {"type": "E", "message": "x" * 200}}, width=40)) == 40
