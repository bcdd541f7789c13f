"""The REST case's API in a process of its own, so that serving pages does not compete with the tool
being measured for the interpreter lock: ``python -m bench.rest_server PAGES DELAY`` prints its URL.

``GET /records?offset=N&limit=100`` answers ``{"total": ..., "items": [...]}`` after DELAY seconds;
``/warmup`` serves two pages the same way.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import data as bench_data
from tests.apiserver import APIServer, Reply, Request

LIMIT = 100


def serve(bodies: dict[int, bytes], total: int, delay: float) -> Callable[[Request], Reply]:
    empty = json.dumps({"total": total, "items": []}).encode()

    def reply(request: Request) -> Reply:
        if request.query.get("limit") != str(LIMIT):
            return Reply(400, {"message": f"expected limit={LIMIT}, got {request.query.get('limit')}"})
        return Reply(body=bodies.get(int(request.query.get("offset", 0)), empty), delay=delay)

    return reply


def main() -> None:
    pages, delay = int(sys.argv[1]), float(sys.argv[2])
    total = pages * LIMIT
    with APIServer() as server:
        server.route("/records")(serve(bench_data.api_pages(total, LIMIT), total, delay))
        server.route("/warmup")(serve(bench_data.api_pages(2 * LIMIT, LIMIT), 2 * LIMIT, delay))
        print(server.url, flush=True)
        threading.Event().wait()  # until the benchmark terminates this process


if __name__ == "__main__":
    main()
