"""Progress of a run: rows, rows/s and bytes per resource and table.

Two displays, chosen by ``progress=`` (``"auto"``, the default, picks by whether stderr is a terminal):

* on a terminal, a live table on stderr (rich): per resource, its tables, rows, rows/s and bytes,
  replaced by the run's summary at the end;
* elsewhere (a log file, CI), one line per table when extraction ends, logged at INFO on the
  ``headwater.progress`` logger (so it carries the run's ids and follows the log format)::

      table issues (resource issues): 1,000 rows, 96.0 KiB in 0.42 s (2,381 rows/s)

``progress="log"`` always logs the lines (flows run in parallel do), ``progress=False`` shows neither.
The router reports after every normalized batch, never per row, so progress costs nothing measurable.
Bytes are the Arrow size of the normalized rows.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger("headwater.progress")


class Progress(Protocol):
    """What a run reports its progress to."""

    def stage(self, name: str) -> None:
        """The run entered a stage (``extract + normalize``, ``load <load id>``)."""

    def rows(self, table: str, n: int, *, resource: str | None = None, nbytes: int = 0) -> None:
        """``n`` more rows (``nbytes`` bytes) of ``resource`` went to ``table``."""

    def extracted(self) -> None:
        """Extraction ended: every table it wrote is complete."""

    def close(self, summary: str | None = None) -> None:
        """The run ended; show ``summary`` if given."""


class NullProgress:
    """Shows nothing."""

    def stage(self, name: str) -> None:
        """Show nothing."""

    def rows(self, table: str, n: int, *, resource: str | None = None, nbytes: int = 0) -> None:
        """Show nothing."""

    def extracted(self) -> None:
        """Show nothing."""

    def close(self, summary: str | None = None) -> None:
        """Show nothing."""


@dataclass
class Count:
    """What one resource sent to one table so far."""

    rows: int = 0
    nbytes: int = 0
    #: seconds since the extraction started, at the last batch
    last: float = 0.0

    def rate(self) -> float:
        """Rows per second since the extraction started (0 before a measurable time passed)."""
        return self.rows / self.last if self.last > 0 else 0.0


def human_bytes(n: float) -> str:
    """``1.5 KiB``, ``20.0 MiB``..."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover  # the loop returns


class Tally:
    """Counts per (resource, table), thread-safe (the checks thread may report too)."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.counts: dict[tuple[str, str], Count] = {}
        self._lock = threading.Lock()

    def restart(self) -> None:
        """Measure rates from now (extraction starts)."""
        self.started = time.perf_counter()

    def add(self, table: str, n: int, resource: str | None, nbytes: int) -> None:
        """Count a batch."""
        with self._lock:
            count = self.counts.setdefault((resource or table, table), Count())
            count.rows += n
            count.nbytes += nbytes
            count.last = time.perf_counter() - self.started

    def snapshot(self) -> dict[tuple[str, str], Count]:
        """A copy of the counts."""
        with self._lock:
            return {k: Count(c.rows, c.nbytes, c.last) for k, c in self.counts.items()}

    def by_resource(self) -> dict[str, tuple[list[str], Count]]:
        """Per resource: its tables and the sums over them (rate over the whole extraction so far)."""
        out: dict[str, tuple[list[str], Count]] = {}
        now = time.perf_counter() - self.started
        for (resource, table), c in self.snapshot().items():
            tables, total = out.setdefault(resource, ([], Count(last=now)))
            tables.append(table)
            total.rows += c.rows
            total.nbytes += c.nbytes
        return out


class TerminalProgress:
    """A live table on stderr (rich): per resource, its tables, rows, rows/s and bytes; the summary at the end."""

    def __init__(self, pipeline: str, console: Any = None, *, live: bool = True) -> None:
        from rich.console import Console
        from rich.live import Live

        self.pipeline = pipeline
        self.console = console if console is not None else Console(stderr=True)
        self.tally = Tally()
        self.current = "extract"
        self.started = time.perf_counter()
        self._live = None
        if live:
            self._live = Live(get_renderable=self.render, console=self.console, refresh_per_second=4, transient=True)
            self._live.start()

    def render(self) -> Any:
        """The table as it is now."""
        from rich.table import Table

        elapsed = time.perf_counter() - self.started
        table = Table(title=f"{self.pipeline}: {self.current} ({elapsed:.1f}s)", title_justify="left", min_width=60)
        for name, justify in (("resource", "left"), ("tables", "left"), ("rows", "right"), ("rows/s", "right")):
            table.add_column(name, justify=justify)  # type: ignore[arg-type]  # rich's Literal of justifications
        table.add_column("bytes", justify="right")
        for resource, (tables, c) in self.tally.by_resource().items():
            table.add_row(resource, ", ".join(tables), f"{c.rows:,}", f"{c.rate():,.0f}", human_bytes(c.nbytes))
        return table

    def stage(self, name: str) -> None:
        """Show ``name`` as the current stage."""
        if name.startswith("extract"):
            self.tally.restart()
        self.current = name

    def rows(self, table: str, n: int, *, resource: str | None = None, nbytes: int = 0) -> None:
        """Count ``n`` rows of ``resource`` into ``table``."""
        self.tally.add(table, n, resource, nbytes)

    def extracted(self) -> None:
        """Nothing to do: the table stays until the run ends."""

    def close(self, summary: str | None = None) -> None:
        """Stop the live table and print ``summary``, if given."""
        if self._live is not None:
            self._live.stop()
        if summary:
            self.console.print(summary, highlight=False, markup=False)


class LineProgress:
    """One INFO line per table on ``headwater.progress`` when extraction ends (for logs and CI)."""

    def __init__(self, pipeline: str) -> None:
        self.pipeline = pipeline
        self.tally = Tally()

    def stage(self, name: str) -> None:
        """Rates are measured from the start of extraction."""
        if name.startswith("extract"):
            self.tally.restart()

    def rows(self, table: str, n: int, *, resource: str | None = None, nbytes: int = 0) -> None:
        """Count ``n`` rows of ``resource`` into ``table``."""
        self.tally.add(table, n, resource, nbytes)

    def extracted(self) -> None:
        """Log one line per table extracted since the last call."""
        with self.tally._lock:
            counts, self.tally.counts = self.tally.counts, {}
        for (resource, table), c in counts.items():
            log.info(
                "table %s (resource %s): %s rows, %s in %.2f s (%s rows/s)",
                table,
                resource,
                f"{c.rows:,}",
                human_bytes(c.nbytes),
                c.last,
                f"{c.rate():,.0f}",
            )

    def close(self, summary: str | None = None) -> None:
        """Log the tables not logged yet (the summary is the caller's to show)."""
        self.extracted()


#: the values of ``progress=``
SETTINGS: tuple[bool | str, ...] = ("auto", "log", True, False)


def make_progress(setting: bool | str, pipeline: str) -> Progress:
    """``"auto"``: the live table when stderr is a terminal, else lines in the log; ``"log"``: lines in
    the log (flows run in parallel); True forces the live table, False shows nothing."""
    if setting == "auto":
        return TerminalProgress(pipeline) if sys.stderr.isatty() else LineProgress(pipeline)
    if setting == "log":
        return LineProgress(pipeline)
    return TerminalProgress(pipeline) if setting else NullProgress()
