"""Metrics of a run: counters and timings per stage, resource and table, and custom counters.

One :class:`RunMetrics` collects what one run (``Pipeline.run``, ``load`` or ``extract``) did; it is
``info.metrics`` on the run's :class:`~headwater.LoadInfo` and the ``metrics`` of its run record
(:mod:`headwater.observe.history`). Everything is counted per batch, per request, per query or per file,
never per row, so collecting costs nothing measurable.

Where figures come from:

* the engine runs each resource inside :func:`resource_scope`: :func:`current` is then that resource's
  :class:`ResourceMetrics`, in the resource's thread or task, whichever thread runs it; the sources
  count what they read there (requests, retries and their reasons, rate-limit waits, bytes, queries,
  files), and so do the resource's own counters::

      api_calls = hw.metrics.counter("api_calls", description="calls to the vendor API")

      @hw.resource
      def issues():
          for page in pages():
              api_calls.inc()
              yield page

* the normalizer counts rows and Arrow bytes per table and rows per resource, the quarantine and the
  checks what they set aside, the load stage its time, the cursors where they stopped.

Outside a resource of a running pipeline (at import time, in a test that iterates a resource by hand)
a counter counts nothing: a resource stays usable without a pipeline. A thread a resource starts itself
inherits nothing: start it with ``contextvars.copy_context().run`` to count from it.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from headwater.observe.custom import Counter, Gauge, MetricKind, counter, declared, gauge
from headwater.observe.scope import collecting, current, current_run, resource_scope

__all__ = [
    "Counter",
    "CursorMetrics",
    "Gauge",
    "ResourceMetrics",
    "RunMetrics",
    "StageMetrics",
    "TableMetrics",
    "collecting",
    "counter",
    "current",
    "current_run",
    "declared",
    "gauge",
    "resource_scope",
]

#: the stages of a run, in the order they first run
STAGES = ("extract", "normalize", "load")


@dataclass
class StageMetrics:
    """The time spent in one stage: ``seconds`` in all, and when it ran (for traces).

    Extraction and normalization run interleaved: ``extract`` is the wall time of extracting and
    normalizing into a package, ``normalize`` the part of it the normalizer worked.
    """

    seconds: float = 0.0
    #: ``(start, end, load id)`` in nanoseconds since the epoch: one per package for ``extract`` and
    #: ``load``, one from the first to the last batch for ``normalize``
    spans: list[tuple[int, int, str | None]] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """``{"seconds": ...}``."""
        return {"seconds": round(self.seconds, 6)}


@dataclass
class CursorMetrics:
    """Where an incremental cursor stands after the run, and how far behind now it is (for times)."""

    column: str
    value: Any
    lag_seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """``{"column", "value", "lag_seconds"}`` with the value as JSON (times as ISO 8601 text)."""
        lag = None if self.lag_seconds is None else round(self.lag_seconds, 3)
        return {"column": self.column, "value": json_value(self.value), "lag_seconds": lag}


@dataclass
class ResourceMetrics:
    """What one resource did in a run. ``bytes`` is what its source read (response bodies, Arrow data of
    query results, file sizes); ``seconds`` the wall time it ran (its own code, the transformers it fed and,
    when it is the only resource, the normalization that runs inline).

    The methods are called by sources and the engine; each takes the run's lock (figures arrive from
    several threads at once).
    """

    rows: int = 0
    bytes: int = 0
    seconds: float = 0.0
    requests: int = 0
    retries: int = 0
    retry_reasons: dict[str, int] = field(default_factory=dict)
    rate_limit_wait_seconds: float = 0.0
    errors: int = 0
    #: SQL statements run (the sql_database source)
    queries: int = 0
    #: files read (the filesystem source)
    files: int = 0
    #: the resource's own counters and gauges (``hw.metrics.counter``)
    custom: dict[str, float] = field(default_factory=dict)
    cursor: CursorMetrics | None = None
    started_ns: int | None = field(default=None, repr=False)
    ended_ns: int | None = field(default=None, repr=False)
    #: whether the resource's source wrote its own access records (REST pages, SQL reads, files)
    accessed: bool = field(default=False, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def rows_per_second(self) -> float | None:
        """Rows per second of the resource's running time (None before it ran)."""
        return self.rows / self.seconds if self.seconds > 0 else None

    # -- what sources report ---------------------------------------------------------------------
    def request(self) -> None:
        """One HTTP request was sent (each attempt counts)."""
        with self._lock:
            self.requests += 1

    def retry(self, reason: str) -> None:
        """A request is retried because of ``reason`` (``HTTP 429``, ``ConnectError``...)."""
        with self._lock:
            self.retries += 1
            self.retry_reasons[reason] = self.retry_reasons.get(reason, 0) + 1

    def waited(self, seconds: float) -> None:
        """The source waited ``seconds`` for a rate limit (its own, or a server's ``Retry-After``)."""
        if seconds > 0:
            with self._lock:
                self.rate_limit_wait_seconds += seconds

    def read(self, *, nbytes: int = 0, files: int = 0, queries: int = 0) -> None:
        """The source read ``nbytes`` bytes, ``files`` files, ran ``queries`` statements."""
        with self._lock:
            self.bytes += nbytes
            self.files += files
            self.queries += queries

    # -- what the engine reports -----------------------------------------------------------------
    def add_rows(self, n: int) -> None:
        """``n`` rows of this resource were normalized."""
        with self._lock:
            self.rows += n

    def error(self) -> None:
        """The resource failed."""
        with self._lock:
            self.errors += 1

    def ran(self, start_ns: int, end_ns: int) -> None:
        """The resource ran from ``start_ns`` to ``end_ns`` (wall clock, nanoseconds)."""
        with self._lock:
            self.seconds += (end_ns - start_ns) / 1e9
            if self.started_ns is None or start_ns < self.started_ns:
                self.started_ns = start_ns
            if self.ended_ns is None or end_ns > self.ended_ns:
                self.ended_ns = end_ns

    def note_cursor(self, column: str, value: Any, now: dt.datetime | None = None) -> None:
        """The resource's cursor ``column`` stands at ``value`` after the run."""
        with self._lock:
            self.cursor = CursorMetrics(column, value, cursor_lag(value, now))

    def add_custom(self, name: str, value: float, kind: MetricKind) -> None:
        """Add ``value`` to counter ``name``, or set gauge ``name`` to it."""
        with self._lock:
            self.custom[name] = self.custom.get(name, 0) + value if kind == "counter" else value

    def to_dict(self) -> dict[str, Any]:
        """The resource's entry in the ``metrics`` of a run record (``queries``/``files`` when counted)."""
        with self._lock:
            out: dict[str, Any] = {
                "rows": self.rows,
                "bytes": self.bytes,
                "seconds": round(self.seconds, 6),
                "requests": self.requests,
                "retries": self.retries,
                "retry_reasons": dict(self.retry_reasons),
                "rate_limit_wait_seconds": round(self.rate_limit_wait_seconds, 6),
                "errors": self.errors,
            }
            if self.queries:
                out["queries"] = self.queries
            if self.files:
                out["files"] = self.files
            out["custom"] = dict(self.custom)
            return out


