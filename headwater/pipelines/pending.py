"""Packages waiting in a working folder: which may still load, with which state, and dropping them.

Three rules keep a waiting package from duplicating rows or undoing state:

* **A stale partial package is refused.** A partial package holds the rows a failed run extracted
  before it failed. The next successful run extracts those rows again, so once a newer package of
  one of its resources exists (loaded, or waiting), loading the partial one would load its rows
  twice. :func:`stale_reason` says why a package is stale, from the local history, the packages
  waiting and the ``last_load`` marks of the state (local and committed).
* **A partial package loaded after other loads brings only its own resources' state.** Its state
  document was derived from the state of its time; committed as it is, it would reuse a version
  number already in ``_hw_state`` and undo the cursors of the loads since. :func:`state_to_commit`
  rebases it onto the newest committed state (:meth:`PipelineState.rebased`).
* **Dropping a package leaves the working folder as if it had never been extracted.** The local
  state and schemas that came from it are set back (to the newest package still waiting, or to
  what the destination committed, which the next run reads), so the next run extracts its rows
  again from the committed cursors. A package that newer waiting packages were extracted after
  can only be dropped with them: their state continues its cursors.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from headwater.errors import StateError, closest
from headwater.packages.files import drop_pending_command, unusable
from headwater.packages.package import NORMALIZED, OPEN, PARTIAL, LoadPackage, Manifest, package_folders
from headwater.pipelines.workdir import WorkDir
from headwater.schema.state import PipelineState

if TYPE_CHECKING:
    from headwater.pipelines.info import LoadInfo
    from headwater.pipelines.pipeline import Pipeline

log = logging.getLogger("headwater")


def stale_reason(package: LoadPackage, newer: Iterable[Manifest], states: Iterable[PipelineState | None]) -> str | None:
    """Why ``package`` must not be loaded any more (None: it may load).

    Args:
        package: a partial package.
        newer: manifests of other packages (loaded or waiting); those extracted after ``package``
            for one of its resources make it stale.
        states: pipeline states (local, committed) whose ``last_load`` marks may name a newer package
            of one of its resources (a load made elsewhere, or one older than the local history).
    """
    manifest = package.manifest
    mine = set(manifest.resources)
    for other in newer:
        if other.load_id > manifest.load_id and other.schema_name == manifest.schema_name:
            shared = sorted(mine & set(other.resources))
            if shared:
                return f"resource(s) {', '.join(shared)} were extracted again by the newer package {other.load_id}"
    for state in states:
        if state is None:
            continue
        for resource in sorted(mine):
            last = state.last_load(manifest.schema_name, resource)
            if last is not None and last > manifest.load_id:
                return f"resource {resource} was extracted again by the newer package {last}"
    return None


def stale_error(workdir: WorkDir, stale: list[tuple[LoadPackage, str]]) -> StateError:
    """The error that refuses to load stale partial packages, with the command that drops them."""
    ids = [p.load_id for p, _ in stale]
    reasons = "; ".join(f"{p.load_id}: {reason}" for p, reason in stale)
    return StateError(
        f"refusing to load {len(stale)} stale partial package(s), which would load rows twice: {reasons}",
        hint=f"their rows were extracted again and loaded (or wait to be); drop them: "
        f"{drop_pending_command(workdir.root, ids)} (or pipeline.drop_pending({', '.join(map(repr, ids))}))",
        load_ids=ids,
    )


def state_to_commit(
    package: LoadPackage, own: PipelineState, committed: PipelineState | None, local: PipelineState | None
) -> PipelineState:
    """The state a (partial) package commits: its own when it continues the committed state, else its
    resources' state rebased onto the committed one, with a version above every version known."""
    manifest = package.manifest
    if committed is None or committed.load_id == package.load_id:
        return own  # nothing committed yet, or this very package was committed (a rerun after a crash)
    if manifest.base_state_version is not None:
        continues = (manifest.base_state_version, manifest.base_state_load_id) == (committed.version, committed.load_id)
    else:  # a package from before bases were recorded
        continues = own.version > committed.version
    if continues:
        return own
    version = max(committed.version, local.version if local is not None else 0, own.version - 1) + 1
    return own.rebased(committed, manifest.schema_name, manifest.resources, version=version)


