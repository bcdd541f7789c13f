"""A GitHub source in a few lines, specialised from the generic REST API source.

``github(owner, repo)`` describes the API once: bearer auth, the ``Link`` header paginator, issues
loaded incrementally with ``since=`` and merged by id, and the comments of every issue as a dependent
resource. Everything else (retries, rate limit, concurrent calls, state) comes from ``rest_api``.

To stay offline, this script serves a small stand-in for api.github.com on 127.0.0.1 and runs the
pipeline twice: the second run asks only for what changed since the first. Against the real API:

    source = github("duckdb", "duckdb", token=os.environ["GITHUB_TOKEN"])
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import headwater as hw


def github(
    owner: str,
    repo: str,
    *,
    token: str | None = None,
    base_url: str = "https://api.github.com",
    since: str = "1970-01-01T00:00:00Z",
) -> Any:
    """Issues (merged by id, incremental on updated_at) and their comments, for one repository."""
    return hw.sources.rest_api(
        {
            "name": "github",
            "client": {
                "base_url": base_url,
                "auth": {"type": "bearer", "token": token} if token else None,
                "headers": {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"},
                "paginator": "header_link",
                "rate_limit": 20,  # requests per second, for all streams together
            },
            "resource_defaults": {
                "primary_key": "id",
                "write_disposition": "merge",
                "endpoint": {"params": {"per_page": 100}},
            },
            "resources": [
                {
                    "name": "issues",
                    "endpoint": {
                        "path": f"repos/{owner}/{repo}/issues",
                        "params": {"state": "all", "sort": "updated", "direction": "asc"},
                        "incremental": {"cursor_path": "updated_at", "start_param": "since", "initial_value": since},
                    },
                },
                {
                    "name": "comments",
                    "endpoint": {
                        "path": f"repos/{owner}/{repo}/issues/{{resources.issues.number}}/comments",
                        "response_actions": [{"status_code": 404, "action": "ignore"}],  # a deleted issue
                    },
                    "include_from_parent": ["number"],
                },
            ],
        }
    )


# -- a stand-in for api.github.com ------------------------------------------------------------------
ISSUES = [
    {
        "id": 1000 + n,
        "number": n,
        "title": f"issue {n}",
        "state": "open",
        "user": {"login": ["ada", "linus", "grace"][n % 3]},
        "labels": [{"name": "bug"}] if n % 2 else [],
        "updated_at": f"2024-03-{n:02d}T12:00:00Z",
    }
    for n in range(1, 8)
]
COMMENTS = {n: [{"id": 5000 + n * 10 + k, "body": f"comment {k} on #{n}"} for k in range(n % 3)] for n in range(1, 8)}
PAGE = 3
requests_seen: list[str] = []


class FakeGitHub(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        requests_seen.append(self.path)
        parts = url.path.strip("/").split("/")
        if parts[-1] == "comments":
            rows: list[Any] = COMMENTS.get(int(parts[-2]), [])
        else:
            since = query.get("since", "")
            rows = sorted((i for i in ISSUES if i["updated_at"] >= since), key=lambda i: i["updated_at"])
        page = int(query.get("page", "1"))
        body = json.dumps(rows[(page - 1) * PAGE : page * PAGE]).encode()
        self.send_response(200)
        if page * PAGE < len(rows):
            query["page"] = str(page + 1)
            following = "&".join(f"{k}={v}" for k, v in query.items())
            self.send_header("Link", f'<http://{self.headers["Host"]}{url.path}?{following}>; rel="next"')
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeGitHub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base_url = f"http://127.0.0.1:{server.server_address[1]}"
    pipeline = hw.pipeline("github_api", destination="duckdb", dataset="github", progress=False)

    print(pipeline.run(github("acme", "rocket", base_url=base_url)))
    first = len(requests_seen)

    ISSUES[1] = {**ISSUES[1], "title": "issue 2 (renamed)", "updated_at": "2024-04-01T00:00:00Z"}
    COMMENTS[2] = [*COMMENTS[2], {"id": 9999, "body": "a new comment on #2"}]
    print(pipeline.run(github("acme", "rocket", base_url=base_url)))
    server.shutdown()

    issues = pipeline.query("select number, title from github.issues order by number").to_pylist()
    print("issues:", [(r["number"], r["title"]) for r in issues])
    comments = pipeline.query("select _issues_number n, count(*) c from github.comments group by 1 order by 1")
    print("comments per issue:", [(r["n"], r["c"]) for r in comments.to_pylist()])
    print(f"requests: {first} in the first run, {len(requests_seen) - first} in the second")
    print("second run asked for:", [r for r in requests_seen[first:] if "/comments" not in r])


if __name__ == "__main__":
    main()
