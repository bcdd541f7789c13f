"""The ``headwater`` command line.

::

    headwater --help
    headwater pipeline list
    headwater pipeline info NAME
    headwater pipeline state NAME [--json]
    headwater pipeline reset NAME [--resource R] [--yes]
    headwater pipeline drop-pending NAME [--load-id ID]... [--yes]
    headwater pipeline drop NAME [--yes]
    headwater schema show NAME [--schema S] [--format table|json]
    headwater runs NAME [--limit N] [--json]
    headwater runs show NAME RUN_ID [--json]
    headwater sources list [--json]
    headwater sources show NAME [--json]
    headwater init SOURCE DESTINATION [--dir DIR] [--force]
    headwater dashboard [NAME...] [--pipelines-dir DIR] [--port PORT] [--no-browser]

The pipeline, schema and runs commands take ``--pipelines-dir`` (default ``~/.headwater/pipelines`` or
``$HEADWATER_HOME/pipelines``), the folder that holds pipelines' working folders.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``headwater`` command and of ``python -m headwater``; returns the exit code."""
    from headwater.cli.app import build_app
    from headwater.errors import HeadwaterError

    app = build_app()
    try:
        app(args=argv if argv is not None else sys.argv[1:], prog_name="headwater")
    except HeadwaterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except SystemExit as exc:  # typer ends every run, and every usage error, with SystemExit
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0
