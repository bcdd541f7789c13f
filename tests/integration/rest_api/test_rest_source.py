"""The rest_api source as a user configures it: dependent resources, incremental parameters across
runs, defaults, selectors, concurrency, config errors, and a replay of recorded GitHub pagination."""

from __future__ import annotations

import json
import threading
import tomllib
from collections.abc import Callable
from typing import Any

import pytest

import headwater as hw
from headwater.errors import ConfigError, FatalSourceError
from tests.apiserver import APIServer, Reply, Request
from tests.conftest import shared_data
from tests.integration.rest_api.conftest import ids

REPOS = [{"id": i, "full_name": f"acme/repo-{i}", "meta": {"owner": "acme"}} for i in range(1, 7)]


class InFlight:
    """Counts concurrent requests on the server (the most seen at once).

    ``hold(n)`` keeps a request open until ``n`` requests are in flight together (or 5 s pass), so a
    client that really runs requests concurrently reaches ``n`` however loaded the machine is, and
    a sequential one never does.
    """

    def __init__(self) -> None:
        self.now = 0
        self.most = 0
        self.cond = threading.Condition()

    def hold(self, n: int) -> None:
        with self.cond:
            self.now += 1
            self.most = max(self.most, self.now)
            self.cond.notify_all()
            self.cond.wait_for(lambda: self.most >= n, timeout=5)
            self.now -= 1


def github_like(api: APIServer, flight: InFlight | None = None) -> None:
    @api.route("/orgs/acme/repos")
    def repos(req: Request) -> Reply:
        page = int(req.query.get("page", "1"))
        headers = {"Link": f'<{api.url}/orgs/acme/repos?page={page + 1}>; rel="next"'} if page < 2 else {}
        return Reply(json=REPOS[(page - 1) * 3 : page * 3], headers=headers)

    for repo in REPOS:
        name = repo["full_name"]

        def issues(req: Request, name: str = name) -> Reply:
            if name.endswith("-4"):
                return Reply(404, {"message": "Not Found"})  # a repo deleted between the two calls
            if flight is not None:
                flight.hold(2)
            page = int(req.query.get("page", "1"))
            n = int(name.rsplit("-", 1)[1])
            rows = [{"number": k, "title": f"{name}#{k}", "state": req.query.get("state")} for k in range(1, n + 1)]
            headers = {"Link": f'<{api.url}/repos/{name}/issues?page=2>; rel="next"'} if page == 1 and n > 2 else {}
            return Reply(json=rows[:2] if page == 1 else rows[2:], headers=headers)

        api.route(f"/repos/{name}/issues")(issues)


def config(api: APIServer, **client: Any) -> dict[str, Any]:
    return {
        "client": {"base_url": api.url, "paginator": "header_link", **client},
        "resource_defaults": {"primary_key": "id", "endpoint": {"params": {"per_page": 50}}},
        "resources": [
            {"name": "repos", "endpoint": "orgs/acme/repos"},
            {
                "name": "issues",
                "primary_key": ["_repos_full_name", "number"],
                "endpoint": {
                    "path": "repos/{resources.repos.full_name}/issues",
                    "params": {"state": "all"},
                    "response_actions": [{"status_code": 404, "action": "ignore"}],
                },
                "include_from_parent": ["full_name", "meta.owner"],
            },
        ],
    }


def test_dependent_resource_calls_the_child_endpoint_per_parent_record(
    api: APIServer, make_pipeline: Callable[..., Any]
) -> None:
    github_like(api)
    p = make_pipeline("rest")
    p.run(hw.sources.rest_api(config(api)))
    assert ids(p, "repos") == [1, 2, 3, 4, 5, 6]
    got = p.query(
        "select _repos_full_name r, _repos_meta_owner o, count(*) n, max(number) m, min(state) s "
        "from raw.issues group by all order by r"
    ).to_pylist()
    assert got == [
        {"r": f"acme/repo-{n}", "o": "acme", "n": n, "m": n, "s": "all"} for n in (1, 2, 3, 5, 6)
    ]  # repo-4 answered 404: ignored, as configured
    calls = api.calls("/repos/acme/repo-6/issues")
    assert [c.query for c in calls] == [{"per_page": "50", "state": "all"}, {"page": "2"}]  # defaults merged


def test_dependent_calls_run_concurrently_within_the_limit(api: APIServer, make_pipeline: Callable[..., Any]) -> None:
    flight = InFlight()
    github_like(api, flight)
    p = make_pipeline("rest")
    p.run(hw.sources.rest_api(config(api, concurrency=3)))
    assert p.query("select count(*) n from raw.issues").to_pylist() == [{"n": 17}]
    assert 2 <= flight.most <= 3


