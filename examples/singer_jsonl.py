"""A Singer tap as a source: tap-jsonl reads the sample GitHub events, Headwater loads them.

    .venv/bin/python examples/singer_jsonl.py

The tap is named by its pip requirement: the first run installs it into an environment of its own
(under ~/.cache/headwater/connectors), later runs reuse it. Each stream becomes a table with the
stream's key (merge) and types; nested objects are flattened and lists become child tables. A
second run merges on the key: no row is loaded twice.
"""

from __future__ import annotations

from pathlib import Path

import headwater as hw

SAMPLE = Path(__file__).resolve().parent / "data" / "github_events.jsonl"


def main() -> None:
    tap = hw.sources.singer(
        "tap-jsonl==0.3.1",
        config={"path": str(SAMPLE), "stream_name": "events", "primary_keys": ["id"]},
        select=["events"],
    )
    pipeline = hw.pipeline(
        "singer_jsonl", destination=hw.destinations.duckdb("singer.duckdb"), dataset="github", progress=False
    )
    for _ in range(2):
        info = pipeline.run(tap)
        print("loaded:", info.table_rows())
    for table in ("events", "events__payload__commits"):
        (count,) = pipeline.dataset().query(f"select count(*) from {table}").to_pylist()[0].values()
        print(f"{table}: {count} rows")


if __name__ == "__main__":
    main()
