"""ETL with Hamilton between two pipelines (the shape of dlt's "dlt + Hamilton" guide).

    pip install 'headwater[hamilton]'
    .venv/bin/python examples/hamilton_etl.py

1. Extract and load: pipeline A loads the bundled sample of GitHub-like events, raw, into
   ``hamilton_etl.duckdb`` (dataset ``raw``: ``events`` and its child table ``events__payload__commits``).
2. Transform: a Hamilton dataflow (the functions below, each one node, wired by their argument names)
   reads those tables back through ``pipeline_a.dataset()`` as pandas frames and computes two reports.
3. Load: pipeline B loads the reports into the same file, dataset ``reports``, replacing them on each run.

Hamilton builds the dataflow from this module's public functions; everything else here starts with an
underscore so that it stays out of the graph.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

import headwater as hw

SAMPLE = Path(__file__).resolve().parent / "data" / "github_events.jsonl"


# -- the Hamilton dataflow: one node per function, inputs by argument name ---------------------------
def events(raw_events: pd.DataFrame) -> pd.DataFrame:
    """The events with the columns the reports use."""
    return raw_events[["_hw_id", "type", "actor__login", "repo__name", "created_at"]]


def commits(raw_commits: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """Each commit with its push event's repository (the child table joined to its parent rows)."""
    joined = raw_commits.merge(events, left_on="_hw_parent_id", right_on="_hw_id", suffixes=("", "_event"))
    return joined[["repo__name", "author__name", "sha"]]


def events_per_type(events: pd.DataFrame) -> pd.DataFrame:
    """How many events of each type, and by how many actors."""
    grouped = events.groupby("type").agg(events=("_hw_id", "count"), actors=("actor__login", "nunique"))
    return grouped.reset_index().sort_values("type")


def commits_per_repo(commits: pd.DataFrame) -> pd.DataFrame:
    """Commits and distinct authors per repository."""
    grouped = commits.groupby("repo__name").agg(commits=("sha", "count"), authors=("author__name", "nunique"))
    return grouped.reset_index().rename(columns={"repo__name": "repo"}).sort_values("repo")


# -- the pipelines --------------------------------------------------------------------------------
@hw.resource(name="events", write_disposition="replace", primary_key="id")
def _raw_events(path: Path = SAMPLE) -> Iterator[dict[str, Any]]:
    with open(path, "rb") as fh:
        for line in fh:
            yield orjson.loads(line)


def _run(workdir: Path) -> dict[str, pd.DataFrame]:
    from hamilton import driver, telemetry

    telemetry.disable_telemetry()  # Hamilton reports usage over the network unless told not to
    database = str(workdir / "hamilton_etl.duckdb")
    # 1. extract and load the raw data
    pipeline_a = hw.pipeline("hamilton_raw", destination=hw.destinations.duckdb(database), dataset="raw")
    print(pipeline_a.run(_raw_events))

    # 2. transform with Hamilton, reading what pipeline A loaded
    raw = pipeline_a.dataset()
    inputs = {"raw_events": raw.table("events").df(), "raw_commits": raw.table("events__payload__commits").df()}
    dataflow = driver.Builder().with_modules(sys.modules[__name__]).build()
    reports = dataflow.execute(["events_per_type", "commits_per_repo"], inputs=inputs)

    # 3. load the results
    pipeline_b = hw.pipeline("hamilton_reports", destination=hw.destinations.duckdb(database), dataset="reports")
    print(
        pipeline_b.run(
            [
                hw.resource(reports["events_per_type"], name="events_per_type", write_disposition="replace"),
                hw.resource(reports["commits_per_repo"], name="commits_per_repo", write_disposition="replace"),
            ]
        )
    )
    return reports


if __name__ == "__main__":
    results = _run(Path.cwd())
    for name, frame in results.items():
        print(f"\n{name}:\n{frame.to_string(index=False)}")
