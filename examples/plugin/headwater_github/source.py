"""``github(owner, repo)``: a GitHub repository's issues, pull requests and comments.

Built on :func:`headwater.sources.rest_api.rest_api`: this module only describes the API (the paths,
auth, pagination, cursors, keys); retries, rate limits, ``Retry-After`` and GitHub's
``X-RateLimit-Reset``, concurrency and state come from the REST source.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from headwater.errors import ConfigError, did_you_mean
from headwater.sources.rest_api import RESTSource, rest_api

#: the resources this source knows: name -> (path under repos/OWNER/REPO, params, incremental on updated_at)
RESOURCES: dict[str, tuple[str, dict[str, Any], bool]] = {
    # the issues endpoint sorts by update and takes since=: loaded incrementally
    "issues": ("issues", {"state": "all", "sort": "updated", "direction": "asc"}, True),
    # the pulls endpoint has no since=: every run reads them all, merged on id
    "pulls": ("pulls", {"state": "all", "sort": "updated", "direction": "asc"}, False),
    # the comments of every issue and pull request of the repository, incremental like the issues
    "comments": ("issues/comments", {"sort": "updated", "direction": "asc"}, True),
}


def github(
    owner: str,
    repo: str,
    token: str | None = None,
    base_url: str = "https://api.github.com",
    resources: Sequence[str] = ("issues", "pulls"),
    *,
    per_page: int = 100,
    since: str = "1970-01-01T00:00:00Z",
    name: str = "github",
    rate_limit: float | None = 10,
) -> RESTSource:
    """GitHub issues, pull requests and comments of one repository, merged on id.

    Args:
        owner: the repository's owner, a user or an organisation (``"duckdb"``).
        repo: the repository's name (``"duckdb"``).
        token: a GitHub token, sent as a bearer token; without one, GitHub allows 60 requests an
            hour.
        base_url: the API's root; GitHub Enterprise is ``https://HOST/api/v3``.
        resources: which resources to load, among ``issues``, ``pulls`` and ``comments``.
        per_page: records per page (GitHub's maximum is 100); pages follow the ``Link`` header.
        since: the first run's start for the incremental resources (issues, comments), an ISO 8601
            time; later runs start from the last ``updated_at`` loaded.
        name: the source's name (the schema of its tables).
        rate_limit: requests per second for all resources together (``None``: no limit).

    Raises:
        ConfigError: an unknown resource, or a wrong argument.
    """
    if isinstance(resources, str):
        resources = [resources]
    for resource in resources:
        if resource not in RESOURCES:
            raise ConfigError(
                f"github: unknown resource {resource!r}", hint=did_you_mean(resource, RESOURCES, listing="resources")
            )
    if not owner or not repo:
        raise ConfigError("github: owner and repo are required", hint='e.g. owner="duckdb", repo="duckdb"')
    tables: list[dict[str, Any]] = []
    for resource in dict.fromkeys(resources):
        path, params, incremental = RESOURCES[resource]
        endpoint: dict[str, Any] = {"path": f"repos/{owner}/{repo}/{path}", "params": dict(params)}
        if incremental:
            endpoint["incremental"] = {"cursor_path": "updated_at", "start_param": "since", "initial_value": since}
        tables.append({"name": resource, "endpoint": endpoint})
    client: dict[str, Any] = {
        "base_url": base_url,
        "headers": {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"},
        "paginator": "header_link",
    }
    if token:
        client["auth"] = {"type": "bearer", "token": token}
    if rate_limit is not None:
        client["rate_limit"] = rate_limit
    return rest_api(
        {
            "name": name,
            "client": client,
            "resource_defaults": {
                "primary_key": "id",
                "write_disposition": "merge",
                "endpoint": {"params": {"per_page": per_page}},
            },
            "resources": tables,
        }
    )
