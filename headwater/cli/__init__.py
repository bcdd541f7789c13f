"""The ``headwater`` command line.

::

    headwater --help
    headwater pipeline list
    headwater pipeline info NAME
    headwater schema show NAME [--schema S] [--format table|json]

Every command takes ``--pipelines-dir`` (default ``~/.headwater/pipelines`` or
``$HEADWATER_HOME/pipelines``), the folder that holds pipelines' working folders.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``headwater`` command and of ``python -m headwater``."""
    from headwater.cli.app import build_app
    from headwater.errors import HeadwaterError

    app = build_app()
    try:
        app(args=argv if argv is not None else sys.argv[1:], prog_name="headwater", standalone_mode=False)
    except HeadwaterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except SystemExit as exc:
        return int(exc.code or 0)
    except Exception as exc:
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            return exc.exit_code
        if isinstance(exc, click.exceptions.Abort):
            print("aborted", file=sys.stderr)
            return 1
        raise
    return 0
