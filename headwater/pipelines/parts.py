"""Partitioned resources in a run: each partition a part, all parts in one load.

For every selected resource with ``partitions=``, the run:

1. lists the partitions (:mod:`headwater.streams.partitions`) and gives each its own state: the
   resource's ``hw.state()`` and cursor of that partition, kept in the pipeline state under the
   resource as ``partitions.<key>`` (``{"resource": ..., "incremental": ...}``);
2. extracts and normalizes every partition into a part of its own on the pipeline's executor
   (:mod:`headwater.executors`; :mod:`.part_worker`), retrying a failed partition;
3. when every partition has its part, adopts the parts into the run's load package in partition
   order: their files move in, their schemas merge into the run's (a column two parts typed
   differently is reconciled by the same rules as two batches: cast, widen or a variant column,
   rewriting only the files concerned), and their states go into the package's state. One load
   then commits everything, so the guarantees of a run without partitions hold.

A run whose partition still fails after its retries keeps the finished parts in the working
folder (``parts/``) and raises; the next run reuses every part extracted from the same state
and schema (so it extracts only the missing partitions), and extracts again any part whose
starting point moved on.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa

from headwater._failpoints import failpoint
from headwater.errors import ExtractError, HeadwaterError, StateError, described
from headwater.executors import Executor
from headwater.normalize.arrow_types import from_arrow
from headwater.normalize.ids import constant
from headwater.normalize.placing import Placer, _merge
from headwater.packages.files import read_file
from headwater.packages.package import LoadPackage, TableFiles
from headwater.pipelines.part_state import STATE_KEY, keep_partition_state, keep_shared_state, partition_view
from headwater.pipelines.part_worker import PART_FILE, PartJob, PartResult, run_part
from headwater.redact import redact
from headwater.schema.model import LOAD_ID, Column, Schema, Table
from headwater.schema.naming import deduplicate
from headwater.schema.state import PipelineState
from headwater.schema.stored import StoredTables
from headwater.streams.partitions import folder_name, partition_key
from headwater.streams.resource import Resource, _is_data_object

if TYPE_CHECKING:
    from headwater.observe.metrics import RunMetrics
    from headwater.pipelines.extraction import Extraction

log = logging.getLogger("headwater")

#: the folder of parts inside a working folder
PARTS_FOLDER = "parts"
#: the key of an independent resource read whole in a worker process (one part, not a partition)
WHOLE = "*"


@dataclass
class _Part:
    resource: Resource
    key: str
    folder: Path
    base: dict[str, Any]
    reused: bool = False
    #: the partition starts from the resource's own state, merged back (not a state of its own)
    shared: bool = False


@dataclass
class PartsRun:
    """The partitions of one run (see the module docstring)."""

    extraction: Extraction
    resources: list[Resource]
    executor: Executor
    #: what the adopted parts add to the package's manifest
    checks: dict[str, Any] = field(default_factory=dict)
    replace_tables: list[str] = field(default_factory=list)
    #: partitions extracted in this run, and partitions reused from an earlier one (resource, key)
    extracted: list[tuple[str, str]] = field(default_factory=list)
    reused: list[tuple[str, str]] = field(default_factory=list)
    _shared_seen: set[str] = field(default_factory=set)

    def run(
        self,
        schema: Schema,
        state: PipelineState,
        stored: StoredTables,
        package: LoadPackage,
        max_nesting: int | None,
    ) -> None:
        """Extract the partitions and adopt them into ``package`` (``schema`` and ``state`` updated).

        Raises:
            ExtractError: a partition still failed after its retries (the finished parts are kept
                for the next run; nothing is adopted).
        """
        parts = self._plan(schema, state)
        todo = [p for p in parts if not p.reused]
        with self.executor.sharing():  # the jobs carry what the workers share (a rate limit's folder)
            jobs = [self._job(p, schema, state, stored, package, max_nesting) for p in todo]
            outcomes = list(self.executor.run(run_part, jobs)) if jobs else []
        results: dict[tuple[str, str], PartResult] = {}
        failed: list[tuple[_Part, BaseException, int]] = []
        for outcome in outcomes:
            part = todo[outcome.index]
            if outcome.error is not None:
                failed.append((part, outcome.error, outcome.attempts))
                continue
            results[(part.resource.name, part.key)] = outcome.result
            self.extracted.append((part.resource.name, part.key))
            if self.extraction.metrics is not None:
                absorb(self.extraction.metrics, outcome.result.metrics)
        if failed:
            raise _failure(failed, len(parts))
        placer = Placer(
            widening=self.extraction.pipeline.destination.capabilities.type_widening,
            stored=stored,
            text_nul=self.extraction.pipeline.destination.capabilities.text_holds_nul,
        )
        failpoint("parts.finished")
        for i, part in enumerate(parts):
            self._adopt(part, i, schema, state, package, placer)
            failpoint("parts.adopted")
            if part.reused:
                self.reused.append((part.resource.name, part.key))
        for part in parts:
            shutil.rmtree(part.folder, ignore_errors=True)

    # -- planning ---------------------------------------------------------------------------------
    def _plan(self, schema: Schema, state: PipelineState) -> list[_Part]:
        root = self.extraction.workdir.root / PARTS_FOLDER / schema.name
        parts: list[_Part] = []
        for resource in self.resources:
            whole = resource.partitions is None  # an independent resource, read whole in a worker
            keys = [(None, WHOLE)] if whole else [(v, partition_key(v)) for v in resource.partition_values()]
            mine = state.resource_state(schema.name, resource.name)
            own = mine.get(STATE_KEY, {})
            shared = {"resource": mine, "incremental": state.incremental_state(schema.name, resource.name)}
            together = whole or resource.partition_state == "shared"
            for value, key in keys:
                start = shared if together else own.get(key, {})
                base = {
                    "state_version": state.version,
                    "schema_version": schema.version,
                    "schema_hash": schema.content_hash(),
                    "partition_state": hashlib.sha256(orjson.dumps(start, default=str)).hexdigest(),
                }
                folder = root / folder_name(resource.name) / folder_name(key)
                part = _Part(resource if whole else resource.for_partition(value), key, folder, base, shared=together)
                part.reused = _finished(folder, key, base)
                parts.append(part)
            _discard_others(root / folder_name(resource.name), {p.folder.name for p in parts})
        return parts

    def _job(
        self,
        part: _Part,
        schema: Schema,
        state: PipelineState,
        stored: StoredTables,
        package: LoadPackage,
        max_nesting: int | None,
    ) -> PartJob:
        pipeline = self.extraction.pipeline
        capabilities = pipeline.destination.capabilities
        name = part.resource.name
        shared = part.shared
        from headwater.schema.masks import resolve_key

        return PartJob(
            resource=part.resource,
            key=part.key,
            folder=str(part.folder),
            load_id=package.load_id,
            pipeline=pipeline.name,
            dataset=pipeline.dataset_name,
            schema_json=schema.to_json(),
            state_json=(state if shared else partition_view(state, schema.name, name, part.key)).to_json(),
            base=part.base,
            stored=stored,
            widening=frozenset(capabilities.type_widening),
            text_nul=capabilities.text_holds_nul,
            mask_key=resolve_key(pipeline.mask_key),
            batch_size=pipeline.batch_size,
            batch_bytes=pipeline.batch_bytes,
            package_format=pipeline.package_format,
            max_nesting=max_nesting,
            environment=dict(os.environ) if self.executor.separate_processes else {},
        )

    # -- adopting ---------------------------------------------------------------------------------
    def _adopt(
        self, part: _Part, index: int, schema: Schema, state: PipelineState, package: LoadPackage, placer: Placer
    ) -> None:
        (root,) = [p for p in part.folder.iterdir() if p.is_dir()]
        try:
            # the part's files as its worker sealed them (sizes, CRC-32): a part damaged at rest since an
            # earlier run, or copied down from a cluster's storage short or garbled, is not adopted
            found = LoadPackage.open(root)
            theirs, part_state = found.verify()
        except StateError as exc:
            (part.folder / PART_FILE).unlink(missing_ok=True)  # not reused: the next run extracts it again
            raise StateError(
                f"partition {part.key!r} of resource {part.resource.name!r}: {exc.message}",
                hint="run again: the partition is extracted again (its damaged part is not reused)",
                path=exc.where.get("path"),
                resource=part.resource.name,
                partition=part.key,
            ) from exc
        # no longer a whole part: a crash while its files move into the package (which is then discarded,
        # being open) makes the next run extract the partition again rather than reuse half of it
        (part.folder / PART_FILE).unlink()
        plan = merge_schema(schema, theirs)
        for table, files in found.manifest.tables.items():
            target = package.manifest.tables.setdefault(table, TableFiles())
            folder = package.data_dir(table)
            folder.mkdir(parents=True, exist_ok=True)
            for n, rel in enumerate(files.files):
                src = found.root / rel
                dst = folder / f"p{index:05d}-{n:05d}{src.suffix}"
                in_package = str(dst.relative_to(package.root))
                rewrite = plan.get(table)
                if rewrite or found.load_id != package.load_id:
                    _rewrite(src, dst, schema.tables.get(table), rewrite or {}, placer, package)
                else:
                    os.replace(src, dst)
                    if files.checksums:  # verified against these above: sealing records them, reads nothing
                        package.checked[in_package] = (files.sizes[n], files.checksums[n])
                target.files.append(in_package)
            target.rows += files.rows
        self.replace_tables += [t for t in found.manifest.replace_tables if t not in self.replace_tables]
        merge_checks(self.checks, found.manifest.checks)
        if part_state is None:
            return
        if part.shared:
            first = part.resource.name not in self._shared_seen
            self._shared_seen.add(part.resource.name)
            keep_shared_state(state, part_state, schema.name, part.resource, first=first)
        else:
            keep_partition_state(state, part_state, schema.name, part.resource.name, part.key)

    def finish(self, manifest: Any) -> None:
        """Add the parts' replaced tables and check results to the package's ``manifest``."""
        manifest.replace_tables = [
            *manifest.replace_tables,
            *(t for t in self.replace_tables if t not in manifest.replace_tables),
        ]
        merged: dict[str, Any] = {
            "results": list(manifest.checks.get("results", [])),
            "tables": dict(manifest.checks.get("tables", {})),
        }
        merge_checks(merged, self.checks)
        manifest.checks = merged


def _failure(failed: list[tuple[_Part, BaseException, int]], total: int) -> HeadwaterError:
    names = ", ".join(f"{p.resource.name}[{p.key}]" for p, _, _ in failed[:10])
    part, error, attempts = failed[0]
    message = (
        f"{len(failed)} of {total} partitions failed after their retries ({names}); "
        f"partition {part.key!r} of resource {part.resource.name!r}, attempt {attempts}: "
        f"{redact(described(error))}"
    )
    hint = (
        f"fix the cause and run again: the {total - len(failed)} finished partitions are kept in the working "
        "folder and are not extracted again; nothing was loaded"
    )
    # a resource's own failure (an ExtractError) says "fix the cause and run again", which this hint says
    if isinstance(error, HeadwaterError) and error.hint and not isinstance(error, ExtractError):
        hint = f"{error.hint}\n  then: {hint}"
    out = ExtractError(message, hint=hint, resource=part.resource.name, partition=part.key)
    out.__cause__ = error
    return out


def _finished(folder: Path, key: str, base: dict[str, Any]) -> bool:
    """Whether ``folder`` holds a whole part of ``key`` extracted from ``base``."""
    try:
        info = orjson.loads((folder / PART_FILE).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return False
    return isinstance(info, dict) and info.get("key") == key and info.get("base") == base


def _discard_others(folder: Path, keep: set[str]) -> None:
    """Delete parts (and temporary folders of interrupted ones) of partitions no longer listed."""
    if not folder.is_dir():
        return
    for entry in folder.iterdir():
        if entry.name not in keep:
            shutil.rmtree(entry, ignore_errors=True)


# -- schemas and files -------------------------------------------------------------------------------
#: per table of a part: its column names and what becomes of them ("rename" to a name, or "fit")
Rewrite = dict[str, tuple[str, str]]


def merge_schema(schema: Schema, theirs: Schema) -> dict[str, Rewrite]:
    """Add what a part's schema ``theirs`` has to ``schema``; per table, the columns whose values must
    be rewritten: ``{column: ("rename", new_name)}`` for a name that holds another path here, and
    ``{column: ("fit", name)}`` for values of another type than the column has here."""
    plan: dict[str, Rewrite] = {}
    for name, table in theirs.tables.items():
        mine = schema.tables.get(name)
        if mine is None:
            schema.tables[name] = Table.from_dict(table.to_dict())
            continue
        rewrite: Rewrite = {}
        for col in table.columns.values():
            target = mine.column_for_path(col.path) if col.path is not None else None
            here = target if target is not None else mine.columns.get(col.name)
            if here is None:
                mine.add_column(Column.from_dict(col.to_dict()))
            elif target is None and col.path is not None and here.path is not None and here.path != col.path:
                new = deduplicate(col.name, mine.columns.keys())
                mine.add_column(Column.from_dict({**col.to_dict(), "name": new}))
                rewrite[col.name] = ("rename", new)
            elif here.type != col.type:
                rewrite[col.name] = ("fit", here.name)
            elif here.name != col.name:
                rewrite[col.name] = ("rename", here.name)
        if rewrite:
            plan[name] = rewrite
    return plan


def _rewrite(src: Path, dst: Path, mine: Table | None, rewrite: Rewrite, placer: Placer, package: LoadPackage) -> None:
    """A part's file written as the run's schema has it: renamed columns, values fitted to the run's
    column types (or its variant columns), and the run's load id."""
    import pyarrow.ipc as ipc

    reader = read_file(src)
    batches = []
    for batch in reader:
        table = pa.Table.from_batches([batch])
        out: dict[str, pa.Array] = {}
        for name in table.column_names:
            arr = table.column(name).combine_chunks()
            action = rewrite.get(name)
            if name == LOAD_ID:
                placed = [(name, constant(package.load_id, len(arr)))]
            elif action is None or mine is None:
                placed = [(name, arr)]
            elif action[0] == "rename":
                placed = [(action[1], arr)]
            else:
                incoming = from_arrow(arr.type)
                col = mine.columns[action[1]]
                placed = placer.fit(mine, col, arr, incoming) if incoming is not None else [(col.name, arr)]
            for col, values in placed:
                prev = out.get(col)
                out[col] = values if prev is None else _merge(prev, values)
        batches.append(pa.table(out))
    result = pa.concat_tables(batches, promote_options="permissive") if batches else pa.table({})
    if dst.suffix == ".parquet":
        import pyarrow.parquet as pq

        pq.write_table(result, str(dst), compression="zstd")
    else:
        with (
            pa.OSFile(str(dst), "wb") as sink,
            ipc.new_file(sink, result.schema, options=ipc.IpcWriteOptions(compression="lz4")) as writer,
        ):
            writer.write_table(result)
    src.unlink()


