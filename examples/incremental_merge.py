"""Incremental merge: each run asks an (in-memory) API only for what changed, and keeps the latest version.

    .venv/bin/python examples/incremental_merge.py

Three runs against a changing API: the cursor lets each run fetch only new and updated issues, the
merge keeps one row per issue (children included), and the state moves with the data.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import headwater as hw


class FakeIssuesAPI:
    """A stand-in for a REST API returning issues updated since a timestamp."""

    def __init__(self) -> None:
        self.issues: dict[int, dict[str, Any]] = {}
        self.clock = 0

    def upsert(self, number: int, title: str, labels: list[str]) -> None:
        self.clock += 1
        self.issues[number] = {
            "number": number,
            "title": title,
            "labels": [{"name": name} for name in labels],
            "updated_at": f"2024-05-01T00:{self.clock // 60:02d}:{self.clock % 60:02d}Z",
        }

    def since(self, timestamp: str) -> list[dict[str, Any]]:
        return [dict(i) for i in self.issues.values() if i["updated_at"] >= timestamp]


API = FakeIssuesAPI()
REQUESTS: list[int] = []


@hw.resource(table_name="issues", write_disposition="merge", primary_key="number")
def issues(updated=hw.incremental("updated_at", initial_value="2024-05-01T00:00:00Z")) -> Iterator[Any]:
    page = API.since(updated.start_value)
    REQUESTS.append(len(page))
    yield page


def main() -> None:
    pipeline = hw.pipeline("issues_demo", destination="duckdb", dataset="tracker", progress=False)
    for n in range(1, 6):
        API.upsert(n, f"issue {n}", ["bug"])
    print(pipeline.run(issues))

    API.upsert(2, "issue 2 (renamed)", ["bug", "urgent"])  # an update
    API.upsert(6, "issue 6", [])  # a new issue
    print(pipeline.run(issues))
    print(pipeline.run(issues))  # nothing changed since: nothing loaded

    rows = pipeline.query("select number, title from issues order by number").to_pylist()
    labels = pipeline.query(
        "select i.number, l.name from issues i join issues__labels l on l._hw_root_id = i._hw_id order by 1, 2"
    ).to_pylist()
    print("issues:", [(r["number"], r["title"]) for r in rows])
    print("labels:", [(r["number"], r["name"]) for r in labels])
    print("rows fetched per run:", REQUESTS)


if __name__ == "__main__":
    main()
