"""The example plugin (examples/plugin, installed by ``scripts/setup dev``) as a user runs it: the
``github`` source found through its entry point, made by ``registry.make`` and loaded into DuckDB
from a real HTTP server on 127.0.0.1 that answers like api.github.com (``Link`` headers, ``since=``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

import headwater as hw
from headwater.errors import ConfigError
from headwater.sources import registry
from tests.apiserver import APIServer, Reply, Request
from tests.conftest import shared_data

pytestmark = pytest.mark.skipif(
    find_spec("headwater_github") is None,
    reason="the example plugin is not installed (scripts/setup dev installs examples/plugin)",
)

OWNER, REPO = "acme", "rockets"


@pytest.fixture
def api() -> Iterator[APIServer]:
    with APIServer() as server:
        yield server


def issue(n: int, updated: str, title: str | None = None) -> dict[str, Any]:
    return {
        "id": 5000 + n,
        "number": n,
        "title": title or f"issue {n}",
        "state": "open",
        "user": {"login": ["ada", "grace"][n % 2]},
        "updated_at": updated,
    }


class FakeGitHub:
    """Issues and pulls of one repository, paginated like GitHub: ``page``/``per_page`` and ``Link``."""

    def __init__(self, server: APIServer) -> None:
        self.server = server
        self.issues = [issue(n, f"2024-05-{n:02d}T10:00:00Z") for n in range(1, 8)]
        self.pulls = [
            {**issue(n, f"2024-06-{n:02d}T10:00:00Z"), "id": 9000 + n, "head": {"ref": f"b{n}"}} for n in (1, 2, 3, 4)
        ]
        server.route(f"/repos/{OWNER}/{REPO}/issues")(lambda r: self.page(r, self.issues, since=True))
        server.route(f"/repos/{OWNER}/{REPO}/pulls")(lambda r: self.page(r, self.pulls, since=False))

    def page(self, req: Request, records: list[dict[str, Any]], *, since: bool) -> Reply:
        if req.headers.get("authorization") != "Bearer s3cret":
            return Reply(401, {"message": "Bad credentials"})
        rows = sorted(records, key=lambda r: r["updated_at"])
        if since and "since" in req.query:
            rows = [r for r in rows if r["updated_at"] >= req.query["since"]]
        size, number = int(req.query.get("per_page", 30)), int(req.query.get("page", 1))
        chunk = rows[(number - 1) * size : number * size]
        links = []
        if number * size < len(rows):
            query = {**req.query, "page": str(number + 1)}
            links.append(f'<{self.server.url}{req.path}?{urlencode(query)}>; rel="next"')
        last = max(1, -(-len(rows) // size))
        links.append(f'<{self.server.url}{req.path}?{urlencode({**req.query, "page": str(last)})}>; rel="last"')
        return Reply(200, chunk, headers={"Link": ", ".join(links)})


def pipeline(tmp_path: Path) -> hw.Pipeline:
    return hw.pipeline(
        "github",
        destination=hw.destinations.duckdb(str(tmp_path / "github.duckdb")),
        dataset="raw",
        pipelines_dir=tmp_path / "pipelines",
        progress=False,
    )


def config(api: APIServer, **more: Any) -> dict[str, Any]:
    return {"owner": OWNER, "repo": REPO, "token": "s3cret", "base_url": api.url, "per_page": 3, **more}


def test_the_plugin_loads_issues_and_pulls_page_by_page_then_only_what_changed(api: APIServer, tmp_path: Path) -> None:
    github = FakeGitHub(api)
    p = pipeline(tmp_path)
    p.run(registry.make("github", config(api)))
    assert p.query("select number from raw.issues order by number").to_pylist() == [{"number": n} for n in range(1, 8)]
    assert p.query("select count(*) n from raw.pulls").to_pylist() == [{"n": 4}]
    # nested objects became columns
    assert p.query("select count(user__login) n from raw.issues").to_pylist() == [{"n": 7}]
    issues = api.calls(f"/repos/{OWNER}/{REPO}/issues")
    assert [r.query.get("page", "1") for r in issues] == ["1", "2", "3"]  # 7 issues, 3 a page, by the Link header
    first = issues[0].query
    assert first == {
        "per_page": "3",
        "state": "all",
        "sort": "updated",
        "direction": "asc",
        "since": "1970-01-01T00:00:00Z",
    }
    assert len(api.calls(f"/repos/{OWNER}/{REPO}/pulls")) == 2
    assert "since" not in api.calls(f"/repos/{OWNER}/{REPO}/pulls")[0].query
    assert all(r.headers["authorization"] == "Bearer s3cret" for r in api.requests)

    # an issue changes, one is opened: the next run asks since the last updated_at and merges on id
    github.issues[2] = issue(3, "2024-05-20T10:00:00Z", title="issue 3, edited")
    github.issues.append(issue(8, "2024-05-21T10:00:00Z"))
    api.requests.clear()
    p.run(registry.make("github", config(api, resources=["issues"])))
    again = api.calls(f"/repos/{OWNER}/{REPO}/issues")
    assert again[0].query["since"] == "2024-05-07T10:00:00Z"
    assert api.calls(f"/repos/{OWNER}/{REPO}/pulls") == []
    rows = p.query("select number, title from raw.issues order by number").to_pylist()
    assert len(rows) == 8
    assert rows[2] == {"number": 3, "title": "issue 3, edited"}


def test_a_wrong_token_is_a_fatal_error_naming_the_credentials(api: APIServer, tmp_path: Path) -> None:
    FakeGitHub(api)
    with pytest.raises(hw.errors.HeadwaterError, match="401"):
        pipeline(tmp_path).run(registry.make("github", config(api, token="wrong", resources=["pulls"])))


@pytest.mark.parametrize(
    ("options", "message", "hint"),
    [
        ({"owner": "a", "repo": "b", "resources": ["isues"]}, "unknown resource 'isues'", "did you mean 'issues'?"),
        ({"owner": "a", "repo": "b", "tokn": "x"}, "source 'github' has no option 'tokn'", "did you mean 'token'?"),
        ({"owner": "a"}, "source 'github' needs the option 'repo'", "required options: owner, repo"),
    ],
)
def test_plugin_config_errors(options: dict[str, Any], message: str, hint: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        registry.make("github", options)
    assert err.value.hint is not None
    assert err.value.hint.startswith(hint)


def test_recorded_github_pagination_through_the_plugin(api: APIServer, tmp_path: Path) -> None:
    """octokit/fixtures' recorded session: 13 issues over 5 pages, the real Link headers."""
    recording = json.loads(shared_data("octokit", "api.github.com_paginate-issues.json").read_text())
    pages: dict[tuple[str, str], Reply] = {}
    for exchange in recording:
        path, _, query = exchange["path"].partition("?")
        page = dict(q.split("=") for q in query.split("&")).get("page", "1")
        headers = {"Link": exchange["headers"]["link"].replace("https://api.github.com", api.url)}
        pages[(path, page)] = Reply(exchange["status"], exchange["response"], headers=headers)

    def replay(req: Request) -> Reply:  # what the recording answered for this page, whatever else is asked
        return pages.get((req.path, req.query.get("page", "1")), Reply(404, {"message": "not recorded"}))

    for path, _ in pages:
        api.route(path)(replay)
    p = pipeline(tmp_path)
    source = registry.make(
        "github",
        {"owner": "octokit-fixture-org", "repo": "paginate-issues", "base_url": api.url, "per_page": 3},
    )
    p.run(source.with_resources("issues"))
    got = p.query("select number from raw.issues order by number").to_pylist()
    assert [r["number"] for r in got] == list(range(1, 14))
    assert len(api.requests) == 5
    assert api.requests[0].query["per_page"] == "3"
    assert "authorization" not in api.requests[0].headers  # no token, no auth header


