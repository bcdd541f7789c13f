"""Regenerate github_events.jsonl: made-up events shaped like the GitHub events API.

    python examples/data/make_github_events.py

The file is committed; this script documents how it was made (deterministic: same seed, same file).
It has what real event streams have: nested actor/repo/payload objects, lists of commits (with
nested authors) and labels, payload shapes that change with the event type, ISO timestamps, keys
with odd spellings, and a field whose type changes between events.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import orjson

TYPES = ["PushEvent", "IssuesEvent", "WatchEvent", "PullRequestEvent", "CreateEvent"]
USERS = ["ada", "grace", "linus", "guido", "barbara", "ken", "margaret", "dennis", "frances", "edsger"]
REPOS = ["headwater/headwater", "apache/arrow", "duckdb/duckdb", "pola-rs/polars", "pandas-dev/pandas"]
LABELS = ["bug", "enhancement", "good first issue", "documentation", "performance"]


def event(i: int, rnd: random.Random) -> dict:
    kind = TYPES[i % len(TYPES)]
    user = USERS[rnd.randrange(len(USERS))]
    repo = REPOS[rnd.randrange(len(REPOS))]
    created = dt.datetime(2024, 3, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=17 * i)
    payload: dict = {}
    if kind == "PushEvent":
        n = rnd.randint(1, 4)
        payload = {
            "push_id": 17_000_000_000 + i,
            "size": n,
            "ref": "refs/heads/main",
            "commits": [
                {
                    "sha": f"{rnd.getrandbits(160):040x}",
                    "author": {"name": user.title(), "email": f"{user}@example.org"},
                    "message": rnd.choice(["fix: off by one", "feat: faster unnest", "docs: typo", "chore: deps"]),
                    "distinct": rnd.random() > 0.2,
                }
                for _ in range(n)
            ],
        }
    elif kind in ("IssuesEvent", "PullRequestEvent"):
        number = 1000 + i
        payload = {
            "action": rnd.choice(["opened", "closed", "reopened"]),
            "number": number,
            "issue": {
                "title": f"Issue {number}",
                "state": rnd.choice(["open", "closed"]),
                "labels": [
                    {"name": name, "color": f"{rnd.getrandbits(24):06x}"}
                    for name in rnd.sample(LABELS, rnd.randint(0, 3))
                ],
                "comments": rnd.randint(0, 20),
                "closedAt": None if rnd.random() < 0.5 else (created + dt.timedelta(days=2)).isoformat(),
            },
        }
    elif kind == "CreateEvent":
        payload = {"ref": f"v1.{i}", "ref_type": "tag", "master_branch": "main"}
    else:
        payload = {"action": "started"}
    return {
        "id": str(30_000_000_000 + i),
        "type": kind,
        "actor": {"id": 1000 + USERS.index(user), "login": user, "avatar_url": f"https://avatars.example.org/{user}"},
        "repo": {"id": 5000 + REPOS.index(repo), "name": repo},
        "payload": payload,
        "public": True,
        "created_at": created.isoformat().replace("+00:00", "Z"),
        # an odd key, and a value whose type differs between events
        "Org Name": repo.split("/")[0] if i % 3 else None,
        "score": (i % 7) if i % 10 != 9 else "n/a",
    }


def main() -> None:
    rnd = random.Random(2024)
    out = Path(__file__).with_name("github_events.jsonl")
    with open(out, "wb") as fh:
        for i in range(500):
            fh.write(orjson.dumps(event(i, rnd)) + b"\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
