"""Recording runs: :func:`observed` wraps ``Pipeline.run``, ``load`` and ``extract``.

Inside it the run's :class:`~headwater.observe.metrics.RunMetrics` is the current one (the extraction,
the normalizer, the loads and the sources count into it). When the block ends, however it ends:

1. the run record is written into the working folder (``runs/<run_id>.json``,
   :mod:`headwater.observe.history`): a failed run too, whatever failed, the destination included;
2. its row is appended to the destination's ``_hw_runs`` (:mod:`headwater.destinations.runs`), best effort;
3. with telemetry on, the run is exported to OpenTelemetry (:mod:`headwater.observe.otel`), best effort.

None of these ever changes the run's outcome: a failure to record is logged, and the run's own error
(or result) goes on as it was.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal

from headwater.destinations.runs import runs_row
from headwater.errors import HeadwaterError, StateError
from headwater.observe import history
from headwater.observe.context import current
from headwater.observe.metrics import RunMetrics, collecting
from headwater.packages.package import LoadPackage
from headwater.redact import redact

if TYPE_CHECKING:
    from headwater.pipelines.info import LoadInfo
    from headwater.pipelines.pipeline import Pipeline

log = logging.getLogger("headwater")

RunKind = Literal["run", "load", "extract"]
#: the longest traceback kept in a run record (characters, the end of it)
TRACEBACK_CHARS = 20_000


@contextmanager
def observed(pipeline: Pipeline, kind: RunKind, info: LoadInfo | None = None) -> Iterator[RunMetrics]:
    """Record the run the ``with`` block is (see the module docstring); ``info`` (a run's or a load's
    result) gets the run id and collects the metrics in ``info.metrics``."""
    started = dt.datetime.now(dt.UTC)
    clock = time.perf_counter()
    given = current()["run_id"]  # the id the run's log records carry (pipelines/observed.py)
    run_id = given if given is not None and not history.record_path(pipeline.workdir, given).exists() else None
    run_id = run_id or history.unused_run_id(pipeline.workdir, started)
    figures = info.metrics if info is not None else RunMetrics()
    if info is not None:
        info.run_id = run_id
    failure: BaseException | None = None
    try:
        with collecting(figures):
            yield figures
    except BaseException as exc:
        failure = exc
        raise
    finally:
        seconds = time.perf_counter() - clock
        try:
            record = run_record(pipeline, kind, run_id, started, seconds, figures, info, failure)
        except Exception as exc:  # never hide the run's own outcome
            log.warning("could not make the record of run %s of pipeline %r: %r", run_id, pipeline.name, exc)
        else:
            keep(pipeline, record, figures)


def run_record(
    pipeline: Pipeline,
    kind: RunKind,
    run_id: str,
    started: dt.datetime,
    seconds: float,
    figures: RunMetrics,
    info: LoadInfo | None,
    failure: BaseException | None,
) -> dict[str, Any]:
    """The run record (the contract in :mod:`headwater.observe.history`)."""
    load_ids = list(dict.fromkeys([*(info.load_ids if info is not None else []), *figures.load_ids]))
    if info is not None and kind != "extract":
        tables = {name: {"rows": n} for name, n in info.table_rows().items()}
    else:
        tables = {name: {"rows": t.rows} for name, t in figures.tables.items()}
    schema = None
    if info is not None and info.loads:
        schema = {"name": info.loads[-1].schema_name, "version": info.loads[-1].schema_version}
    elif figures.load_ids:
        schema = _package_schema(pipeline, figures.load_ids[-1])
    return {
        "run_id": run_id,
        "pipeline": pipeline.name,
        "destination": redact(pipeline.destination.describe()),
        "dataset": pipeline.dataset_name,
        "kind": kind,
        "status": "failed" if failure is not None else "completed",
        "started_at": started.isoformat(),
        "ended_at": (started + dt.timedelta(seconds=seconds)).isoformat(),
        "seconds": round(seconds, 6),
        "load_ids": load_ids,
        "rows": sum(t["rows"] for t in tables.values()),
        "tables": tables,
        "schema": schema,
        "error": error_of(failure),
        "metrics": figures.to_dict(),
    }


def _package_schema(pipeline: Pipeline, load_id: str) -> dict[str, Any] | None:
    """The schema name and version of an extracted package still waiting (None when it is gone)."""
    folder = pipeline.workdir.packages / load_id
    if not folder.is_dir():
        return None
    try:
        manifest = LoadPackage.open(folder).manifest
    except StateError:
        return None
    return {"name": manifest.schema_name, "version": manifest.schema_version}


def error_of(failure: BaseException | None) -> dict[str, Any] | None:
    """A run's error as the record keeps it: type, message (with where it happened), hint, traceback."""
    if failure is None:
        return None
    if isinstance(failure, HeadwaterError):
        located = ", ".join(f"{k}={v!r}" for k, v in failure.where.items())
        message = f"{failure.message} [{located}]" if located else failure.message
        hint = failure.hint
    elif isinstance(failure, KeyboardInterrupt):
        message, hint = "interrupted", None
    else:
        message, hint = redact(str(failure)) or type(failure).__name__, None
    trace = redact("".join(traceback.format_exception(failure)))
    return {"type": type(failure).__name__, "message": message, "hint": hint, "traceback": trace[-TRACEBACK_CHARS:]}


def keep(pipeline: Pipeline, record: dict[str, Any], figures: RunMetrics) -> None:
    """Write the record into the working folder, then the destination's ``_hw_runs``, then export it
    (telemetry on); each best effort, logged when it fails."""
    try:
        history.write_run(pipeline.workdir, record)
    except Exception as exc:  # a full disk, a folder made read-only: the run's outcome stands
        log.warning("could not write the record of run %s into %s: %s", record["run_id"], pipeline.workdir.root, exc)
    store(pipeline, record)
    if getattr(pipeline, "telemetry", False):
        from headwater.observe.otel import export

        try:
            export(record, figures)
        except Exception as exc:
            log.warning("could not export run %s to OpenTelemetry: %r", record["run_id"], exc)


def store(pipeline: Pipeline, record: dict[str, Any]) -> None:
    """Append the run's row to the destination's ``_hw_runs``, where it can (it declares the ``run_history``
    capability and its client has ``record_run``); no client is opened for one that cannot."""
    if not getattr(pipeline.destination.capabilities, "run_history", False):
        return
    try:
        with pipeline._client() as client:
            record_run = getattr(client, "record_run", None)
            if record_run is not None:
                record_run(runs_row(record))
    except Exception as exc:
        log.warning(
            "could not record run %s in %s (_hw_runs): %s; its record is in %s",
            record["run_id"],
            redact(pipeline.destination.describe()),
            redact(str(exc).splitlines()[0] if str(exc) else type(exc).__name__),
            history.record_path(pipeline.workdir, record["run_id"]),
        )
