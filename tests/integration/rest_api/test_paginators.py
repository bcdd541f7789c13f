"""Every paginator against a real local server: the right requests go out, every record lands once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import headwater as hw
from headwater.errors import FatalSourceError
from headwater.sources.rest_api import PageRequest, Paginator
from tests.apiserver import APIServer, Reply, Request
from tests.integration.rest_api.conftest import ids, records

DATA = records(23)


def source(api: APIServer, paginator: Any, **endpoint: Any) -> Any:
    return hw.sources.rest_api(
        {
            "client": {"base_url": api.url, "paginator": paginator},
            "resources": [{"name": "items", "endpoint": {"path": "items", **endpoint}}],
        }
    )


def load(make_pipeline: Callable[..., Any], src: Any) -> Any:
    p = make_pipeline("rest")
    p.run(src)
    return p


def test_page_number_stops_on_the_empty_page(api: APIServer, make_pipeline: Callable[..., Any]) -> None:
    @api.route("/items")
    def items(req: Request) -> Reply:
        page = int(req.query["page"])
        return Reply(json={"data": DATA[(page - 1) * 5 : page * 5]})

    p = load(make_pipeline, source(api, {"type": "page_number"}))
    assert ids(p) == list(range(23))
    assert [r.query["page"] for r in api.calls("/items")] == ["1", "2", "3", "4", "5", "6"]  # 6: empty, stop
    assert p.query("select count(*) n from raw.items__tags").to_pylist() == [{"n": 46}]


def test_page_number_with_a_total_fetches_the_rest_concurrently(
    api: APIServer, make_pipeline: Callable[..., Any]
) -> None:
    @api.route("/items")
    def items(req: Request) -> Reply:
        page = int(req.query["p"])
        return Reply(json={"data": DATA[page * 5 : page * 5 + 5], "meta": {"pages": 5}}, delay=0.05)

    p = load(
        make_pipeline,
        source(api, {"type": "page_number", "base_page": 0, "page_param": "p", "total_path": "meta.pages"}),
    )
    assert ids(p) == list(range(23))
    assert sorted(int(r.query["p"]) for r in api.calls("/items")) == [0, 1, 2, 3, 4]  # no request past the end


def test_page_number_maximum_page(api: APIServer, make_pipeline: Callable[..., Any]) -> None:
    @api.route("/items")
    def items(req: Request) -> Reply:
        page = int(req.query["page"])
        return Reply(json=DATA[(page - 1) * 5 : page * 5])

    p = load(make_pipeline, source(api, {"type": "page_number", "maximum_page": 2}))
    assert ids(p) == list(range(10))


@pytest.mark.parametrize(
    ("paginator", "expected_calls"),
    [
        ({"type": "offset", "limit": 5}, 6),  # stops on the empty page
        ({"type": "offset", "limit": 5, "total_path": "total"}, 5),  # stops at the total
        ({"type": "offset", "limit": 5, "stop_on_short_page": True}, 5),  # stops on the short page
    ],
)
def test_offset_limit(
    api: APIServer, make_pipeline: Callable[..., Any], paginator: dict[str, Any], expected_calls: int
) -> None:
    @api.route("/items")
    def items(req: Request) -> Reply:
        offset, limit = int(req.query["offset"]), int(req.query["limit"])
        return Reply(json={"items": DATA[offset : offset + limit], "total": len(DATA)})

    p = load(make_pipeline, source(api, paginator))
    assert ids(p) == list(range(23))
    calls = api.calls("/items")
    assert len(calls) == expected_calls
    assert sorted(int(r.query["offset"]) for r in calls)[:5] == [0, 5, 10, 15, 20]


def test_cursor_in_the_body(api: APIServer, make_pipeline: Callable[..., Any]) -> None:
    @api.route("/items")
    def items(req: Request) -> Reply:
        at = int(req.query.get("after", "0"))
        nxt = at + 10 if at + 10 < len(DATA) else None
        return Reply(json={"results": DATA[at : at + 10], "paging": {"next_cursor": nxt and str(nxt)}})

    p = load(
        make_pipeline, source(api, {"type": "cursor", "cursor_path": "paging.next_cursor", "cursor_param": "after"})
    )
    assert ids(p) == list(range(23))
    assert [r.query.get("after") for r in api.calls("/items")] == [None, "10", "20"]


def test_cursor_in_a_post_body(api: APIServer, make_pipeline: Callable[..., Any]) -> None:
    @api.route("/search", method="POST")
    def search(req: Request) -> Reply:
        body = req.json()
        assert body["query"] == "all"  # the configured body is kept on every page
        at = body.get("page_token") or 0
        return Reply(json={"hits": DATA[at : at + 10], "next": at + 10 if at + 10 < len(DATA) else None})

    src = source(
        api,
        {"type": "cursor", "cursor_path": "next", "cursor_body_path": "page_token"},
        path="search",
        method="POST",
        json={"query": "all"},
        data_selector="hits",
    )
    p = load(make_pipeline, src)
    assert ids(p) == list(range(23))


@pytest.mark.parametrize("relative", [True, False])
def test_next_url_in_the_body(api: APIServer, make_pipeline: Callable[..., Any], relative: bool) -> None:
    @api.route("/items")
    def items(req: Request) -> Reply:
        page = int(req.query.get("page", "0"))
        more = (page + 1) * 10 < len(DATA)
        nxt = f"/items?page={page + 1}&sig=x" if relative else f"{api.url}/items?page={page + 1}"
        return Reply(json={"data": DATA[page * 10 : page * 10 + 10], "links": {"next": nxt if more else None}})

    p = load(make_pipeline, source(api, {"type": "json_link", "next_url_path": "links.next"}, params={"per_page": 10}))
    assert ids(p) == list(range(23))
    calls = api.calls("/items")
    assert calls[0].query == {"per_page": "10"}
    assert [c.query.get("page") for c in calls] == [None, "1", "2"]


def test_link_header(api: APIServer, make_pipeline: Callable[..., Any]) -> None:
    @api.route("/items")
    def items(req: Request) -> Reply:
        page = int(req.query.get("page", "1"))
        headers = {}
        if page * 10 < len(DATA):
            headers["Link"] = f'<{api.url}/items?page={page + 1}>; rel="next", <{api.url}/items?page=3>; rel="last"'
        return Reply(json=DATA[(page - 1) * 10 : page * 10], headers=headers)

    p = load(make_pipeline, source(api, "header_link"))
    assert ids(p) == list(range(23))


def test_cursor_in_a_header(api: APIServer, make_pipeline: Callable[..., Any]) -> None:
    @api.route("/items")
    def items(req: Request) -> Reply:
        at = int(req.query.get("cursor", "0"))
        headers = {"X-Next-Cursor": str(at + 10)} if at + 10 < len(DATA) else {}
        return Reply(json=DATA[at : at + 10], headers=headers)

    p = load(make_pipeline, source(api, {"type": "header_cursor", "cursor_header": "X-Next-Cursor"}))
    assert ids(p) == list(range(23))


def test_single_page(api: APIServer, make_pipeline: Callable[..., Any]) -> None:
    @api.route("/items")
    def items(req: Request) -> Reply:
        return Reply(json=DATA, headers={"Link": f'<{api.url}/items?page=2>; rel="next"'})

    p = load(make_pipeline, source(api, "single_page"))
    assert ids(p) == list(range(23))
    assert len(api.calls("/items")) == 1


@pytest.mark.parametrize("style", ["link_header", "body_url", "none"])
def test_auto_detection(api: APIServer, make_pipeline: Callable[..., Any], style: str) -> None:
    @api.route("/items")
    def items(req: Request) -> Reply:
        page = int(req.query.get("page", "0"))
        chunk = DATA[page * 10 : page * 10 + 10] if style != "none" else DATA
        more = style != "none" and (page + 1) * 10 < len(DATA)
        url = f"{api.url}/items?page={page + 1}"
        if style == "link_header":
            return Reply(json=chunk, headers={"Link": f'<{url}>; rel="next"'} if more else {})
        if style == "body_url":
            return Reply(json={"results": chunk, "next": url if more else None, "count": len(DATA)})
        return Reply(json={"results": chunk})

    p = load(make_pipeline, source(api, None))
    assert ids(p) == list(range(23))


def test_the_same_cursor_twice_is_a_loop_not_an_endless_run(api: APIServer, make_pipeline: Callable[..., Any]) -> None:
    @api.route("/items")
    def items(req: Request) -> Reply:
        at = int(req.query.get("cursor", "0"))
        return Reply(json={"data": DATA[at : at + 10], "next": "10"})  # stuck at 10

    p = make_pipeline("rest")
    with pytest.raises(FatalSourceError) as info:
        p.run(source(api, {"type": "cursor", "cursor_path": "next"}))
    assert "pagination loop" in str(info.value) and "'10'" in str(info.value)
    assert info.value.where["resource"] == "items"
    assert len(api.calls("/items")) == 2
    # the pages read before the loop was seen are kept, the second one too (its records are new)
    p.load(include_partial=True)
    assert ids(p) == list(range(20))


def test_an_api_that_ignores_the_page_parameter_is_a_loop(api: APIServer, make_pipeline: Callable[..., Any]) -> None:
    @api.route("/items")
    def items(req: Request) -> Reply:
        return Reply(json=DATA[:10])  # the same page, whatever is asked

    p = make_pipeline("rest")
    with pytest.raises(FatalSourceError, match="returned the same page twice"):
        p.run(source(api, {"type": "page_number", "page_param": "pg"}))
    assert len(api.calls("/items")) == 2
    p.load(include_partial=True)
    assert ids(p) == list(range(10))  # the repeated page is not loaded twice


class EvenPages(Paginator):
    """A custom paginator: pages 0, 2, 4... given in an ``X-Page`` header, until ``X-Last`` says so."""

    def reset(self) -> None:
        self.page = 0

    def init_request(self, request: PageRequest) -> None:
        request.headers["X-Page"] = "0"

    def update_state(self, response: Any, records: list[Any]) -> None:
        self.has_next_page = response.headers.get("X-Last") != "yes"
        self.page += 2

    def update_request(self, request: PageRequest) -> None:
        request.headers["X-Page"] = str(self.page)


def test_a_custom_paginator_is_a_small_class(api: APIServer, make_pipeline: Callable[..., Any]) -> None:
    @api.route("/items")
    def items(req: Request) -> Reply:
        page = int(req.headers["x-page"])
        return Reply(json=DATA[page * 4 : page * 4 + 4], headers={"X-Last": "yes" if page >= 4 else "no"})

    p = load(make_pipeline, source(api, EvenPages()))
    assert ids(p) == [0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19]
    assert [r.headers["x-page"] for r in api.calls("/items")] == ["0", "2", "4"]