def test_known_pages_keep_the_requests_in_flight_while_an_earlier_page_is_slow(
    api: APIServer, make_pipeline: Callable[..., Any]
) -> None:
    """Pages with a known total come back in order, but a slow page holds no slot: each finished request
    starts the next one, up to READ_AHEAD x concurrency pages outstanding. The first concurrent page
    answers only once the server has seen them all (or 5 s pass, which a client that waits for it in
    order would make it do)."""
    from headwater.sources.rest_api.client import READ_AHEAD

    concurrency, limit, pages = 4, 10, 20
    seen = threading.Condition()
    received = [0]
    released: list[bool] = []

    @api.route("/items")
    def items(req: Request) -> Reply:
        offset = int(req.query["offset"])
        with seen:
            received[0] += 1
            seen.notify_all()
            if offset == limit:  # the head of the concurrent pages: waits for the ones behind it
                released.append(seen.wait_for(lambda: received[0] >= 1 + READ_AHEAD * concurrency, timeout=5))
        return Reply(json={"total": pages * limit, "items": [{"id": i} for i in range(offset, offset + limit)]})

    source = hw.sources.rest_api(
        {
            "client": {"base_url": api.url, "concurrency": concurrency},
            "resources": [
                {
                    "name": "items",
                    "endpoint": {
                        "path": "items",
                        "data_selector": "items",
                        "paginator": {"type": "offset", "limit": limit, "total_path": "total"},
                    },
                }
            ],
        }
    )
    p = make_pipeline("rest")
    p.run(source)
    assert released == [True]
    assert ids(p) == list(range(pages * limit))


def test_a_response_lets_go_of_its_parsed_body_once_the_paginator_read_it(api: APIServer) -> None:
    """httpx responses sit in reference cycles, freed by the cyclic collector only: a parsed body kept on
    one would keep its page's records alive until then."""
    import asyncio

    from headwater.sources.rest_api.client import RESTClient
    from headwater.sources.rest_api.paginators.numbered import OffsetLimit

    read: list[Any] = []

    class Reading(OffsetLimit):
        def update_state(self, response: Any, data: Any) -> None:
            super().update_state(response, data)
            read.append(response)

    @api.route("/items")
    def items(req: Request) -> Reply:
        offset = int(req.query["offset"])
        return Reply(json={"items": [{"id": i} for i in range(offset, min(offset + 10, 25))]})

    async def pages() -> list[list[Any]]:
        client = RESTClient(api.url, paginator=Reading(limit=10), concurrency=1)
        return [page async for page in client.paginate("items", data_selector="items")]

    assert sum(map(len, asyncio.run(pages()))) == 25
    assert len(read) == 4 and not any("headwater_body" in r.extensions for r in read)


def test_resolve_parameter_and_unselected_parent(api: APIServer, make_pipeline: Callable[..., Any]) -> None:
    @api.route("/users")
    def users(req: Request) -> Reply:
        return Reply(json={"users": [{"uid": "a b"}, {"uid": "c"}]})

    @api.route("/events")
    def events(req: Request) -> Reply:
        return Reply(json={"events": [{"id": f"{req.query['user']}-1"}]})

    @api.route("/users/a b/profile")
    def profile_a(req: Request) -> Reply:
        return Reply(json={"uid": "a b", "bio": "hi"})

    @api.route("/users/c/profile")
    def profile_c(req: Request) -> Reply:
        return Reply(json={"uid": "c", "bio": None})

    src = hw.sources.rest_api(
        {
            "client": {"base_url": api.url, "paginator": "single_page"},
            "resources": [
                {"name": "users", "selected": False},
                {
                    "name": "events",
                    "endpoint": {"params": {"user": {"type": "resolve", "resource": "users", "field": "uid"}}},
                },
                {"name": "profiles", "endpoint": "users/{resources.users.uid}/profile"},
            ],
        }
    )
    p = make_pipeline("rest")
    p.run(src)
    tables = set(p.schema().tables)
    assert "users" not in tables  # it feeds its children but is not loaded
    assert ids(p, "events") == ["a b-1", "c-1"]
    assert sorted(r["uid"] for r in p.query("select uid from raw.profiles").to_pylist()) == ["a b", "c"]


