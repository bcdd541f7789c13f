"""``headwater singer-target``: Headwater as a Singer target, loading into any Headwater destination.

::

    tap-github --config github.json --state state.json | \\
        headwater singer-target --destination duckdb:///warehouse.duckdb --dataset github > new_state.json

Singer messages are read from stdin in bulk (ahead, on a thread; each stretch of lines parsed at once); each
stream goes to a table of its own, with the hints its SCHEMA message gives (its key properties as the
primary key and ``merge``, else ``append``; ``ACTIVATE_VERSION`` replaces the table). The whole input
is one pipeline run, so one transaction at the destination; the last STATE value is written to stdout
only once that run has committed, so a state printed always describes data that landed. A failed run
prints no state and exits with code 1.

With ``--commit-every N``, a load is committed after every N records, at the next STATE message, and
that state is printed after its commit (a long-running tap's progress survives a crash of the target).
A stretch holding an ACTIVATE_VERSION runs to the end of the input: the replaced table gets every row
of the new version in one load.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
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


class Feed:
    """The message batches of stdin, taken a stretch at a time: :meth:`take` ends a stretch right
    after the first STATE message once ``every`` records were seen (never, with ``every`` 0, or once
    the stretch holds an ACTIVATE_VERSION: a replaced table must get every row of the version in
    one load)."""

    def __init__(self, batches: Iterator[list[Any]]) -> None:
        self.batches = batches
        self.rest: list[Any] | None = None

    def more(self) -> bool:
        """Whether any message is left."""
        if self.rest is None:
            self.rest = next(self.batches, None)
        return self.rest is not None

    def take(self, every: int) -> Iterator[list[Any]]:
        """The batches of one stretch (see the class docstring)."""
        from headwater.sources.singer.messages import RecordLines

        records, whole = 0, every <= 0
        while self.more():
            batch, self.rest = self.rest, None
            assert batch is not None
            if whole:
                yield batch
                continue
            cut = None
            for i, m in enumerate(batch):
                if isinstance(m, RecordLines):
                    records += len(m.lines)
                    continue
                kind = m.get("type")
                if kind == "RECORD":
                    records += 1
                elif kind == "ACTIVATE_VERSION":
                    whole = True
                    break
                elif kind == "STATE" and records >= every:
                    cut = i + 1
                    break
            if cut is None:
                yield batch
                continue
            yield batch[:cut]
            self.rest = batch[cut:] or None
            return


def load_stream(
    stdin: IO[bytes],
    *,
    destination: str,
    dataset: str | None,
    pipeline_name: str,
    pipelines_dir: str | None = None,
    commit_every: int = 0,
    on_commit: Callable[[Any], None] = lambda state: None,
) -> tuple[list[Any], int]:
    """Load the Singer messages of ``stdin``: one run, or one run per ``commit_every`` records (cut
    at STATE messages); after each run commits, ``on_commit`` is told the last STATE value it holds.
    Return the runs' infos and how many lines were skipped as not JSON."""
    from headwater.pipelines.pipeline import pipeline
    from headwater.schema.hints import build_hints
    from headwater.sources.connector.process import read_messages
    from headwater.sources.singer.messages import Messages, StreamTables, split_messages
    from headwater.streams.resource import Resource

    skipped = _Skipped()
    feed = Feed(read_messages(stdin, lambda lines: split_messages(lines, skipped)))
    tables = StreamTables()  # hints learned from SCHEMA messages carry over from one run to the next
    p = pipeline(pipeline_name, destination=destination, dataset=dataset, pipelines_dir=pipelines_dir, progress=False)
    infos = []
    first = True
    while first or feed.more():
        first = False
        states: list[Any] = []
        messages = Messages(tables, states.append)

        def singer(messages: Any = messages) -> Iterator[Hinted]:
            yield from messages.items(feed.take(commit_every))

        infos.append(p.run(Resource(singer, name="singer", hints=build_hints(resource="singer"))))
        tables.committed()
        if states:
            on_commit(states[-1])
    return infos, skipped.count


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
        commit_every: Annotated[
            int,
            typer.Option(
                "--commit-every",
                metavar="N",
                help="commit after N records, at the next STATE message, and print that state (0: one load)",
            ),
        ] = 0,
    ) -> None:
        """Read Singer messages on stdin, load them, then write the last STATE to stdout."""
        logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")

        def emit(state: Any) -> None:
            sys.stdout.buffer.write(orjson.dumps(state) + b"\n")
            sys.stdout.flush()

        if commit_every < 0:
            raise typer.BadParameter("--commit-every must be 0 or more")
        infos, skipped = load_stream(
            sys.stdin.buffer,
            destination=destination,
            dataset=dataset,
            pipeline_name=pipeline,
            pipelines_dir=pipelines_dir,
            commit_every=commit_every,
            on_commit=emit,
        )
        if skipped:
            print(f"warning: {skipped} input line(s) were not JSON messages and were skipped", file=sys.stderr)
        rows = sum(sum(info.table_rows().values()) for info in infos)
        print(f"loaded {rows} row(s) in {len(infos)} load(s)", file=sys.stderr)
