"""``info.metrics`` after real runs: the REST source against a real HTTP server (a 429 with Retry-After,
then the data), the SQL source on a SQLite file, the files source on CSV and JSONL files, custom counters
from resources running in threads and as transformers, cursors, the quarantine and checks."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import headwater as hw
from headwater.errors import ConfigError, ExtractError
from tests.apiserver import APIServer, Reply, Request
from tests.integration.sql_database.conftest import sqlite_db

ITEMS = [{"id": i, "name": f"item {i}", "tags": [{"t": i % 3}]} for i in range(25)]


@pytest.fixture
def api() -> Iterator[APIServer]:
    with APIServer() as server:
        yield server


def test_rest_counts_requests_retries_their_reason_waits_rows_and_bytes(
    api: APIServer, make_pipeline: Callable[..., Any]
) -> None:
    body = json.dumps(ITEMS).encode()
    answered: list[int] = []

    @api.route("/items")
    def items(req: Request) -> Reply:
        answered.append(1)
        if len(answered) == 1:
            return Reply(429, {"message": "slow down"}, headers={"Retry-After": "0.2"})
        return Reply(body=body)

    source = hw.sources.rest_api(
        {
            "client": {"base_url": api.url, "paginator": "single_page", "retries": {"attempts": 3, "backoff": 0.01}},
            "resources": [{"name": "items", "primary_key": "id"}],
        }
    )
    info = make_pipeline("rest").run(source)
    m = info.metrics.resources["items"]
    assert len(api.calls("/items")) == 2
    assert (m.requests, m.retries, m.retry_reasons) == (2, 1, {"HTTP 429": 1})
    assert m.rate_limit_wait_seconds == pytest.approx(0.2)  # what the server asked for, not a measurement
    assert m.rows == 25
    assert m.bytes == len(body)  # the body of the answer that was read (the 429's was not)
    assert m.errors == 0
    tables = info.metrics.tables
    assert (tables["items"].rows, tables["items__tags"].rows) == (25, 25)
    assert tables["items"].bytes > 0 and tables["items"].files == 1
    as_json = info.to_dict()["metrics"]["resources"]["items"]
    assert as_json["retry_reasons"] == {"HTTP 429": 1} and as_json["requests"] == 2


def test_rest_connection_errors_are_retries_with_their_reason(
    api: APIServer, make_pipeline: Callable[..., Any]
) -> None:
    calls: list[int] = []

    @api.route("/items")
    def items(req: Request) -> Reply:
        calls.append(1)
        return Reply(drop=True) if len(calls) == 1 else Reply(json=ITEMS[:3])

    source = hw.sources.rest_api(
        {
            "client": {"base_url": api.url, "paginator": "single_page", "retries": {"attempts": 3, "backoff": 0.01}},
            "resources": ["items"],
        }
    )
    m = make_pipeline("rest_drop").run(source).metrics.resources["items"]
    assert m.requests == 2 and m.retries == 1 and m.rows == 3
    (reason,) = m.retry_reasons  # httpx names what happened to the connection
    assert reason in ("RemoteProtocolError", "ReadError", "ConnectError"), reason
    assert m.rate_limit_wait_seconds == 0  # a backoff is no rate limit


def test_a_failing_rest_resource_counts_an_error_and_its_requests(
    api: APIServer, make_pipeline: Callable[..., Any]
) -> None:
    @api.route("/items")
    def items(req: Request) -> Reply:
        return Reply(503, {"error": "down"})

    source = hw.sources.rest_api(
        {
            "client": {"base_url": api.url, "paginator": "single_page", "retries": {"attempts": 2, "backoff": 0.01}},
            "resources": ["items"],
        }
    )
    p = make_pipeline("rest_down")
    with pytest.raises(hw.errors.SourceError):
        p.run(source)
    from headwater.observe.history import list_runs

    (record,) = list_runs(p.workdir)
    m = record["metrics"]["resources"]["items"]
    assert (m["requests"], m["retries"], m["retry_reasons"], m["errors"]) == (2, 1, {"HTTP 503": 1}, 1)


def test_sql_counts_queries_rows_and_the_arrow_bytes_read(tmp_path: Path, make_pipeline: Callable[..., Any]) -> None:
    url = sqlite_db(
        tmp_path / "shop.db",
        "create table orders (id integer primary key, amount real, note text)",
        [(i, i * 1.5, f"order {i}") for i in range(1, 1001)],
        table="orders",
    )
    chunks = list(hw.sources.sql_database(url, tables=["orders"], chunk_size=300).resources["orders"])
    info = make_pipeline("sql").run(hw.sources.sql_database(url, tables=["orders"], chunk_size=300))
    m = info.metrics.resources["orders"]
    assert (m.rows, m.queries) == (1000, 1)
    assert m.bytes == sum(t.nbytes for t in chunks if isinstance(t, pa.Table)) > 0
    assert info.metrics.tables["orders"].rows == 1000

    partitioned = hw.sources.sql_database(
        url, tables=["orders"], chunk_size=300, partition={"orders": {"column": "id", "partitions": 3}}
    )
    m = make_pipeline("sql_ranges").run(partitioned).metrics.resources["orders"]
    assert (m.rows, m.queries) == (1000, 3)  # one statement per key range, each on a thread of its own
    assert m.bytes > 0


def test_files_count_files_their_sizes_and_rows(tmp_path: Path, make_pipeline: Callable[..., Any]) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "a.csv").write_text("id,city\n" + "".join(f"{i},town {i}\n" for i in range(40)))
    (folder / "b.jsonl").write_text("".join(json.dumps({"id": 100 + i, "city": f"c{i}"}) + "\n" for i in range(15)))
    source = hw.sources.filesystem(folder, streams={"cities_csv": "*.csv", "cities_jsonl": "*.jsonl"})
    info = make_pipeline("files").run(source)
    csv, jsonl = info.metrics.resources["cities_csv"], info.metrics.resources["cities_jsonl"]
    assert (csv.files, csv.bytes, csv.rows) == (1, (folder / "a.csv").stat().st_size, 40)
    assert (jsonl.files, jsonl.bytes, jsonl.rows) == (1, (folder / "b.jsonl").stat().st_size, 15)
    # the next run reads no file again (incremental by default): nothing counted
    again = make_pipeline("files").run(hw.sources.filesystem(folder, streams={"cities_csv": "*.csv"}))
    assert again.metrics.resources["cities_csv"].files == 0


API_CALLS = hw.metrics.counter("api_calls", description="calls a resource made", unit="{call}")
QUEUE = hw.metrics.gauge("queue_depth")


def test_custom_counters_land_in_the_resource_that_counted_them_whatever_thread_runs_it(
    make_pipeline: Callable[..., Any],
) -> None:
    threads: dict[str, str] = {}

    @hw.resource
    def users() -> Iterator[dict[str, Any]]:
        threads["users"] = threading.current_thread().name
        for i in range(10):
            API_CALLS.inc()
            yield {"id": i}

    @hw.resource
    def orders() -> Iterator[dict[str, Any]]:
        threads["orders"] = threading.current_thread().name
        API_CALLS.inc(5)
        QUEUE.set(7)
        QUEUE.set(3)
        yield from ({"id": i} for i in range(4))

    @hw.transformer(data_from=orders)
    def order_lines(order: dict[str, Any]) -> Iterator[dict[str, Any]]:
        API_CALLS.inc(2)
        yield {"order": order["id"], "line": 1}

    @hw.source
    def shop() -> Any:
        return users, orders, order_lines

    info = make_pipeline("custom").run(shop())
    assert threads["users"] != threads["orders"]  # two roots: each ran on a thread of its own
    r = info.metrics.resources
    assert r["users"].custom == {"api_calls": 10}
    assert r["orders"].custom == {"api_calls": 5, "queue_depth": 3}
    assert r["order_lines"].custom == {"api_calls": 8}  # 2 for each of the 4 orders it was fed
    assert (r["users"].rows, r["orders"].rows, r["order_lines"].rows) == (10, 4, 4)


def test_counting_outside_a_run_does_nothing_and_bad_metrics_are_refused() -> None:
    API_CALLS.inc()  # no run: nothing counted, no error

    @hw.resource
    def by_hand() -> Iterator[dict[str, Any]]:
        API_CALLS.inc()
        yield {"a": 1}

    assert list(by_hand()) == [{"a": 1}]  # a resource iterated without a pipeline counts nothing
    with pytest.raises(ConfigError, match="not a metric name"):
        hw.metrics.counter("api calls")
    with pytest.raises(ConfigError, match="already a counter"):
        hw.metrics.gauge("api_calls")
    with pytest.raises(ConfigError, match="would count down"):
        API_CALLS.inc(-1)
    with pytest.raises(ConfigError, match="takes a number"):
        API_CALLS.inc("3")  # type: ignore[arg-type]  # a wrong type on purpose


def test_a_failing_resource_counts_one_error_and_keeps_its_figures(make_pipeline: Callable[..., Any]) -> None:
    @hw.resource
    def flaky() -> Iterator[dict[str, Any]]:
        yield {"id": 1}
        API_CALLS.inc()
        raise RuntimeError("the feed broke")

    p = make_pipeline("flaky")
    with pytest.raises(ExtractError, match="the feed broke"):
        p.run(flaky())
    from headwater.observe.history import list_runs

    record = list_runs(p.workdir)[0]
    assert record["metrics"]["resources"]["flaky"]["errors"] == 1
    assert record["metrics"]["resources"]["flaky"]["custom"] == {"api_calls": 1}


def test_cursors_quarantine_and_failed_checks(make_pipeline: Callable[..., Any]) -> None:
    now = dt.datetime.now(dt.UTC)
    stamps = [now - dt.timedelta(hours=h) for h in (5, 3, 2)]

    @hw.resource(
        primary_key="id",
        checks=[
            hw.checks.between("amount", min=0, max=100, severity="quarantine"),
            hw.checks.not_null("note", severity="warn"),
        ],
    )
    def payments(updated=hw.incremental("updated_at")) -> Iterator[list[dict[str, Any]]]:
        yield [
            {"id": i, "amount": amount, "note": note, "updated_at": stamp}
            for i, (amount, note, stamp) in enumerate(zip((10, 500, 20), ("a", None, "c"), stamps, strict=True))
        ]

    info = make_pipeline("cursor").run(payments())
    cursor = info.metrics.cursors["payments"]
    assert cursor.column == "updated_at" and cursor.value == stamps[2]
    assert cursor.lag_seconds is not None and cursor.lag_seconds >= 2 * 3600  # it stopped 2 hours before now
    assert info.metrics.tables["payments"].quarantined == 1
    assert info.metrics.tables["payments"].checks_failed == 2  # between (quarantine) and not_null (warn)
    assert info.to_dict()["metrics"]["cursors"]["payments"]["value"] == stamps[2].isoformat()


def test_two_pipelines_running_at_once_keep_their_figures_apart(make_pipeline: Callable[..., Any]) -> None:
    started = threading.Barrier(2, timeout=60)

    def counted(n: int) -> Any:
        @hw.resource(name="ticks")
        def ticks() -> Iterator[dict[str, Any]]:
            started.wait()  # both runs are inside their resource at the same time
            for i in range(n):
                API_CALLS.inc()
                yield {"i": i}

        return ticks

    results: dict[str, Any] = {}

    def run(name: str, n: int) -> None:
        results[name] = make_pipeline(name).run(counted(n)())

    threads = [threading.Thread(target=run, args=(name, n)) for name, n in (("left", 3), ("right", 7))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert results["left"].metrics.resources["ticks"].custom == {"api_calls": 3}
    assert results["right"].metrics.resources["ticks"].custom == {"api_calls": 7}
    assert (results["left"].metrics.resources["ticks"].rows, results["right"].metrics.resources["ticks"].rows) == (3, 7)
