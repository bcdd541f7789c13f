"""Alerts and logs: a callable on_failure hook, JSON-line logs, and access records in a file of their own.

    .venv/bin/python examples/alerts.py

Two runs of a pipeline reading a CSV drop folder: the first succeeds (on_success reports the rows),
the second meets a damaged feed and fails (on_failure gets the summary with the error; the run
still raises its own error). Every log record of both runs is a JSON line in ``pipeline.log.jsonl``,
tagged with the pipeline, the run id and the load id; the access records (what was read, from where,
by whom) also go to ``access.log.jsonl``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import headwater as hw
from headwater.errors import HeadwaterError
from headwater.observe.logs import JsonFormatter

HERE = Path.cwd()


def page_the_on_call(summary: dict[str, Any]) -> None:
    """What an alert would send (a chat message, a ticket): here, printed."""
    error = summary["error"]
    print(f"ALERT {summary['pipeline']} run {summary['run_id']} failed after {summary['seconds']:.2f}s:")
    print(f"  {error['type']}: {error['message'].splitlines()[0]}")


def report(summary: dict[str, Any]) -> None:
    rows = sum(t["rows"] for load in summary["info"]["loads"] for t in load["tables"].values())
    print(f"ok {summary['pipeline']} run {summary['run_id']}: {rows} rows")


def damaged_feed() -> Iterator[dict[str, Any]]:
    yield {"id": 100, "amount": 1.0}
    raise ValueError("line 2 of the partner feed is truncated")


def main() -> None:
    drops = HERE / "drops"
    drops.mkdir(exist_ok=True)
    (drops / "orders.csv").write_text("id,amount\n1,9.5\n2,12.0\n3,3.25\n")

    # every record of Headwater as a JSON line in a file...
    hw.configure_logging("INFO", format="json", stream=open(HERE / "pipeline.log.jsonl", "a"))  # noqa: SIM115
    # ...and the access records in a file of their own as well
    access = logging.FileHandler(HERE / "access.log.jsonl")
    access.setFormatter(JsonFormatter())
    logging.getLogger("headwater.access").addHandler(access)

    p = hw.pipeline("orders", dataset="raw", progress=False, on_failure=page_the_on_call, on_success=report)
    p.run(hw.sources.filesystem(str(drops), glob="*.csv", name="orders"))
    try:
        p.run(hw.resource(damaged_feed, name="partner_orders"))
    except HeadwaterError as exc:
        print(f"the run raised its own error: {type(exc).__name__}")
    p.drop_pending()  # the partial package of the failed run: not wanted here

    runs = {json.loads(line)["run_id"] for line in (HERE / "pipeline.log.jsonl").read_text().splitlines()}
    reads = [json.loads(line)["access"] for line in (HERE / "access.log.jsonl").read_text().splitlines()]
    print(f"log lines from {len(runs - {None})} runs; reads: {[(Path(r['url']).name, r['rows']) for r in reads]}")


if __name__ == "__main__":
    main()
