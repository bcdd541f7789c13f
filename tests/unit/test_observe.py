"""Logs, access records, progress displays and alert hooks, each on its own (no pipeline runs here)."""

from __future__ import annotations

import io
import json
import logging
import re
import threading

import pytest
from rich.console import Console

from headwater.errors import ConfigError
from headwater.observe.access import host_of, record_access
from headwater.observe.context import carry, current, load_context, run_context
from headwater.observe.progress import LineProgress, NullProgress, TerminalProgress, human_bytes, make_progress
from headwater.observe.runids import new_run_id, started_at
from headwater.pipelines.hooks import Hooks, check_hook
from headwater.pipelines.logsetup import configure_logging, logging_configured
from headwater.pipelines.observed import describe_error

RUN_ID = re.compile(r"\d{8}T\d{6}\.\d{6}Z")


def json_lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_run_ids_are_utc_start_times_in_the_load_id_format_and_never_repeat() -> None:
    ids = [new_run_id() for _ in range(50)]
    assert all(RUN_ID.fullmatch(i) for i in ids)
    assert ids == sorted(ids) and len(set(ids)) == 50
    assert started_at(ids[0]).strftime("%Y%m%dT%H%M%S.%fZ") == ids[0]


def test_every_record_of_a_run_carries_pipeline_run_and_load_ids_on_other_threads_too() -> None:
    stream = io.StringIO()
    with logging_configured("DEBUG", "json", stream=stream):
        log = logging.getLogger("headwater.test")
        log.info("before")
        with run_context("github", "20261203T092700.123456Z"):
            log.info("in the run")
            with load_context("20261203T092700.200000Z"):
                thread = threading.Thread(target=carry(log.info), args=("on a thread",))
                thread.start()
                thread.join()
                assert current()["load_id"] == "20261203T092700.200000Z"
            bare = threading.Thread(target=log.info, args=("not carried",))
            bare.start()
            bare.join()
        log.info("after")
    lines = {line["message"]: line for line in json_lines(stream)}
    assert lines["before"]["run_id"] is None and lines["after"]["pipeline"] is None
    assert lines["in the run"]["pipeline"] == "github" and lines["in the run"]["load_id"] is None
    assert lines["in the run"]["run_id"] == "20261203T092700.123456Z"
    assert lines["on a thread"]["load_id"] == "20261203T092700.200000Z"
    assert lines["not carried"]["run_id"] is None  # threads start with an empty context: carry() hands it over
    assert set(lines["in the run"]) == {"time", "level", "logger", "message", "pipeline", "run_id", "load_id"}


def test_json_lines_hold_the_traceback_without_its_secrets_and_text_shows_the_ids() -> None:
    stream = io.StringIO()
    with logging_configured("INFO", "json", stream=stream):
        try:
            raise RuntimeError("cannot reach postgresql://etl:hunter2secret@db.example.com/warehouse")
        except RuntimeError:
            logging.getLogger("headwater.test").exception("the load failed")
    (line,) = json_lines(stream)
    assert line["level"] == "ERROR" and "RuntimeError" in str(line["exc"])
    assert "hunter2secret" not in stream.getvalue() and "etl:***@db.example.com" in str(line["exc"])
    text = io.StringIO()
    with logging_configured("INFO", "text", stream=text), run_context("github", "20261203T092700.123456Z"):
        logging.getLogger("headwater.test").warning("slow page")
    assert "WARNING headwater.test [github 20261203T092700.123456Z]: slow page" in text.getvalue()


def test_configure_logging_refuses_unknown_levels_and_formats_and_replaces_its_handler() -> None:
    with pytest.raises(ConfigError, match="unknown log level 'INFOO'") as err:
        configure_logging("INFOO")
    assert "did you mean 'INFO'" in str(err.value)
    with pytest.raises(ConfigError, match="unknown log format 'jsn'") as err:
        configure_logging("INFO", "jsn")
    assert "did you mean 'json'" in str(err.value)
    logger = logging.getLogger("headwater")
    before = list(logger.handlers)
    with logging_configured("INFO", "text"):
        configure_logging("DEBUG", "json", stream=io.StringIO())  # replaces the one installed above
        ours = [h for h in logger.handlers if getattr(h, "headwater_configured", False)]
        assert len(ours) == 1 and logger.level == logging.DEBUG
    assert logger.handlers == before and logger.propagate


def test_access_records_say_what_where_when_who_and_rows_without_secrets() -> None:
    stream = io.StringIO()
    with logging_configured("INFO", "json", stream=stream), run_context("crm", new_run_id()):
        record_access(
            "sql_database",
            url="postgresql://etl:s3cr3t-pw@db.internal:5432/crm?sslmode=require",
            rows=42,
            resource="orders",
            what="table 'orders'",
        )
        record_access(
            "rest_api",
            url="https://api.example.com/v1/issues?page=2&token=tok-abcdef123&k=zz9",
            rows=100,
            method="GET",
            resource="issues",
            secret_params=frozenset({"k"}),
        )
    sql, rest = json_lines(stream)
    assert sql["logger"] == "headwater.access" and sql["level"] == "INFO" and sql["pipeline"] == "crm"
    access = sql["access"]
    assert isinstance(access, dict)
    assert access["url"] == "postgresql://etl:***@db.internal:5432/crm?sslmode=require"
    assert access["host"] == "db.internal" and access["rows"] == 42 and access["what"] == "table 'orders'"
    assert access["by_host"] and access["by_user"] and access["at"]
    assert isinstance(rest["access"], dict) and rest["access"]["method"] == "GET"
    assert rest["access"]["url"] == "https://api.example.com/v1/issues?page=2&token=***&k=***"
    assert "GET https://api.example.com/v1/issues" in str(rest["message"]) and "100 rows" in str(rest["message"])
    for secret in ("s3cr3t-pw", "tok-abcdef123", "zz9"):
        assert secret not in stream.getvalue()
    assert host_of("/data/in/2026.csv") == "localhost" and host_of("s3://bucket/key.parquet") == "bucket"


