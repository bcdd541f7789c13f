"""Loading packages: the pending ones oldest first, a new one, and the state a load commits.

A load runs one package in one destination transaction (see :mod:`headwater.destinations`); the
package then moves to ``completed/`` and the working folder's state follows what was committed. A
failed load keeps its package on disk for the next run, and the error says so.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from headwater._failpoints import failpoint
from headwater.destinations.checks import PackageChecks
from headwater.destinations.protocol import DestinationClient
from headwater.errors import HeadwaterError, QualityError
from headwater.observe.context import load_context
from headwater.observe.metrics import RunMetrics, current_run
from headwater.observe.progress import Progress
from headwater.packages.files import drop_pending_command
from headwater.packages.package import NORMALIZED, PARTIAL, LoadPackage, list_packages
from headwater.pipelines.info import LoadSummary, TableLoad
from headwater.pipelines.pending import stale_error, stale_reason, state_to_commit
from headwater.schema.state import PipelineState

if TYPE_CHECKING:
    from headwater.pipelines.pipeline import Pipeline

log = logging.getLogger("headwater")


def load_pending(
    pipeline: Pipeline, client: DestinationClient, progress: Progress, *, include_partial: bool
) -> list[LoadSummary]:
    """Load the normalized packages waiting, oldest first, then (``include_partial``) the partial
    ones, refusing stale partial packages before anything loads (see :mod:`.pending`)."""
    # OPEN: being written by an interrupted run, discarded when the next extract starts
    packages = list_packages(pipeline.workdir.packages)
    normalized = [p for p in packages if p.status == NORMALIZED]
    partial = [p for p in packages if p.status == PARTIAL]
    if not include_partial:
        for package in partial:
            log.warning(
                "partial package %s (%s) is kept, not loaded: `headwater pipeline info %s` tells whether it "
                "can still be loaded (pipeline.load(include_partial=True)) or is stale (drop it: %s)",
                package.load_id,
                package.manifest.error,
                pipeline.workdir.root.name,
                drop_pending_command(pipeline.workdir.root, [package.load_id]),
            )
        partial = []
    elif partial:
        newer = pipeline.workdir.completed_manifests() + [p.manifest for p in packages]
        states = [pipeline.workdir.read_state(), client.stored_state(pipeline.name)]
        stale = [(p, why) for p in partial if (why := stale_reason(p, newer, states)) is not None]
        if stale:
            raise stale_error(pipeline.workdir, stale)
    return [load_one(pipeline, client, package, progress) for package in normalized + partial]


def load_new(pipeline: Pipeline, package: LoadPackage, progress: Progress) -> LoadSummary:
    """Load a package the run just extracted, on a new client.

    Raises:
        HeadwaterError: the load failed; the message says the package is kept.
    """
    try:
        client = pipeline._client()
    except HeadwaterError as exc:
        raise kept(exc, package) from exc
    with client:
        return load_one(pipeline, client, package, progress)


def load_one(pipeline: Pipeline, client: DestinationClient, package: LoadPackage, progress: Progress) -> LoadSummary:
    """Load one package with ``client``, move it to the completed packages and adopt its state; the run's
    metrics get the time as the ``load`` stage, the files loaded per table and the checks that failed.

    Raises:
        HeadwaterError: the load failed; the message says the package is kept.
    """
    metrics = current_run()
    if metrics is None:
        with load_context(package.load_id):  # log records of this load name its package
            return _load_one(pipeline, client, package, progress)
    with load_context(package.load_id), metrics.stage("load", package.load_id):
        try:
            summary = _load_one(pipeline, client, package, progress)
        except QualityError as exc:
            _failed_checks(metrics, exc.results)
            raise
    if not summary.already_loaded:
        for name, files in package.manifest.tables.items():
            metrics.loaded_files(name, len(files.files))
    _failed_checks(metrics, summary.checks)
    return summary


def _failed_checks(metrics: RunMetrics, results: list[Any]) -> None:
    for result in results:
        if not getattr(result, "passed", True) and isinstance(getattr(result, "table", None), str):
            metrics.checks_failed(result.table)


def _load_one(pipeline: Pipeline, client: DestinationClient, package: LoadPackage, progress: Progress) -> LoadSummary:
    progress.stage(f"load {package.load_id}")
    schema, package_state = package.verify()  # a damaged package stops here, before the destination
    if package_state is not None and package.status == PARTIAL:
        own = package_state
        package_state = state_to_commit(package, own, client.stored_state(pipeline.name), pipeline.workdir.read_state())
        if package_state is not own:
            package.write_state(package_state.to_json())
    checks = PackageChecks(package)
    judged_here = bool(checks) and not getattr(client, "runs_checks", False)  # a client that does not run them
    try:
        if judged_here:
            checks.unsupported(client)
        result = client.load(package, schema)
    except HeadwaterError as exc:
        raise kept(exc, package, loading=True) from exc
    if judged_here:
        result.checks = checks.results
    manifest = package.manifest
    summary = LoadSummary(
        load_id=package.load_id,
        schema_name=schema.name,
        schema_version=schema.version,
        extract_seconds=manifest.extract_seconds or 0.0,
        load_seconds=result.seconds,
        already_loaded=result.already_loaded,
        checks=list(result.checks),
    )
    for name, files in manifest.tables.items():
        rows = result.rows.get(name, files.rows)
        summary.tables[name] = TableLoad(name, 0 if result.already_loaded else rows, manifest.new_columns.get(name, []))
    for name in manifest.replace_tables:
        summary.tables.setdefault(name, TableLoad(name, 0))
    failpoint("load.after_commit")
    package.complete(pipeline.workdir.completed, keep_data=pipeline.keep_packages)
    adopt_state(pipeline, package_state)
    return summary


def adopt_state(pipeline: Pipeline, committed: PipelineState | None) -> None:
    """Keep the local state at least as new as the state a load just committed."""
    if committed is None:
        return
    local = pipeline.workdir.read_state()
    if local is None or committed.version > local.version:
        pipeline.workdir.write_state(committed)


def kept(exc: HeadwaterError, package: LoadPackage, *, loading: bool = False) -> HeadwaterError:
    """The same error, telling the user that the package waits on disk for the next run, and (when
    the destination failed while ``loading`` it) how to get rid of it if the destination refuses its
    data for good."""
    note = f"; package {package.load_id} is kept and the next run loads it ({package.root})"
    if isinstance(exc, QualityError):  # its checks travel with it: loading it again fails again
        drop = drop_pending_command(package.root.parent.parent, [package.load_id])
        return _same(
            exc,
            f"{exc.message}\npackage {package.load_id} is kept for inspection ({package.root})",
            f"{exc.hint}\n  then drop the package: {drop} (pipeline.drop_pending({package.load_id!r})); the next run "
            "extracts its rows again from the last committed state, with the checks as they are declared then",
        )
    if not loading:
        return _same(exc, exc.message + note, exc.hint)
    way_out = (
        "if the destination refuses this package's data for good (a constraint, a column type), fix the source "
        f"and drop the package: {drop_pending_command(package.root.parent.parent, [package.load_id])} "
        f"(pipeline.drop_pending({package.load_id!r})); the next run extracts its rows again from the last "
        "committed state"
    )
    hint = f"{exc.hint}\n  {way_out}" if exc.hint else way_out
    return _same(exc, exc.message + note, hint)


def _same(exc: HeadwaterError, message: str, hint: str | None) -> HeadwaterError:
    """``exc`` again with another message and hint (a QualityError keeps its results)."""
    if isinstance(exc, QualityError):
        return QualityError(message, hint=hint, results=exc.results, **exc.where)
    return type(exc)(message, hint=hint, **exc.where)
