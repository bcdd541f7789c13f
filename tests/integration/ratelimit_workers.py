"""Worker processes of the shared rate limit tests (a module of its own: a spawned worker imports it
and nothing more than it needs)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from headwater.executors.ratelimit import RateLimit, Sharing


def take_slots(sharing: Sharing | None, per_second: float, k: int, start: Any, out: Any) -> None:
    """Take ``k`` slots of the limit of ``http://api.test/`` once ``start`` is set; put the wall times
    at which they came into ``out``. ``sharing``: installed first (None: as inherited)."""
    if sharing is not None:
        sharing.install()
    start.wait()
    out.put(take_slots_here(per_second, k)[1])


def take_slots_here(per_second: float, k: int) -> tuple[str, list[float]]:
    """Take ``k`` slots of the limit of ``http://api.test/`` (shared as the environment says); the kind
    of slots taken and the wall time at which each came."""
    limit = RateLimit(per_second, "http://api.test/")
    stamps = []
    for _ in range(k):
        limit.wait()
        stamps.append(time.time())
    return type(limit.slots()).__name__, stamps


def extract_partition(base_url: str, path: str, per_second: float, folder: str, ready: Any) -> tuple[bool, int]:
    """Build a REST source in this process and, once every worker is ready (``ready``: a barrier),
    extract the pages of ``path`` into a package; whether one was made, and the process id."""
    import headwater as hw

    name = path.strip("/")
    source = hw.sources.rest_api(
        {
            "client": {
                "base_url": base_url,
                "paginator": {"type": "page_number", "total_path": "total_pages"},
                "rate_limit": per_second,
                "concurrency": 4,
            },
            "resources": [{"name": name, "endpoint": path}],
        }
    )
    pipeline = hw.pipeline(
        name,
        destination=hw.destinations.duckdb(str(Path(folder) / f"{name}.duckdb")),
        pipelines_dir=folder,
        progress=False,
    )
    ready.wait()
    return pipeline.extract(source) is not None, os.getpid()
