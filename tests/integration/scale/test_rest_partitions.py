"""Date ranges as partitions of a REST resource, against a real HTTP server on 127.0.0.1: every range
is requested once with its bounds, and the rows equal one read of the whole period."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

import headwater as hw
from headwater.errors import ConfigError
from tests.apiserver import APIServer, Reply, Request

DAYS = [dt.date(2026, 1, 1) + dt.timedelta(days=i) for i in range(20)]


def _events(since: str | None, until: str | None) -> list[dict[str, Any]]:
    lo = dt.date.fromisoformat(since) if since else DAYS[0]
    hi = dt.date.fromisoformat(until) if until else DAYS[-1] + dt.timedelta(days=1)
    return [{"id": i, "day": d.isoformat(), "n": i * 3} for i, d in enumerate(DAYS) if lo <= d < hi]


def _config(url: str, partitions: dict[str, Any] | None) -> dict[str, Any]:
    resource: dict[str, Any] = {"name": "events", "endpoint": {"path": "events"}, "primary_key": "id"}
    if partitions is not None:
        resource["partitions"] = partitions
    return {"client": {"base_url": url, "paginator": "single_page"}, "resources": [resource]}


def test_date_ranges_are_requested_once_each_and_equal_the_whole(tmp_path: Path) -> None:
    seen: list[tuple[str | None, str | None]] = []
    with APIServer() as api:

        @api.route("/events")
        def events(req: Request) -> Reply:
            seen.append((req.query.get("since"), req.query.get("until")))
            return Reply(json=_events(req.query.get("since"), req.query.get("until")))

        ranges = {
            "start": "2026-01-01",
            "end": "2026-01-21",
            "every": "week",
            "start_param": "since",
            "end_param": "until",
        }

        def run(name: str, partitions: dict[str, Any] | None) -> Any:
            p = hw.pipeline(
                name,
                dataset="d",
                pipelines_dir=tmp_path / "p",
                progress=False,
                destination=hw.destinations.duckdb(str(tmp_path / f"{name}.duckdb")),
            )
            assert p.run(hw.sources.rest_api(_config(api.url, partitions))).table_rows() == {"events": 20}
            return p.query("select id, day, n from d.events order by id").to_pylist()

        whole = run("whole", None)
        seen.clear()
        assert run("ranges", ranges) == whole
    assert sorted(seen) == [("2026-01-01", "2026-01-08"), ("2026-01-08", "2026-01-15"), ("2026-01-15", "2026-01-21")]


@pytest.mark.parametrize(
    ("partitions", "message"),
    [
        ({"start": "2026-01-01", "end": "2026-01-02", "every": "fortnight", "start_param": "s"}, "unknown step"),
        ({"start": "2026-02-01", "end": "2026-01-01", "start_param": "s"}, "must come before end"),
        ({"start": "2026-01-01", "end": "2026-01-02"}, "start_param is missing"),
        ({"start": "yesterday", "end": "2026-01-02", "start_param": "s"}, "not an ISO 8601 date"),
        ({"start": "2026-01-01", "end": "2026-01-02", "start_param": "s", "stepp": 1}, "unknown key 'stepp'"),
    ],
)
def test_partition_mistakes_are_refused_before_any_request(partitions: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        hw.sources.rest_api(_config("http://127.0.0.1:9", partitions))


def test_ranges_on_worker_processes_share_the_rate_limit(tmp_path: Path) -> None:
    import time

    arrivals: list[float] = []
    with APIServer() as api:

        @api.route("/events")
        def events(req: Request) -> Reply:
            arrivals.append(time.monotonic())
            return Reply(json=_events(req.query.get("since"), req.query.get("until")))

        config = _config(
            api.url,
            {
                "start": "2026-01-01",
                "end": "2026-01-21",
                "every": {"days": 2},
                "start_param": "since",
                "end_param": "until",
            },
        )
        config["client"]["rate_limit"] = 5  # requests per second, for the whole run
        p = hw.pipeline(
            "limited",
            dataset="d",
            pipelines_dir=tmp_path / "p",
            progress=False,
            destination=hw.destinations.duckdb(str(tmp_path / "limited.duckdb")),
            executor=hw.executors.processes(workers=2),
        )
        assert p.run(hw.sources.rest_api(config)).table_rows() == {"events": 20}
    arrivals.sort()
    assert len(arrivals) == 10  # ten ranges of two days, one request each
    # two worker processes, one limit: never more than 5 a second, give or take two (a request sent late
    # lands next to the following one); a limit per process would let 10 through
    assert max(sum(1 for t in arrivals if a <= t < a + 1) for a in arrivals) <= 7
    assert arrivals[-1] - arrivals[0] >= 9 / 5 - 0.2