def test_access_records_cost_nothing_when_info_is_off(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="headwater"):
        record_access("filesystem", url="/data/x.csv", rows=1)
    assert not caplog.records


def test_the_terminal_display_shows_rows_rate_and_bytes_per_resource() -> None:
    out = io.StringIO()
    progress = TerminalProgress("github", Console(file=out, force_terminal=True, width=120), live=False)
    progress.stage("extract + normalize")
    progress.rows("issues", 1500, resource="issues", nbytes=3 * 1024 * 1024)
    progress.rows("issues__labels", 500, resource="issues", nbytes=1024)
    progress.rows("users", 7, resource="users", nbytes=700)
    progress.console.print(progress.render())
    progress.close("summary line")
    shown = out.getvalue()
    issues = next(line for line in shown.splitlines() if "issues__labels" in line)
    assert "2,000" in issues and "3.0 MiB" in issues and re.search(r"\d[\d,]* ", issues)
    assert re.search(r"users .*\b7\b.*700 B", shown)
    assert "github: extract + normalize" in shown and "summary line" in shown
    assert "\x1b[" in shown  # a terminal display (ANSI codes), not plain lines


def test_off_a_terminal_one_line_per_table_when_extraction_ends(caplog: pytest.LogCaptureFixture) -> None:
    progress = LineProgress("github")
    with caplog.at_level(logging.INFO, logger="headwater.progress"):
        progress.stage("extract + normalize")
        progress.rows("issues", 600, resource="issues", nbytes=2048)
        progress.rows("issues", 400, resource="issues", nbytes=2048)
        progress.rows("issues__labels", 30, resource="issues", nbytes=100)
        assert not caplog.records  # nothing while the table fills
        progress.extracted()
        progress.close()  # nothing twice
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert lines[0].startswith("table issues (resource issues): 1,000 rows, 4.0 KiB in ")
    assert lines[0].endswith(" rows/s)") and lines[1].startswith("table issues__labels (resource issues): 30 rows")
    assert isinstance(make_progress(False, "x"), NullProgress)
    assert isinstance(make_progress("auto", "x"), LineProgress)  # pytest's stderr is no terminal
    assert human_bytes(512) == "512 B" and human_bytes(1536) == "1.5 KiB"


def test_hooks_are_checked_where_they_are_given() -> None:
    assert check_hook(None, "on_failure") is None and check_hook(print, "on_failure") is print
    assert check_hook("https://hooks.example.com/x", "on_success") == "https://hooks.example.com/x"
    with pytest.raises(ConfigError, match=r"on_failure must be a callable .* got int 3"):
        check_hook(3, "on_failure")
    with pytest.raises(ConfigError, match=re.escape("got 'htps://hooks.example.com/x'")) as err:
        check_hook("htps://hooks.example.com/x", "on_failure")
    assert "did you mean https://" in str(err.value)
    with pytest.raises(ConfigError) as err:
        check_hook("myproject.alerts:notify", "on_success")
    assert "pass the function itself" in str(err.value)
    with pytest.raises(ConfigError, match="has no host"):
        check_hook("http:///path", "on_failure")
    with pytest.raises(ConfigError, match=r"\*\*\*"):  # a secret in the URL is not shown back
        check_hook("ftp://user:pw12345@host/x", "on_failure")


def test_a_hook_that_raises_is_logged_and_swallowed(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[dict[str, object]] = []

    def broken(summary: dict[str, object]) -> None:
        seen.append(summary)
        raise ValueError("pager down")

    hooks = Hooks.check(on_failure=broken, on_success=None)
    with caplog.at_level(logging.WARNING, logger="headwater.alerts"):
        hooks.fire({"status": "failed", "pipeline": "p"})
        hooks.fire({"status": "completed"})  # no on_success: nothing happens
    assert seen == [{"status": "failed", "pipeline": "p"}]
    (record,) = caplog.records
    assert "on_failure hook" in record.getMessage() and "ValueError: pager down" in record.getMessage()
    assert describe_error(ConfigError("bad", hint="fix it")) == {
        "type": "ConfigError",
        "message": "bad",
        "hint": "fix it",
    }


def test_progress_settings_are_checked() -> None:
    from headwater.pipelines.observed import check_progress

    assert [check_progress(v) for v in ("auto", "log", True, False)] == ["auto", "log", True, False]
    with pytest.raises(ConfigError, match="unknown progress setting 'logs'") as err:
        check_progress("logs")
    assert "did you mean 'log'" in str(err.value)
    assert isinstance(make_progress("log", "x"), LineProgress)