def drop_pending(workdir: WorkDir, load_ids: list[str] | None = None) -> list[str]:
    """Drop waiting packages (all of them without ``load_ids``); see the module docstring.

    The caller holds the pipeline's lock. Nothing in the destination changes.

    Returns:
        The load ids dropped.

    Raises:
        StateError: an unknown load id (with the ids that exist), or a package that newer waiting
            packages continue (with the command that drops them together).
    """
    folders = {f.name: f for f in package_folders(workdir.packages)}
    if load_ids is None:
        targets = sorted(folders)
    else:
        targets = sorted(set(load_ids))
        for load_id in targets:
            if load_id not in folders:
                close = closest(load_id, folders)
                listing = ", ".join(sorted(folders)) or "none"
                raise StateError(
                    f"no package {load_id!r} waits in {workdir.packages}"
                    + (f"; did you mean {close!r}?" if close else ""),
                    hint=f"the packages waiting: {listing} (headwater pipeline info {workdir.root.name} lists them)",
                    load_id=load_id,
                )
    if not targets:
        return []
    statuses = {load_id: _status(folders[load_id]) for load_id in folders}
    # a normalized (or unreadable) package's state is where the next extraction started: newer
    # packages continue it. Partial and open ones never became the local state.
    oldest_continued = min((t for t in targets if statuses[t] not in (PARTIAL, OPEN)), default=None)
    if oldest_continued is not None:
        blocking = sorted(i for i in folders if i > oldest_continued and i not in targets)
        if blocking:
            raise StateError(
                f"package(s) {', '.join(blocking)} were extracted after {oldest_continued} and continue its "
                "cursors and state: dropping it alone would skip its rows for good",
                hint=f"drop them together: {drop_pending_command(workdir.root, sorted({*targets, *blocking}))}",
                load_id=oldest_continued,
            )
    for load_id in targets:
        try:
            shutil.rmtree(folders[load_id])
        except OSError as exc:
            raise unusable(
                folders[load_id], "the load package", exc, "remove it by hand (rm -r), then run again"
            ) from exc
        log.info("dropped package %s (%s)", load_id, statuses[load_id])
    _resync(workdir, set(targets))
    return targets


def _status(folder: Path) -> str | None:
    try:
        return LoadPackage.open(folder).status
    except StateError:
        return None  # unreadable: treated as a package whose state may have been continued


def _resync(workdir: WorkDir, dropped: set[str]) -> None:
    """Set back the local state and schemas that came from dropped packages."""
    remaining = []
    for folder in package_folders(workdir.packages):
        try:
            remaining.append(LoadPackage.open(folder))
        except StateError:
            continue
    try:
        local = workdir.read_state()
    except StateError as exc:
        log.warning("%s; left as it is", exc.message)
        local = None
    if local is not None and local.load_id in dropped:
        sealed = [p for p in remaining if p.status == NORMALIZED]
        previous = sealed[-1].load_state() if sealed else None
        if previous is not None:
            workdir.write_state(previous)
        else:  # the next run starts from the state committed in the destination
            workdir.state_path.unlink(missing_ok=True)
    completed = workdir.completed_manifests()
    for name in workdir.schema_names():
        try:
            schema = workdir.read_schema(name)
        except StateError:
            continue
        if schema is None:
            continue
        waiting = [p for p in remaining if p.manifest.schema_name == name]
        known = [m.schema_version for m in completed if m.schema_name == name]
        known += [p.manifest.schema_version for p in waiting]
        if schema.version <= max(known, default=-1):
            continue
        if waiting:
            workdir.write_schema(waiting[-1].load_schema())
        else:  # the next run starts from the schema committed in the destination
            workdir.remove_schema(name)


def note_partial(pipeline: Pipeline, info: LoadInfo) -> None:
    """Record the partial packages ``pipeline`` leaves waiting in ``info``, and which of them are stale."""
    info.working_folder = str(pipeline.workdir.root)
    packages = pipeline.pending_packages()
    if not any(p.status == PARTIAL for p in packages):
        return
    newer = pipeline.workdir.completed_manifests() + [p.manifest for p in packages]
    local = pipeline.workdir.read_state()
    for p in packages:
        if p.status == PARTIAL:
            info.kept_partial.append(p.load_id)
            if stale_reason(p, newer, [local]) is not None:
                info.stale_partial.append(p.load_id)
