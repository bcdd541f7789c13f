"""``headwater dashboard``: the local web page over the pipelines' runs, tables, schemas, state and data quality.

::

    headwater dashboard                       # every pipeline in ~/.headwater/pipelines
    headwater dashboard github jira --port 0  # two pipelines, on a free port
    headwater dashboard --no-browser          # print the address only

It listens on 127.0.0.1 only (see :mod:`headwater.observe.dashboard`) and needs the ``dashboard`` extra.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from headwater.cli.app import PipelinesDir


def register(app: typer.Typer) -> None:
    """Add ``dashboard`` to the app."""

    @app.command("dashboard")
    def dashboard(
        names: Annotated[
            list[str] | None,
            typer.Argument(metavar="NAME", help="the pipelines to show (default: every one in the folder)"),
        ] = None,
        pipelines_dir: PipelinesDir = None,
        port: Annotated[
            int, typer.Option("--port", metavar="PORT", help="the port on 127.0.0.1 (0: a free one)")
        ] = 8765,
        no_browser: Annotated[bool, typer.Option("--no-browser", help="do not open a web browser")] = False,
    ) -> None:
        """Serve a dashboard of the pipelines on http://127.0.0.1:PORT/ until Ctrl+C."""
        from headwater.observe.dashboard.app import serve
        from headwater.pipelines.workdir import default_pipelines_dir

        root = (pipelines_dir or default_pipelines_dir()).expanduser()
        serve(Path(root), names or None, port=port, open_browser=not no_browser, announce=_announce)


def _announce(line: str) -> None:
    typer.echo(line)
