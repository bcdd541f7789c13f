"""Progress of a run: rows per table while it runs, on a terminal only.

The normalizer reports after every batch, not every row, so progress costs nothing measurable.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, Protocol


class Progress(Protocol):
    """What a run reports its progress to."""

    def stage(self, name: str) -> None:
        """The run entered a stage (``extract``, ``normalize``, ``load ...``)."""

    def rows(self, table: str, n: int) -> None:
        """``n`` more rows went to ``table``."""

    def close(self, summary: str | None = None) -> None:
        """The run ended; show ``summary`` if given."""


class NullProgress:
    """Shows nothing."""

    def stage(self, name: str) -> None:
        """Show nothing."""

    def rows(self, table: str, n: int) -> None:
        """Show nothing."""

    def close(self, summary: str | None = None) -> None:
        """Show nothing."""


class TerminalProgress:
    """A live table of rows per table on stderr (rich), replaced by the summary at the end."""

    def __init__(self, pipeline: str) -> None:
        from rich.console import Console
        from rich.live import Live

        self.pipeline = pipeline
        self.console = Console(stderr=True)
        self.counts: dict[str, int] = {}
        self.current = "extract"
        self.started = time.perf_counter()
        self._lock = threading.Lock()
        self._live = Live(get_renderable=self._render, console=self.console, refresh_per_second=4, transient=True)
        self._live.start()

    def _render(self) -> Any:
        from rich.table import Table

        with self._lock:
            counts = dict(self.counts)
        elapsed = time.perf_counter() - self.started
        table = Table(title=f"{self.pipeline}: {self.current} ({elapsed:.1f}s)", title_justify="left", min_width=60)
        table.add_column("table")
        table.add_column("rows", justify="right")
        for name, n in counts.items():
            table.add_row(name, f"{n:,}")
        return table

    def stage(self, name: str) -> None:
        """Show ``name`` as the current stage."""
        self.current = name

    def rows(self, table: str, n: int) -> None:
        """Add ``n`` to the row count of ``table``."""
        with self._lock:
            self.counts[table] = self.counts.get(table, 0) + n

    def close(self, summary: str | None = None) -> None:
        """Stop the live table and print ``summary``, if given."""
        self._live.stop()
        if summary:
            self.console.print(summary, highlight=False, markup=False)


def make_progress(setting: bool | str, pipeline: str) -> Progress:
    """``"auto"``: live progress when stderr is a terminal; True/False force it on/off."""
    enabled = sys.stderr.isatty() if setting == "auto" else bool(setting)
    return TerminalProgress(pipeline) if enabled else NullProgress()
