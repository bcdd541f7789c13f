"""No REST stream runs forever: every paginator stops at an empty page (unless told not to) and after
``max_pages``; a request has a total deadline, also when its body trickles in a byte at a time.

The servers here are endless on purpose: they offer a new next page on every answer, up to
:data:`ENDLESS` requests, and then answer 410 (so that a regression fails instead of hanging the suite).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

import headwater as hw
from headwater.errors import ConfigError, RetriableSourceError
from headwater.sources.rest_api.paginators import PAGINATORS as REGISTERED
from tests.apiserver import APIServer, Reply, Request
from tests.integration.rest_api.conftest import ids, records

ENDLESS = 200

#: every paginator, as a config table
PAGINATORS: dict[str, dict[str, Any]] = {
    "single_page": {"type": "single_page"},
    "page_number": {"type": "page_number"},
    "offset": {"type": "offset", "limit": 2},
    "cursor": {"type": "cursor"},
    "json_link": {"type": "json_link"},
    "header_link": {"type": "header_link"},
    "header_cursor": {"type": "header_cursor"},
    "auto": {"type": "auto"},
}


def test_every_paginator_is_covered() -> None:
    assert set(PAGINATORS) == set(REGISTERED)


def page(n: int) -> list[dict[str, Any]]:
    return [{"id": 2 * n}, {"id": 2 * n + 1}]


def serve(api: APIServer, kind: str, has_records: Callable[[int], bool], *, last: int = ENDLESS) -> None:
    """``/items``: the n-th request gets page n (records if ``has_records(n)``) and, until ``last``, a new
    pointer to a next page in the form the paginator reads."""

    @api.route("/items")
    def items(req: Request) -> Reply:
        n = len(api.calls("/items"))
        if n > ENDLESS:  # the fix broke: fail the run rather than hang the suite
            return Reply(410, {"message": "the endless test server gave up"})
        data = page(n) if has_records(n) else []
        after = n + 1 if n < last else None
        if kind in ("cursor",):
            return Reply(json={"data": data, "cursors": {"next": f"c{after}" if after else None}})
        if kind in ("json_link", "auto"):
            return Reply(json={"data": data, "next": f"/items?after={after}" if after else None})
        if kind == "header_link":
            link = {"Link": f'<{api.url}/items?after={after}>; rel="next"'} if after else {}
            return Reply(json={"data": data}, headers=link)
        if kind == "header_cursor":
            return Reply(json={"data": data}, headers={"X-Next-Cursor": f"c{after}"} if after else {})
        # page_number, offset, single_page: the client moves on by itself; only data says when to stop
        return Reply(json={"data": data})


def run(api: APIServer, make_pipeline: Callable[..., Any], paginator: dict[str, Any]) -> Any:
    p = make_pipeline("rest")
    p.run(
        hw.sources.rest_api({"client": {"base_url": api.url, "paginator": paginator}, "resources": [{"name": "items"}]})
    )
    return p


@pytest.mark.parametrize("kind", list(PAGINATORS))
def test_an_empty_page_ends_the_stream_by_default(
    kind: str, api: APIServer, make_pipeline: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="headwater.rest_api")
    serve(api, kind, lambda n: n == 1)  # one page of records, then empty pages with ever-new next links
    p = run(api, make_pipeline, PAGINATORS[kind])
    assert ids(p) == [2, 3]
    if kind == "single_page":
        assert len(api.calls("/items")) == 1
    else:
        assert len(api.calls("/items")) == 2  # the empty page was the last request
        assert "stop_after_empty_page" in caplog.text  # the log says how to opt out


@pytest.mark.parametrize("kind", list(PAGINATORS))
def test_max_pages_bounds_every_paginator(kind: str, api: APIServer, make_pipeline: Callable[..., Any]) -> None:
    serve(api, kind, lambda n: True)  # records on every page, and always a next page
    p = run(api, make_pipeline, {**PAGINATORS[kind], "max_pages": 3})
    pages = 1 if kind == "single_page" else 3
    assert len(api.calls("/items")) == pages
    assert ids(p) == [i for n in range(1, pages + 1) for i in (2 * n, 2 * n + 1)]


@pytest.mark.parametrize("kind", [k for k in PAGINATORS if k != "single_page"])
def test_empty_pages_mid_stream_can_be_allowed(kind: str, api: APIServer, make_pipeline: Callable[..., Any]) -> None:
    """An API that filters after paging returns empty pages before its last one: the opt-out reads on
    (bounded by the paginator's own end, here the missing next pointer, or by max_pages)."""
    serve(api, kind, lambda n: n in (1, 3), last=4)
    p = run(api, make_pipeline, {**PAGINATORS[kind], "stop_after_empty_page": False, "max_pages": 6})
    assert ids(p) == [2, 3, 6, 7]
    assert len(api.calls("/items")) == (6 if kind in ("page_number", "offset") else 4)


def test_max_pages_caps_pages_fetched_concurrently(api: APIServer, make_pipeline: Callable[..., Any]) -> None:
    @api.route("/items")
    def items(req: Request) -> Reply:
        n = int(req.query["page"])
        return Reply(json={"data": page(n), "total_pages": 50})

    p = run(api, make_pipeline, {"type": "page_number", "total_path": "total_pages", "max_pages": 3})
    assert sorted(int(r.query["page"]) for r in api.calls("/items")) == [1, 2, 3]
    assert ids(p) == [2, 3, 4, 5, 6, 7]


def test_paginator_settings_are_checked_with_a_suggestion(api: APIServer) -> None:
    with pytest.raises(ConfigError, match="has no setting 'max_page'") as info:
        hw.sources.rest_api({"client": {"base_url": api.url, "paginator": {"type": "json_link", "max_page": 3}}})
    assert "did you mean 'max_pages'" in str(info.value)
    with pytest.raises(ConfigError, match="max_pages must be a positive integer"):
        hw.sources.rest_api({"client": {"base_url": api.url, "paginator": {"type": "cursor", "max_pages": 0}}})
    with pytest.raises(ConfigError, match="did you mean 'total'"):
        hw.sources.rest_api({"client": {"base_url": api.url, "timeout": {"totl": 3}}, "resources": ["x"]})


# -- the total deadline --------------------------------------------------------------------------------
@pytest.mark.parametrize("timeout", [0.5, {"total": 0.5, "read": 30}], ids=["a number", "a table"])
def test_a_trickling_body_is_cut_at_the_deadline(
    timeout: Any, api: APIServer, make_pipeline: Callable[..., Any]
) -> None:
    """Each byte arrives well within any read timeout; the whole body would take 20 s. The request
    fails at its deadline with an error naming the URL and the deadline (no assertion on time)."""

    @api.route("/slow")
    def slow(req: Request) -> Reply:
        return Reply(json={"data": records(3)}, trickle=0.05)

    p = make_pipeline("rest")
    source = hw.sources.rest_api(
        {
            "client": {"base_url": api.url, "timeout": timeout, "retries": 2},
            "resources": [{"name": "items", "endpoint": "slow"}],
        }
    )
    with pytest.raises(RetriableSourceError) as info:
        p.run(source)
    message = str(info.value)
    assert f"GET {api.url}/slow" in message
    assert "no complete response within the 0.5 s deadline (client.timeout), after 2 attempts" in message
    assert info.value.resource == "items"
    assert len(api.calls("/slow")) == 2  # retried once, like any timeout


def test_a_request_within_its_deadline_is_not_cut(api: APIServer, make_pipeline: Callable[..., Any]) -> None:
    @api.route("/items")
    def items(req: Request) -> Reply:
        return Reply(body=b'{"data": [{"id": 1}]}', trickle=0.001)

    p = make_pipeline("rest")
    p.run(hw.sources.rest_api({"client": {"base_url": api.url, "timeout": 30}, "resources": ["items"]}))
    assert ids(p) == [1]