def test_incremental_parameter_across_two_runs(api: APIServer, make_pipeline: Callable[..., Any]) -> None:
    store = [{"id": i, "updated_at": f"2024-01-{i:02d}T00:00:00Z"} for i in range(1, 6)]

    @api.route("/tickets")
    def tickets(req: Request) -> Reply:
        since = req.query["updated_since"]
        rows = sorted((r for r in store if r["updated_at"] >= since), key=lambda r: r["updated_at"])
        return Reply(json={"tickets": rows})

    def source() -> Any:
        return hw.sources.rest_api(
            {
                "client": {"base_url": api.url, "paginator": "single_page"},
                "resources": [
                    {
                        "name": "tickets",
                        "primary_key": "id",
                        "write_disposition": "merge",
                        "endpoint": {
                            "incremental": {
                                "cursor_path": "updated_at",
                                "start_param": "updated_since",
                                "initial_value": "2024-01-02T00:00:00Z",
                            }
                        },
                    }
                ],
            }
        )

    p = make_pipeline("rest")
    p.run(source())
    assert ids(p, "tickets") == [2, 3, 4, 5]
    store.append({"id": 6, "updated_at": "2024-01-07T00:00:00Z"})
    store[1] = {"id": 2, "updated_at": "2024-01-08T00:00:00Z"}  # ticket 2 changes
    p.run(source())
    sent = [c.query["updated_since"] for c in api.calls("/tickets")]
    assert sent == ["2024-01-02T00:00:00Z", "2024-01-05T00:00:00Z"]  # the second run starts at the last value
    got = p.query("select id, updated_at from raw.tickets order by id").to_pylist()
    assert [r["id"] for r in got] == [2, 3, 4, 5, 6]
    assert str(got[0]["updated_at"]).startswith("2024-01-08")
    # the boundary row (ticket 5, sent again because since is inclusive) was not loaded twice
    assert p.query("select count(*) n from raw.tickets where id = 5").to_pylist() == [{"n": 1}]


def test_backfill_range_with_start_and_end_params_leaves_the_live_cursor(
    api: APIServer, make_pipeline: Callable[..., Any]
) -> None:
    store = [{"id": i, "ts": 100 + i} for i in range(20)]

    @api.route("/rows")
    def rows(req: Request) -> Reply:
        lo, hi = int(req.query["from"]), int(req.query.get("to", "1000000"))
        return Reply(json=[r for r in store if lo <= r["ts"] < hi])

    def source(**incremental: Any) -> Any:
        cursor = {"type": "incremental", "cursor_path": "ts", "end_param": "to", **incremental}
        return hw.sources.rest_api(
            {
                "client": {"base_url": api.url, "paginator": "single_page"},
                "resources": [{"name": "rows", "endpoint": {"params": {"from": cursor}}}],
            }
        )

    p = make_pipeline("rest")
    p.run(source(initial_value=115))  # the live cursor: 115..
    assert ids(p, "rows") == [15, 16, 17, 18, 19]
    p.run(source(initial_value=105, end_value=110))  # a backfill of 105..110
    assert api.calls("/rows")[-1].query == {"from": "105", "to": "110"}
    p.run(source(initial_value=115))  # live again: starts after 119, not after the backfill
    assert api.calls("/rows")[-1].query == {"from": "119"}
    assert ids(p, "rows") == [5, 6, 7, 8, 9, 15, 16, 17, 18, 19]


def test_independent_streams_run_concurrently(api: APIServer, make_pipeline: Callable[..., Any]) -> None:
    flight = InFlight()
    for name in ("a", "b", "c"):

        def handler(req: Request, name: str = name) -> Reply:
            flight.hold(3)
            return Reply(json=[{"id": f"{name}1"}])

        api.route(f"/{name}")(handler)
    p = make_pipeline("rest")
    p.run(
        hw.sources.rest_api({"client": {"base_url": api.url, "paginator": "single_page"}, "resources": ["a", "b", "c"]})
    )
    assert flight.most == 3
    assert ids(p, "a") == ["a1"] and ids(p, "c") == ["c1"]


def test_json_path_selector_and_post(api: APIServer, make_pipeline: Callable[..., Any]) -> None:
    @api.route("/graphql", method="POST")
    def graphql(req: Request) -> Reply:
        assert req.json() == {"query": "{ repos { nodes { id } } }", "vars": {"org": "acme"}}
        return Reply(
            json={"data": {"orgs": [{"repos": {"nodes": [{"id": 1}, {"id": 2}]}}, {"repos": {"nodes": [{"id": 3}]}}]}}
        )

    src = hw.sources.rest_api(
        {
            "client": {"base_url": api.url, "paginator": "single_page"},
            "resources": [
                {
                    "name": "nodes",
                    "endpoint": {
                        "path": "graphql",
                        "method": "POST",
                        "json": {"query": "{ repos { nodes { id } } }", "vars": {"org": "acme"}},
                        "data_selector": "$.data.orgs[*].repos.nodes[*]",
                    },
                }
            ],
        }
    )
    p = make_pipeline("rest")
    p.run(src)
    assert ids(p, "nodes") == [1, 2, 3]


