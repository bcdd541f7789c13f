"""``headwater singer-target``: Headwater as a Singer target, loading into any Headwater destination.

::

    tap-github --config github.json --state state.json | \\
        headwater singer-target --destination duckdb:///warehouse.duckdb --dataset github > new_state.json

Singer messages are read from stdin in bulk (1 MiB at a time, each chunk's lines parsed at once); each
stream goes to a table of its own, with the hints its SCHEMA message gives (its key properties as the
primary key and ``merge``, else ``append``; ``ACTIVATE_VERSION`` replaces the table). The whole input
is one pipeline run, so one transaction at the destination; the last STATE value is written to stdout
only once that run has committed, so a state printed always describes data that landed. A failed run
prints no state and exits with code 1.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Annotated, Any

import orjson
import typer

if TYPE_CHECKING:
    from headwater.streams.hinted import Hinted

log = logging.getLogger("headwater.singer.target")


class _Skipped:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, line: bytes) -> None:
        self.count += 1
        log.info("not a Singer message, skipped: %s", line[:200].decode("utf-8", "replace"))


def load_stream(
    stdin: IO[bytes], *, destination: str, dataset: str | None, pipeline_name: str, pipelines_dir: str | None = None
) -> tuple[Any, Any, int]:
    """Load the Singer messages of ``stdin`` in one run; return the run's info, the last STATE value
    (None if there was none) and how many lines were skipped as not JSON."""
    from headwater.pipelines.pipeline import pipeline
    from headwater.schema.hints import build_hints
    from headwater.sources.connector.process import parse_lines, read_messages
    from headwater.sources.singer.messages import Messages, StreamTables
    from headwater.streams.resource import Resource

    states: list[Any] = []
    skipped = _Skipped()
    messages = Messages(StreamTables(), states.append)

    def singer() -> Iterator[Hinted]:
        yield from messages.items(read_messages(stdin, lambda lines: parse_lines(lines, skipped)))

    resource = Resource(singer, name="singer", hints=build_hints(resource="singer"))
    p = pipeline(pipeline_name, destination=destination, dataset=dataset, pipelines_dir=pipelines_dir, progress=False)
    info = p.run(resource)
    return info, (states[-1] if states else None), skipped.count


def register(app: typer.Typer) -> None:
    """Add ``singer-target`` to the app."""

    @app.command("singer-target")
    def singer_target(
        destination: Annotated[
            str,
            typer.Option("--destination", help="a destination name or URI (duckdb:///path.duckdb, postgresql://...)"),
        ],
        dataset: Annotated[str | None, typer.Option("--dataset", help="the dataset (schema) to load into")] = None,
        pipeline: Annotated[
            str, typer.Option("--pipeline", help="the pipeline's name (its working folder)")
        ] = "singer_target",
        pipelines_dir: Annotated[
            str | None, typer.Option("--pipelines-dir", metavar="DIR", help="folder of pipeline working folders")
        ] = None,
    ) -> None:
        """Read Singer messages on stdin, load them, then write the last STATE to stdout."""
        logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
        info, state, skipped = load_stream(
            sys.stdin.buffer,
            destination=destination,
            dataset=dataset,
            pipeline_name=pipeline,
            pipelines_dir=pipelines_dir,
        )
        if skipped:
            print(f"warning: {skipped} input line(s) were not JSON messages and were skipped", file=sys.stderr)
        rows = info.table_rows() if hasattr(info, "table_rows") else {}
        print(f"loaded {sum(rows.values())} row(s) into {len(rows)} table(s)", file=sys.stderr)
        if state is not None:
            sys.stdout.buffer.write(orjson.dumps(state) + b"\n")
            sys.stdout.flush()