@dataclass
class TableMetrics:
    """What one table got in a run: rows and Arrow bytes normalized, package files loaded, rows set aside
    in the quarantine, failed data-quality checks."""

    rows: int = 0
    bytes: int = 0
    files: int = 0
    quarantined: int = 0
    checks_failed: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The table's entry in the ``metrics`` of a run record."""
        return {
            "rows": self.rows,
            "bytes": self.bytes,
            "files": self.files,
            "quarantined": self.quarantined,
            "checks_failed": self.checks_failed,
        }


@dataclass
class RunMetrics:
    """Everything one run measured; :meth:`to_dict` is the ``metrics`` of its run record.

    Attributes:
        stages: per stage (``extract``, ``normalize``, ``load``), the time it took.
        resources: per resource, rows, bytes, time, requests, retries, waits, errors, custom counters.
        tables: per table, rows, bytes, files, quarantined rows, failed checks.
    """

    stages: dict[str, StageMetrics] = field(default_factory=dict)
    resources: dict[str, ResourceMetrics] = field(default_factory=dict)
    tables: dict[str, TableMetrics] = field(default_factory=dict)
    #: the packages this run extracted (normalized or kept partial), oldest first
    load_ids: list[str] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def cursors(self) -> dict[str, CursorMetrics]:
        """Per resource with an incremental cursor, where it stands after the run."""
        return {name: r.cursor for name, r in list(self.resources.items()) if r.cursor is not None}

    @property
    def rows(self) -> int:
        """Rows normalized by this run, over all resources."""
        return sum(r.rows for r in list(self.resources.values()))

    def resource(self, name: str) -> ResourceMetrics:
        """The figures of resource ``name`` (made at its first use)."""
        found = self.resources.get(name)
        if found is None:
            with self._lock:
                found = self.resources.setdefault(name, ResourceMetrics())
        return found

    def table(self, name: str) -> TableMetrics:
        """The figures of table ``name`` (made at its first use)."""
        found = self.tables.get(name)
        if found is None:
            with self._lock:
                found = self.tables.setdefault(name, TableMetrics())
        return found

    def add_stage(self, name: str, start_ns: int, end_ns: int, load_id: str | None = None) -> None:
        """Stage ``name`` ran from ``start_ns`` to ``end_ns``; ``normalize``, which runs in many short
        pieces, keeps one span from its first piece to its last."""
        with self._lock:
            stage = self.stages.setdefault(name, StageMetrics())
            stage.seconds += (end_ns - start_ns) / 1e9
            if name == "normalize" and stage.spans:
                first, _, known = stage.spans[0]
                stage.spans[0] = (first, end_ns, known or load_id)
            else:
                stage.spans.append((start_ns, end_ns, load_id))

    @contextmanager
    def stage(self, name: str, load_id: str | None = None) -> Iterator[None]:
        """Time the ``with`` block as stage ``name`` (failed blocks count too)."""
        start = time.time_ns()
        try:
            yield
        finally:
            self.add_stage(name, start, time.time_ns(), load_id)

    def normalized(self, table: str, rows: int, nbytes: int) -> None:
        """A normalized batch of ``rows`` rows and ``nbytes`` Arrow bytes went to ``table``."""
        t = self.table(table)
        with self._lock:
            t.rows += rows
            t.bytes += nbytes

    def quarantined(self, table: str, rows: int) -> None:
        """``rows`` rows meant for ``table`` were set aside in the quarantine."""
        t = self.table(table)
        with self._lock:
            t.quarantined += rows

    def loaded_files(self, table: str, files: int) -> None:
        """A load wrote ``files`` package files of ``table``."""
        t = self.table(table)
        with self._lock:
            t.files += files

    def checks_failed(self, table: str, failed: int = 1) -> None:
        """``failed`` data-quality checks of ``table`` failed (or could not run)."""
        t = self.table(table)
        with self._lock:
            t.checks_failed += failed

    def to_dict(self) -> dict[str, Any]:
        """The ``metrics`` of the run record: ``stages``, ``resources``, ``tables`` and ``cursors``."""
        with self._lock:
            stages = dict(self.stages)
            resources = dict(self.resources)
            tables = dict(self.tables)
        return {
            "stages": {n: stages[n].to_dict() for n in sorted(stages, key=_stage_order)},
            "resources": {n: r.to_dict() for n, r in resources.items()},
            "tables": {n: t.to_dict() for n, t in tables.items()},
            "cursors": {n: c.to_dict() for n, c in self.cursors.items()},
        }


def _stage_order(name: str) -> tuple[int, str]:
    return (STAGES.index(name) if name in STAGES else len(STAGES), name)


# -- values ------------------------------------------------------------------------------------------
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def cursor_lag(value: Any, now: dt.datetime | None = None) -> float | None:
    """Seconds from a cursor ``value`` to ``now`` when it is a time: a datetime (naive ones are UTC), a
    date (its midnight UTC) or ISO 8601 text; None for other values."""
    if isinstance(value, str) and _ISO_DATE.match(value):  # a JSON API's cursor: ISO 8601 text
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return None
    if isinstance(value, dt.datetime):
        when = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    elif isinstance(value, dt.date):
        when = dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    else:
        return None
    return ((now or dt.datetime.now(dt.UTC)) - when).total_seconds()


def json_value(value: Any) -> Any:
    """``value`` as JSON can hold it: times and dates as ISO 8601 text, decimals as text, other
    non-JSON values as their text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return str(value)