def test_a_toml_description_works_as_well(api: APIServer, make_pipeline: Callable[..., Any]) -> None:
    github_like(api)
    text = f"""
        name = "acme"
        [client]
        base_url = "{api.url}"
        paginator = "header_link"
        retries = {{ attempts = 3, backoff = 0.01 }}

        [resource_defaults]
        primary_key = "id"

        [[resources]]
        name = "repos"
        endpoint = "orgs/acme/repos"
    """
    src = hw.sources.rest_api(tomllib.loads(text))
    assert src.name == "acme"
    p = make_pipeline("rest")
    p.run(src)
    assert ids(p, "repos") == [1, 2, 3, 4, 5, 6]


def test_a_missing_parent_field_names_the_placeholder(api: APIServer, make_pipeline: Callable[..., Any]) -> None:
    github_like(api)
    cfg = config(api)
    cfg["resources"][1]["endpoint"]["path"] = "repos/{resources.repos.fullname}/issues"
    with pytest.raises(FatalSourceError, match=r"needs field 'fullname' of its parent 'repos'") as info:
        make_pipeline("rest").run(hw.sources.rest_api(cfg))
    assert "{resources.repos.fullname}" in (info.value.hint or "")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda c: c.update(resourcez=[]), "unknown key 'resourcez'"),
        (lambda c: c["client"].update(base_ulr="x"), "did you mean 'base_url'"),
        (lambda c: c["resources"][1]["endpoint"].update(path="repos/{repo}/issues"), "unknown placeholder '{repo}'"),
        (lambda c: c["resources"][1]["endpoint"].update(path="x/{resources.nope.id}"), "depends on 'nope'"),
        (
            lambda c: c["resources"][0].update(endpoint="orgs/{resources.issues.number}"),
            "cycle: repos -> issues -> repos",
        ),
        (lambda c: c["resources"][0].update(include_from_parent=["id"]), "include_from_parent needs a parent"),
        (lambda c: c["client"].update(paginator={"type": "pages"}), "unknown paginator 'pages'"),
        (lambda c: c["client"].update(paginator={"type": "offset"}), "missing 1 required positional argument: 'limit'"),
        (lambda c: c["resources"][0].update(write_disposition="upsert"), "write_disposition"),
        (lambda c: c["client"].update(base_url="ftp://x"), "must start with http"),
        (lambda c: c.update(resources=[]), "non-empty list"),
        (
            lambda c: c["resources"][1]["endpoint"].update(response_actions=[{"status_code": 404, "action": "panic"}]),
            "action must be one of",
        ),
    ],
)
def test_config_errors_are_raised_before_any_request(
    api: APIServer, mutate: Callable[[dict[str, Any]], None], message: str
) -> None:
    cfg = json.loads(json.dumps(config(api)))
    mutate(cfg)
    with pytest.raises(
        ConfigError, match=message.replace("{", r"\{").replace("}", r"\}").replace("(", r"\(").replace(")", r"\)")
    ):
        hw.sources.rest_api(cfg)
    assert api.requests == []


def test_recorded_github_pagination_replays_all_13_issues(api: APIServer, make_pipeline: Callable[..., Any]) -> None:
    recording = json.loads(shared_data("octokit", "api.github.com_paginate-issues.json").read_text())
    answers: dict[tuple[str, str], Reply] = {}
    for exchange in recording:
        path, _, query = exchange["path"].partition("?")
        headers = {"Link": exchange["headers"]["link"].replace("https://api.github.com", api.url)}
        answers[(path, query)] = Reply(exchange["status"], exchange["response"], headers=headers)

    def replay(req: Request) -> Reply:
        query = "&".join(f"{k}={v}" for k, v in req.query.items())
        return answers.get((req.path, query), Reply(404, {"message": f"not recorded: {req.path}?{query}"}))

    for path, _ in answers:
        api.route(path)(replay)
    src = hw.sources.rest_api(
        {
            "name": "github",
            "client": {"base_url": api.url, "headers": {"Accept": "application/vnd.github.v3+json"}},
            "resources": [
                {
                    "name": "issues",
                    "primary_key": "id",
                    "endpoint": {"path": "repos/octokit-fixture-org/paginate-issues/issues", "params": {"per_page": 3}},
                }
            ],
        }
    )
    p = make_pipeline("rest")
    p.run(src)  # the paginator is detected from the Link header
    got = p.query("select number, title from raw.issues order by number").to_pylist()
    assert len(got) == 13
    assert [r["number"] for r in got] == list(range(1, 14))
    assert len(api.requests) == 5
    # nested objects became columns: every issue has its author
    assert p.query("select count(user__login) n from raw.issues").to_pylist() == [{"n": 13}]
