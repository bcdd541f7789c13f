"""ELT with Hamilton and Ibis: load raw data, then transform it inside the destination.

    pip install 'headwater[ibis,hamilton]'
    python examples/hamilton_elt.py

The shape of dlt's Hamilton guide, with Headwater:

1. **Extract and load** the bundled sample of GitHub-like events, raw, into DuckDB (dataset ``github``).
2. **SQL models** (``models=``) run inside DuckDB right after the load: ``push_events`` (one row per
   push) and ``pushes_per_repo``, which reads ``push_events`` and so runs after it, whatever the order
   they are listed in. Each is recorded in ``_hw_models`` with the load id.
3. **A Hamilton dataflow** whose nodes are the public functions of this module: each takes an Ibis
   table (from ``pipeline.dataset().ibis()``) and returns an Ibis expression, so nothing leaves the
   database until the results are materialized as tables next to the raw data
   (``backend.create_table(name, expression, overwrite=True)``).

The result is ./hamilton_elt.duckdb with the raw tables, the SQL models' tables and the Hamilton
tables ``repo_activity``, ``top_committers`` and ``daily_events``, all in schema ``github``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import orjson

import headwater as hw

SAMPLE = Path(__file__).resolve().parent / "data" / "github_events.jsonl"

#: the SQL models: table name -> one SELECT; unqualified names are the dataset's tables
MODELS = [
    # listed first, yet runs second: it reads push_events
    {
        "pushes_per_repo": "SELECT repo, count(*) AS pushes, sum(commits) AS commits "
        "FROM push_events GROUP BY repo ORDER BY pushes DESC, repo"
    },
    {
        "push_events": "SELECT e.id, e.repo__name AS repo, e.actor__login AS actor, e.created_at, "
        "count(c._hw_id) AS commits FROM events e LEFT JOIN events__payload__commits c "
        "ON c._hw_parent_id = e._hw_id WHERE e.type = 'PushEvent' GROUP BY ALL"
    },
]

#: the Hamilton nodes materialized as tables
OUTPUTS = ["repo_activity", "top_committers", "daily_events"]


# -- the Hamilton dataflow: each public function is a node, its parameters the nodes it reads --------------
def events(backend: Any) -> ir.Table:
    """The raw events, as loaded."""
    return backend.table("events")


def commits(backend: Any) -> ir.Table:
    """The commits of push events: a child table Headwater made from the lists in the payloads."""
    return backend.table("events__payload__commits")


def push_events(backend: Any) -> ir.Table:
    """The SQL model's table: one row per push, made inside DuckDB right after the load."""
    return backend.table("push_events")


def repo_activity(events: ir.Table, push_events: ir.Table) -> ir.Table:
    """Per repository: events, distinct actors, and pushes with their commits (from the SQL model)."""
    per_repo = events.group_by(repo=events.repo__name).aggregate(
        events=events.count(), actors=events.actor__login.nunique()
    )
    pushes = push_events.group_by("repo").aggregate(pushes=push_events.count(), commits=push_events.commits.sum())
    joined = per_repo.left_join(pushes, "repo").select(
        "repo",
        "events",
        "actors",
        pushes=ibis.coalesce(pushes.pushes, 0),
        commits=ibis.coalesce(pushes.commits, 0),
    )
    return joined.order_by([ibis.desc("events"), "repo"])


def top_committers(commits: ir.Table, top_n: int = 5) -> ir.Table:
    """The authors with the most commits."""
    per_author = commits.group_by(author=commits.author__name).aggregate(commits=commits.count())
    return per_author.order_by([ibis.desc("commits"), "author"]).limit(top_n)


def daily_events(events: ir.Table) -> ir.Table:
    """Events per day and type."""
    day = events.created_at.date()
    return events.group_by(day=day, type=events.type).aggregate(events=events.count()).order_by(["day", "type"])


# -- extract and load ------------------------------------------------------------------------------------
@hw.resource(table_name="events", write_disposition="replace", primary_key="id")
def _raw_events(path: Path = SAMPLE) -> Iterator[list[dict[str, Any]]]:
    """The sample file, in pages of rows (as an API would return them)."""
    with open(path, "rb") as fh:
        rows = [orjson.loads(line) for line in fh]
    for start in range(0, len(rows), 100):
        yield rows[start : start + 100]


def _materialize(backend: Any, name: str, expression: ir.Table) -> None:
    """Make ``name`` the result of ``expression``, computed inside DuckDB.

    ``backend.create_table(name, expression, overwrite=True)`` is the one-call form; with sqlglot 30,
    Ibis 12 renders its ``DROP TABLE IF EXISTS`` without the table's name, so the old table is dropped
    with SQL here and the new one created by Ibis.
    """
    backend.raw_sql(f'DROP TABLE IF EXISTS "{name}"')  # our own constant names
    backend.create_table(name, expression)


def _run() -> None:
    from hamilton import driver, telemetry

    telemetry.disable_telemetry()  # older Hamilton versions send usage data unless told not to

    # 1 + 2: load raw, then the SQL models run in DuckDB (an error in one would raise ModelError here)
    pipeline = hw.pipeline("hamilton_elt", destination="duckdb", dataset="github", models=MODELS)
    info = pipeline.run(_raw_events())
    print(info)

    # 3: the Hamilton dataflow on Ibis, materialized inside DuckDB (a read-write Ibis connection)
    backend = pipeline.dataset().ibis(read_only=False)
    try:
        dr = driver.Builder().with_modules(sys.modules[__name__]).build()
        results = dr.execute(OUTPUTS, inputs={"backend": backend})
        for name in OUTPUTS:
            _materialize(backend, name, results[name])
            print(f"materialized {name}: {backend.table(name).count().execute()} rows")
    finally:
        backend.disconnect()

    print("pushes_per_repo (SQL model):", pipeline.query("SELECT repo, pushes FROM pushes_per_repo").to_pylist()[:3])
    print("top_committers (Hamilton):", pipeline.query("SELECT author, commits FROM top_committers").to_pylist())


if __name__ == "__main__":
    _run()
