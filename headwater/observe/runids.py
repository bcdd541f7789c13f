"""Run ids: the UTC time a run starts, in the load-id format (``20261203T092700.123456Z``; they sort)."""

from __future__ import annotations

import datetime as dt
import threading
import time

_lock = threading.Lock()
_last = ""

FORMAT = "%Y%m%dT%H%M%S.%fZ"


def new_run_id() -> str:
    """A new run id: now in UTC, microseconds, never equal to one this process gave before."""
    global _last
    with _lock:
        run_id = dt.datetime.now(dt.UTC).strftime(FORMAT)
        while run_id <= _last:  # two runs in one microsecond (or a clock step back) keep distinct ids
            time.sleep(0.000001)
            run_id = dt.datetime.now(dt.UTC).strftime(FORMAT)
        _last = run_id
        return run_id


def started_at(run_id: str) -> dt.datetime:
    """The UTC start time a run id encodes."""
    return dt.datetime.strptime(run_id, FORMAT).replace(tzinfo=dt.UTC)