def merge_checks(into: dict[str, Any], checks: dict[str, Any]) -> None:
    """Add a part's check report to ``into``: row check results of one check on one table summed
    (rows checked, failing, the first samples), table checks by table."""
    results = into.setdefault("results", [])
    by_key = {(r.get("table"), r.get("check")): r for r in results}
    for r in checks.get("results", []):
        known = by_key.get((r.get("table"), r.get("check")))
        if known is None:
            copy = dict(r)
            results.append(copy)
            by_key[(r.get("table"), r.get("check"))] = copy
            continue
        known["checked"] = known.get("checked", 0) + r.get("checked", 0)
        known["failing"] = known.get("failing", 0) + r.get("failing", 0)
        known["samples"] = (known.get("samples") or []) + (r.get("samples") or [])[
            : max(0, 5 - len(known.get("samples") or []))
        ]
        known["error"] = known.get("error") or r.get("error")
    into.setdefault("tables", {}).update(checks.get("tables", {}))


def absorb(run: RunMetrics, figures: dict[str, Any]) -> None:
    """Add a worker's metrics (``RunMetrics.to_dict()``) to the run's."""
    for name, r in (figures.get("resources") or {}).items():
        m = run.resource(name)
        m.add_rows(int(r.get("rows", 0)))
        m.read(nbytes=int(r.get("bytes", 0)), files=int(r.get("files", 0)), queries=int(r.get("queries", 0)))
        with m._lock:
            m.seconds += float(r.get("seconds", 0.0))
            m.requests += int(r.get("requests", 0))
            m.retries += int(r.get("retries", 0))
            for reason, n in (r.get("retry_reasons") or {}).items():
                m.retry_reasons[reason] = m.retry_reasons.get(reason, 0) + int(n)
            m.rate_limit_wait_seconds += float(r.get("rate_limit_wait_seconds", 0.0))
            m.errors += int(r.get("errors", 0))
            for metric, value in (r.get("custom") or {}).items():
                m.custom[metric] = m.custom.get(metric, 0) + value
    for name, t in (figures.get("tables") or {}).items():
        run.normalized(name, int(t.get("rows", 0)), int(t.get("bytes", 0)))
        if t.get("quarantined"):
            run.quarantined(name, int(t["quarantined"]))


def partitioned(resources: Iterable[Resource]) -> list[Resource]:
    """The selected resources read in partitions."""
    return [r for r in resources if r.selected and r.partitions is not None and not r.is_transformer]


def independent(resources: list[Resource], executor: Executor) -> list[Resource]:
    """On worker processes, the resources that are read whole in workers too: selected resources
    without partitions that feed no transformer, made by a function, when there are two or more
    of them and they can travel to a worker (one that cannot stays in this process)."""
    if not executor.separate_processes:
        return []
    parents = {r.parent.name for r in resources if r.parent is not None}
    found = [
        r
        for r in resources
        if r.selected
        and r.partitions is None
        and not r.is_transformer
        and r.name not in parents
        and callable(r._data)
        and not _is_data_object(r._data)
        and _travels(r)
    ]
    return found if len(found) >= 2 else []


def _travels(resource: Resource) -> bool:
    from headwater.executors.pools import _dumps

    try:
        _dumps(resource)
    except Exception as exc:
        log.info("resource %r runs in this process: it cannot be sent to a worker (%s)", resource.name, exc)
        return False
    return True
