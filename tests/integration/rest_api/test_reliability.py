"""Retries, Retry-After, timeouts, dropped connections, truncated and malformed bodies, response
actions, the rate limit: over real sockets, with the data already read never lost."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import headwater as hw
from headwater.errors import FatalSourceError, RetriableSourceError, SourceError
from tests.apiserver import APIServer, Reply, Request
from tests.integration.rest_api.conftest import ids, records

DATA = records(30)
FAST_RETRIES = {"attempts": 4, "backoff": 0.01, "max_backoff": 0.05}


def paged(api: APIServer, fail: Callable[[int, int], Reply | None]) -> None:
    """/items?page=N, 10 per page; ``fail(page, attempt)`` may answer instead of the data."""
    attempts: dict[int, int] = {}
    lock = threading.Lock()

    @api.route("/items")
    def items(req: Request) -> Reply:
        page = int(req.query["page"])
        with lock:
            attempts[page] = attempts.get(page, 0) + 1
        instead = fail(page, attempts[page])
        return instead or Reply(json={"data": DATA[(page - 1) * 10 : page * 10]})


def source(api: APIServer, **client: Any) -> Any:
    return hw.sources.rest_api(
        {
            "client": {"base_url": api.url, "paginator": "page_number", "retries": FAST_RETRIES, **client},
            "resources": [{"name": "items", "primary_key": "id"}],
        }
    )


def test_429_waits_as_long_as_retry_after_says(api: APIServer, make_pipeline: Callable[..., Any]) -> None:
    paged(
        api,
        lambda page, n: (
            Reply(429, {"message": "slow down"}, headers={"Retry-After": "1"}) if page == 2 and n == 1 else None
        ),
    )
    p = make_pipeline("rest")
    p.run(source(api))
    assert ids(p) == list(range(30))
    stamps = [r for r in api.calls("/items") if r.query["page"] == "2"]
    assert len(stamps) == 2
    waited = _gap(api, "2")
    assert waited >= 0.95, f"retried after {waited:.2f} s although the server said Retry-After: 1"


def test_retry_after_as_an_http_date(api: APIServer, make_pipeline: Callable[..., Any]) -> None:
    when = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 2))
    paged(api, lambda page, n: Reply(503, {}, headers={"Retry-After": when}) if page == 1 and n == 1 else None)
    p = make_pipeline("rest")
    p.run(source(api))
    assert ids(p) == list(range(30))
    assert _gap(api, "1") >= 0.9  # the date is whole seconds: at least about one second ahead


def test_a_retry_after_longer_than_allowed_fails_clearly(api: APIServer, make_pipeline: Callable[..., Any]) -> None:
    paged(api, lambda page, n: Reply(429, {}, headers={"Retry-After": "3600"}) if page == 2 else None)
    p = make_pipeline("rest")
    with pytest.raises(RetriableSourceError, match="asked to wait 3600 s, more than"):
        p.run(source(api))
    p.load(include_partial=True)
    assert ids(p) == list(range(10))


def test_500_then_success(api: APIServer, make_pipeline: Callable[..., Any]) -> None:
    paged(api, lambda page, n: Reply(500, {"error": "boom"}) if n <= 2 else None)  # every page fails twice
    p = make_pipeline("rest")
    p.run(source(api))
    assert ids(p) == list(range(30))
    assert len(api.calls("/items")) == 4 * 3


def test_retries_run_out_with_url_status_and_body_and_no_secret(
    api: APIServer, make_pipeline: Callable[..., Any]
) -> None:
    paged(
        api, lambda page, n: Reply(502, {"error": "upstream unavailable", "detail": "x" * 2000}) if page == 3 else None
    )
    src = source(api, auth={"type": "api_key", "name": "api_key", "api_key": "s3cr3t-k3y", "location": "query"})
    p = make_pipeline("rest")
    with pytest.raises(RetriableSourceError) as info:
        p.run(src)
    text = str(info.value)
    assert f"GET {api.url}/items?page=3&api_key=***" in text
    assert "HTTP 502 Bad Gateway after 4 attempts" in text
    assert "upstream unavailable" in text and "characters)" in text  # a bounded excerpt of the body
    assert "s3cr3t-k3y" not in text
    assert info.value.where["resource"] == "items"
    assert len([c for c in api.calls("/items") if c.query["page"] == "3"]) == 4
    assert api.calls("/items")[0].query["api_key"] == "s3cr3t-k3y"  # the key was sent, only hidden in messages
    # pages 1 and 2 are kept in the partial package and load on request
    p.load(include_partial=True)
    assert ids(p) == list(range(20))


def test_4xx_is_not_retried_and_says_what_to_check(api: APIServer, make_pipeline: Callable[..., Any]) -> None:
    paged(api, lambda page, n: Reply(401, {"message": "Bad credentials"}))
    with pytest.raises(FatalSourceError) as info:
        make_pipeline("rest").run(source(api))
    assert "HTTP 401 Unauthorized" in str(info.value) and "Bad credentials" in str(info.value)
    assert "credentials" in (info.value.hint or "")
    assert len(api.calls("/items")) == 1


def test_timeouts_are_retried(api: APIServer, make_pipeline: Callable[..., Any]) -> None:
    paged(api, lambda page, n: Reply(json={"data": []}, delay=1.0) if page == 2 and n == 1 else None)
    p = make_pipeline("rest")
    p.run(source(api, timeout=0.3))
    assert ids(p) == list(range(30))


def test_a_server_that_never_answers_in_time(api: APIServer, make_pipeline: Callable[..., Any]) -> None:
    paged(api, lambda page, n: Reply(json={}, delay=0.5) if page == 2 else None)
    p = make_pipeline("rest")
    with pytest.raises(RetriableSourceError, match=r"items\?page=2: no complete response within the 0.1 s deadline"):
        p.run(source(api, timeout=0.1))


def test_a_dropped_connection_is_retried(api: APIServer, make_pipeline: Callable[..., Any]) -> None:
    paged(api, lambda page, n: Reply(drop=True) if page in (1, 3) and n == 1 else None)
    p = make_pipeline("rest")
    p.run(source(api))
    assert ids(p) == list(range(30))


def test_a_truncated_body_is_retried(api: APIServer, make_pipeline: Callable[..., Any]) -> None:
    paged(api, lambda page, n: Reply(json={"data": DATA[10:20]}, truncate=True) if page == 2 and n <= 2 else None)
    p = make_pipeline("rest")
    p.run(source(api))
    assert ids(p) == list(range(30))


def test_a_malformed_body_fails_the_stream_and_keeps_the_pages_before(
    api: APIServer, make_pipeline: Callable[..., Any]
) -> None:
    paged(api, lambda page, n: Reply(body=b'{"data": [{"id": 20}, {"id": 2') if page == 3 else None)
    p = make_pipeline("rest")
    with pytest.raises(FatalSourceError) as info:
        p.run(source(api))
    text = str(info.value)
    assert "not valid JSON" in text and f"{api.url}/items?page=3" in text and '{"data": [{"id": 20}' in text
    assert "20 rows extracted before the failure are kept" in text or "kept in the partial package" in text
    assert len([c for c in api.calls("/items") if c.query["page"] == "3"]) == 1  # a 200 with bad JSON: no retry
    p.load(include_partial=True)
    assert ids(p) == list(range(20))


def test_response_actions_ignore_stop_and_retry(api: APIServer, make_pipeline: Callable[..., Any]) -> None:
    @api.route("/a")
    def a(req: Request) -> Reply:
        return Reply(404, {"message": "Not Found"})

    @api.route("/b")
    def b(req: Request) -> Reply:
        page = int(req.query["page"])
        if page == 3:
            return Reply(200, {"data": [], "status": "end of data"})
        return Reply(json={"data": DATA[(page - 1) * 10 : page * 10]})

    calls = {"n": 0}

    @api.route("/c")
    def c(req: Request) -> Reply:
        calls["n"] += 1
        if calls["n"] == 1:
            return Reply(200, {"status": "warming up, try again"})
        return Reply(json=[{"id": 99}])

    src = hw.sources.rest_api(
        {
            "client": {"base_url": api.url, "paginator": "page_number", "retries": FAST_RETRIES},
            "resources": [
                {"name": "a", "endpoint": {"response_actions": [{"status_code": 404, "action": "ignore"}]}},
                {"name": "b", "endpoint": {"response_actions": [{"content": "end of data", "action": "stop"}]}},
                {
                    "name": "c",
                    "endpoint": {
                        "paginator": "single_page",
                        "response_actions": [{"content": "warming up", "action": "retry"}],
                    },
                },
            ],
        }
    )
    p = make_pipeline("rest")
    p.run(src)
    assert ids(p, "b") == list(range(20))
    assert ids(p, "c") == [99]
    assert "a" not in {t for t in p.schema().tables}  # nothing to load, no table
    assert len(api.calls("/a")) == 1


def test_the_rate_limit_is_shared_by_the_streams_of_a_source(api: APIServer, make_pipeline: Callable[..., Any]) -> None:
    for name in ("x", "y"):
        api.route(f"/{name}")(
            lambda req: Reply(
                json={"data": DATA[int(req.query["page"]) * 5 :][:5] if int(req.query["page"]) < 4 else []}
            )
        )
    src = hw.sources.rest_api(
        {
            "client": {"base_url": api.url, "paginator": "page_number", "rate_limit": 20},
            "resources": ["x", "y"],
        }
    )
    make_pipeline("rest").run(src)
    stamps = sorted(api.request_times)
    assert len(stamps) == 8
    # 20 requests per second across both streams: 8 requests take 7 intervals of 50 ms (less the first
    # request's connection setup, which a busy machine stretches); unlimited, the two streams finish in a
    # few milliseconds: half the schedule tells the two apart
    assert stamps[-1] - stamps[0] >= 0.175, [round(t - stamps[0], 3) for t in stamps]


def test_errors_are_source_errors(api: APIServer, make_pipeline: Callable[..., Any]) -> None:
    paged(api, lambda page, n: Reply(500, {}))
    with pytest.raises(SourceError):
        make_pipeline("rest").run(source(api, retries={"attempts": 1}))


def _gap(api: APIServer, page: str) -> float:
    times = [t for t, r in zip(api.request_times, api.requests, strict=True) if r.query.get("page") == page]
    return times[1] - times[0]


def test_an_exhausted_quota_waits_for_its_reset(api: APIServer, make_pipeline: Callable[..., Any]) -> None:
    """GitHub's primary rate limit: 403 with X-RateLimit-Remaining: 0 and the reset as a Unix time."""
    reset = {"at": 0.0}

    def quota(page: int, n: int) -> Reply | None:
        if page == 2 and n == 1:
            reset["at"] = time.time() + 1.5
            headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(reset["at"]))}
            return Reply(403, {"message": "API rate limit exceeded"}, headers=headers)
        return None

    paged(api, quota)
    p = make_pipeline("rest")
    p.run(source(api))
    assert ids(p) == list(range(30))
    assert _gap(api, "2") >= 0.4  # waited for the reset (a whole second, 0.5 to 1.5 s ahead)


def test_a_plain_403_is_not_retried(api: APIServer, make_pipeline: Callable[..., Any]) -> None:
    paged(
        api, lambda page, n: Reply(403, {"message": "Resource not accessible"}, headers={"X-RateLimit-Remaining": "12"})
    )
    with pytest.raises(FatalSourceError, match="HTTP 403 Forbidden"):
        make_pipeline("rest").run(source(api))
    assert len(api.calls("/items")) == 1
