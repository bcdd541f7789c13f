"""The dashboard's web application (Starlette) and its server (uvicorn), on 127.0.0.1 only.

Routes: ``/`` the page, ``/static/...`` its script and style, ``/static/plotly.min.js`` the chart library
as the installed ``plotly`` package ships it (nothing comes from the network), ``/api/pipelines`` the
pipelines shown and ``/api/pipelines/{id}`` one pipeline's detail (:mod:`.gather`). The pipelines
folder is read again on every request: a run that ends while the page is open shows on reload.
"""

from __future__ import annotations

import socket
import threading
import webbrowser
from pathlib import Path
from typing import Any

from headwater.errors import ConfigError, did_you_mean
from headwater.observe.dashboard import gather
from headwater.optional import require

#: the page, its script and its style
STATIC = Path(__file__).resolve().parent / "static"
#: the one address the dashboard listens on: it shows state, errors and sample rows, so never the network
HOST = "127.0.0.1"
#: the default port of ``headwater dashboard``
DEFAULT_PORT = 8765


def _libraries() -> tuple[Any, Any, Any, Any]:
    """starlette's application, routing, responses and static files, or the install hint."""
    needed_by = "headwater dashboard"
    require("uvicorn", needed_by, extra="dashboard")
    require("plotly", needed_by, extra="dashboard")
    return (
        require("starlette.applications", needed_by, extra="dashboard", package="starlette"),
        require("starlette.routing", needed_by, extra="dashboard", package="starlette"),
        require("starlette.responses", needed_by, extra="dashboard", package="starlette"),
        require("starlette.staticfiles", needed_by, extra="dashboard", package="starlette"),
    )


def build_app(pipelines_dir: Path, selected: list[str] | None = None) -> Any:
    """The Starlette application showing the pipelines of ``pipelines_dir`` (only ``selected`` ones,
    by pipeline or working-folder name, when given).

    Raises:
        ConfigError: the ``dashboard`` extra is not installed.
        StateError: a selected pipeline has no working folder (checked now, once).
    """
    applications, routing, responses, staticfiles = _libraries()
    gather.workdirs(pipelines_dir, selected)  # a misspelled name is refused before anything is served
    lock = threading.Lock()  # one reader at a time: one process opens a DuckDB file one way at a time
    plotly_js: list[bytes] = []

    def shown() -> list[Any]:
        return gather.workdirs(pipelines_dir, selected, strict=False)

    def index(request: Any) -> Any:
        return responses.FileResponse(STATIC / "index.html", media_type="text/html")

    def plotly(request: Any) -> Any:
        if not plotly_js:  # the library as the installed plotly package ships it (about 4.6 MB), read once
            offline = require("plotly.offline", "headwater dashboard", extra="dashboard", package="plotly")
            plotly_js.append(offline.get_plotlyjs().encode("utf-8"))
        return responses.Response(
            plotly_js[0], media_type="text/javascript", headers={"Cache-Control": "max-age=86400"}
        )

    def pipelines(request: Any) -> Any:
        with lock:
            return responses.JSONResponse(
                {"pipelines_dir": str(pipelines_dir), "pipelines": gather.pipeline_summaries(shown())}
            )

    def detail(request: Any) -> Any:
        wanted = request.path_params["id"]
        with lock:
            folders = {w.root.name: w for w in shown()}
            if wanted not in folders:
                return responses.JSONResponse(
                    {"error": f"no pipeline {wanted!r} shown here", "hint": did_you_mean(wanted, list(folders))},
                    status_code=404,
                )
            return responses.JSONResponse(gather.pipeline_detail(folders[wanted]))

    routes = [
        routing.Route("/", index),
        routing.Route("/static/plotly.min.js", plotly),
        routing.Mount("/static", app=staticfiles.StaticFiles(directory=STATIC), name="static"),
        routing.Route("/api/pipelines", pipelines),
        routing.Route("/api/pipelines/{id}", detail),
    ]
    # a page elsewhere could point a name of its own at 127.0.0.1 (DNS rebinding) and read this API: only
    # requests addressed to the loopback names are answered
    trusted = require("starlette.middleware.trustedhost", "headwater dashboard", extra="dashboard", package="starlette")
    middleware = require("starlette.middleware", "headwater dashboard", extra="dashboard", package="starlette")
    hosts = [HOST, "localhost"]
    return applications.Starlette(
        routes=routes, middleware=[middleware.Middleware(trusted.TrustedHostMiddleware, allowed_hosts=hosts)]
    )


def bind(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1:``port`` (0: a free port).

    Raises:
        ConfigError: the port is out of range or taken.
    """
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port {port} is not a TCP port", hint="pass a port from 1 to 65535, or 0 for a free one")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot listen on {HOST}:{port}: {exc.strerror or exc}",
            hint="another program (another dashboard?) uses it: pass --port with another port, or 0 for a free one",
        ) from exc
    sock.listen(128)
    return sock


def serve(
    pipelines_dir: Path,
    selected: list[str] | None = None,
    *,
    port: int = DEFAULT_PORT,
    open_browser: bool = True,
    announce: Any = print,
) -> None:
    """Serve the dashboard on 127.0.0.1 until interrupted; ``announce`` gets the line with its address.

    Raises:
        ConfigError: the ``dashboard`` extra is missing, or the port cannot be used.
        StateError: a selected pipeline has no working folder.
    """
    app = build_app(pipelines_dir, selected)
    uvicorn = require("uvicorn", "headwater dashboard", extra="dashboard")
    sock = bind(port)
    url = f"http://{HOST}:{sock.getsockname()[1]}/"
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    announce(f"headwater dashboard: {url} (pipelines in {pipelines_dir}; Ctrl+C stops it)")
    if open_browser:
        threading.Timer(0.5, webbrowser.open, args=(url,)).start()
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
