"""A local stand-in for an orders REST API, so that examples/flows/flows.toml runs offline.

``python examples/flows/standin.py`` serves it on 127.0.0.1 and prints the two variables the flows
file reads; the tests start it with :func:`serve`. The API: ``GET /orders?page=N&per_page=M`` with
a bearer token, pages of orders (a nested customer, a list of lines), an empty page after the last.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "standin-token-4c1d"
ORDERS = [
    {
        "id": i,
        "placed_at": f"2026-11-{1 + i % 28:02d}T10:00:00Z",
        "customer": {"id": 100 + i % 7, "country": ["DE", "FR", "US", "BR"][i % 4]},
        "lines": [
            {"sku": f"sku-{(i * 3 + k) % 11}", "quantity": 1 + k, "price": 2.5 * (k + 1)} for k in range(1 + i % 3)
        ],
        "status": "shipped" if i % 5 else "cancelled",
    }
    for i in range(1, 48)
]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._reply(401, {"message": "a bearer token is needed"})
        elif parts.path != "/orders":
            self._reply(404, {"message": "Not Found"})
        else:
            page, size = int(query.get("page", "1")), int(query.get("per_page", "10"))
            self._reply(200, ORDERS[(page - 1) * size : page * size])

    def _reply(self, status: int, body: Any) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def serve() -> ThreadingHTTPServer:
    """Start the stand-in on a free port of 127.0.0.1 in a daemon thread; ``server_address`` tells where."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


if __name__ == "__main__":
    server = serve()
    host, port = server.server_address[:2]
    print(f"export ORDERS_API_URL=http://{host}:{port}")
    print(f"export ORDERS_API_TOKEN={TOKEN}")
    print("serving; Ctrl-C stops", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.shutdown()