def test_the_plugin_is_used_by_name_from_a_toml_flow(api: APIServer, tmp_path: Path) -> None:
    """VDK's "GitHub extractor built on the HTTP extractor": named in a flows file, run by ``headwater run``,
    its token from secrets.toml."""
    from headwater.cli import main

    FakeGitHub(api)
    (tmp_path / "flows.toml").write_text(
        f"""
[sources.gh]
type = "github"
config = {{ owner = "{OWNER}", repo = "{REPO}", base_url = "{api.url}", per_page = 3, resources = ["issues"] }}

[destinations.local]
type = "duckdb"
config = {{ path = "{tmp_path / "gh.duckdb"}" }}

[[flows]]
name = "github_issues"
from = "gh"
to = "local"
dataset = "raw"
"""
    )
    (tmp_path / "secrets.toml").write_text('[sources.gh.config]\ntoken = "s3cret"\n')
    assert main(["run", str(tmp_path / "flows.toml"), "--pipelines-dir", str(tmp_path / "p")]) == 0
    assert all(r.headers["authorization"] == "Bearer s3cret" for r in api.requests)
    p = hw.pipeline("github_issues", destination=hw.destinations.duckdb(str(tmp_path / "gh.duckdb")), dataset="raw")
    assert p.query("select count(*) n from raw.issues").to_pylist() == [{"n": 7}]
    # an option the plugin does not have is a mistake in the file, found before anything runs
    text = (tmp_path / "flows.toml").read_text().replace("per_page = 3", "per_pag = 3")
    (tmp_path / "flows.toml").write_text(text)
    assert main(["run", str(tmp_path / "flows.toml"), "--pipelines-dir", str(tmp_path / "p")]) == 2
