"""A dry run: what :meth:`Pipeline.run` would do, computed without writing anything (``pipeline.plan(data)``).

The working folder is copied to a temporary folder (or a temporary one starts empty), and a pipeline bound
to that copy extracts and normalizes ``data`` as a run would, into a package there, reading the
destination through a read-only client (a DuckDB file opened ``READ_ONLY``; a file that does not exist is
an empty destination and is not created). The packages that would load (those waiting, then the new
one) are compared with the destination: tables to create, columns to add, type changes, variant
columns, rows to insert, replace and merge effects (:mod:`.plan_merge`), rows quarantined by a contract,
and each cursor's move. The temporary folder is then deleted: the working folder, the destination and
the pipeline state stay exactly as they were.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headwater.destinations.common import tables_by_root
from headwater.destinations.protocol import ClosingClient, Destination
from headwater.errors import ConfigError, DestinationError, ExtractError, HeadwaterError
from headwater.observe.history import RUNS_FOLDER
from headwater.observe.progress import make_progress
from headwater.packages.files import read_file
from headwater.packages.package import NORMALIZED, PARTIAL, LoadPackage, list_packages
from headwater.pipelines.extraction import Extraction
from headwater.pipelines.plan_merge import Simulation
from headwater.pipelines.plan_report import (
    ColumnAdd,
    CursorMove,
    PendingPackage,
    Plan,
    Quarantined,
    TablePlan,
    TypeChange,
)
from headwater.pipelines.workdir import WorkDir
from headwater.schema.checks import CheckResult
from headwater.schema.model import Schema
from headwater.schema.state import PipelineState, decode_value
from headwater.schema.stored import StoredTables
from headwater.schema.system import QUARANTINE_TABLE, SYSTEM_PREFIX
from headwater.schema.types import widen_decimal
from headwater.streams.resource import Resource

__all__ = ["ColumnAdd", "CursorMove", "PendingPackage", "Plan", "Quarantined", "TablePlan", "TypeChange", "make_plan"]

if TYPE_CHECKING:
    from headwater.pipelines.pipeline import Pipeline


class EmptyClient(ClosingClient):
    """A client on a destination that does not exist yet (a DuckDB file not created): it holds nothing."""

    def stored_schema(self, schema_name: str) -> Schema | None:
        """Nothing is stored."""
        return None

    def stored_state(self, pipeline_name: str) -> PipelineState | None:
        """Nothing is stored."""
        return None

    def stored_tables(self) -> StoredTables:
        """No tables."""
        return StoredTables()

    def query_arrow(self, sql: str) -> Any:
        """Refused: there is nothing to query (a dry run never asks, the destination having no tables).

        Raises:
            DestinationError: always.
        """
        raise DestinationError("the destination does not exist yet; nothing to query")


class ReadOnlyDestination:
    """``destination`` for a dry run: its clients only read (a DuckDB file opens read-only; one that does
    not exist is empty, not created). Destinations without a ``read_only()`` hook are used as they are:
    PostgreSQL and the lake destinations only read when asked for their schema, state and tables."""

    def __init__(self, destination: Destination) -> None:
        self.real = destination
        self.name = destination.name
        self.capabilities = destination.capabilities
        hook = getattr(destination, "read_only", None)
        self.inner: Destination | None = hook() if callable(hook) else destination

    def for_pipeline(self, pipeline_name: str) -> ReadOnlyDestination:
        """This destination (already made for its pipeline)."""
        return self

    def describe(self) -> str:
        """The real destination's description."""
        return self.real.describe()

    def to_uri(self) -> str | None:
        """The real destination's URI."""
        return self.real.to_uri()

    def client(self, dataset: str) -> Any:
        """A client that only reads; an :class:`EmptyClient` when the destination does not exist yet."""
        return EmptyClient() if self.inner is None else self.inner.client(dataset)


class _PlanExtraction(Extraction):
    """An extraction that limits each resource and remembers the state and tables it started from."""

    limit: int | None = None
    start_state: PipelineState | None = None
    stored: StoredTables = StoredTables()

    def resources(
        self, data: Any, *, schema_name: str | None, hints: dict[str, Any]
    ) -> tuple[str, list[Resource], int | None]:
        """The resources, each limited to ``limit`` items (copies: the caller's are not changed)."""
        name, resources, nesting = super().resources(data, schema_name=schema_name, hints=hints)
        if self.limit is not None:
            resources = [r._copy().add_limit(self.limit) for r in resources]
        return name, resources, nesting

    def starting_point(self, schema_name: str) -> tuple[Schema, PipelineState, StoredTables]:
        """The usual starting point, remembered."""
        schema, state, stored = super().starting_point(schema_name)
        self.start_state, self.stored = state.copy(), stored
        return schema, state, stored


def make_plan(
    pipeline: Pipeline, data: Any, *, limit: int | None, schema_name: str | None, hints: dict[str, Any]
) -> Plan:
    """The dry run of ``pipeline.run(data, schema_name=..., **hints)``: see the module docstring.

    Raises:
        ConfigError: a bad ``limit``; and whatever the extraction raises (nothing is kept).
    """
    from headwater.pipelines.pipeline import Pipeline

    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ConfigError(f"limit must be a non-negative integer, got {limit!r}")
    destination = ReadOnlyDestination(pipeline.destination)
    plan = Plan(pipeline.name, pipeline.destination.describe(), pipeline.dataset_name)
    tmp = Path(tempfile.mkdtemp(prefix="headwater-plan-"))
    try:
        work = WorkDir(tmp / pipeline.workdir.root.name)
        if pipeline.workdir.root.is_dir():
            shutil.copytree(pipeline.workdir.root, work.root, symlinks=True, ignore=_not_copied(pipeline.workdir))
        shadow = Pipeline(
            pipeline.name,
            destination,
            pipeline.dataset_name,
            work,
            progress=False,
            batch_size=pipeline.batch_size,
            batch_bytes=pipeline.batch_bytes,
            package_format=pipeline.package_format,
            mask_key=pipeline.mask_key,
        )
        waiting = [p for p in list_packages(work.packages) if p.status in (NORMALIZED, PARTIAL)]
        extraction = _PlanExtraction(shadow, make_progress(False, pipeline.name))
        extraction.limit = limit
        package = _extract(extraction, data, hints=hints, schema_name=schema_name, tmp=tmp)
        plan.pending = [
            PendingPackage(p.load_id, p.status, {t: f.rows for t, f in p.manifest.tables.items()}) for p in waiting
        ]
        loading = [p for p in waiting if p.status == NORMALIZED] + ([package] if package is not None else [])
        plan.load_id = package.load_id if package is not None else None
        with destination.client(pipeline.dataset_name) as client:
            stored = extraction.stored if package is not None else _stored(client)
            _compare(plan, client, stored, loading, scratch=tmp / "keys.duckdb")
        if package is not None and extraction.start_state is not None:
            plan.cursors = _cursor_moves(extraction.start_state, package)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return plan


def _not_copied(workdir: WorkDir) -> Any:
    """What the copy of the working folder leaves out: the lock, the run records, and the data kept of
    loaded packages (``keep_packages``; only their manifests matter)."""
    completed = workdir.completed.resolve()
    root = workdir.root.resolve()

    def ignore(folder: str, names: list[str]) -> set[str]:
        out = {n for n in names if n == ".lock" or (n == RUNS_FOLDER and Path(folder).resolve() == root)}
        if Path(folder).resolve().parent == completed and "data" in names:
            out.add("data")
        return out

    return ignore


def _extract(
    extraction: _PlanExtraction, data: Any, *, hints: dict[str, Any], schema_name: str | None, tmp: Path
) -> LoadPackage | None:
    """The extraction's package; a failure is raised as it happened, without the run's words about the
    partial package it keeps (the dry run keeps nothing).

    Raises:
        HeadwaterError: the extraction's failure (an :class:`ExtractError` for one that is no Headwater error).
    """
    if data is None:
        return None
    try:
        return extraction.run(data, hints=hints, schema_name=schema_name)
    except HeadwaterError as exc:
        if str(tmp) not in exc.message or exc.__cause__ is None:
            raise
        cause = exc.__cause__
        if isinstance(cause, HeadwaterError):
            raise cause from None
        raise ExtractError(f"extraction failed: {cause!r} (dry run: nothing was kept)") from cause


def _stored(client: Any) -> StoredTables:
    reader = getattr(client, "stored_tables", None)
    return reader() if reader is not None else StoredTables()


def _compare(plan: Plan, client: Any, stored: StoredTables, packages: list[LoadPackage], *, scratch: Path) -> None:
    """Fill ``plan`` with what loading ``packages`` in order would do to the destination (the keys
    mirrored in the DuckDB file ``scratch``, which spills to disk for large tables)."""
    schemas: dict[str, Schema] = {}
    simulation = Simulation(client, stored, path=scratch)
    try:
        for package in packages:
            schema = package.load_schema()
            schemas[schema.name] = schema
            _apply(plan, simulation, schema, package)
            if QUARANTINE_TABLE in package.manifest.tables:
                _quarantined(plan, package)
            plan.checks.extend(CheckResult.from_dict(r) for r in package.manifest.checks.get("results", []))
            plan.table_checks += sum(len(c) for c in (package.manifest.checks.get("tables") or {}).values())
    except DestinationError as exc:
        plan.notes.append(f"merge and replace counts unavailable: the destination refused a read ({exc.message})")
    finally:
        simulation.close()
    for schema in schemas.values():
        _schema_changes(plan, schema, stored)
    order = [t for s in schemas.values() for t in s.tables]
    plan.tables = dict(sorted(plan.tables.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)))


def _table(plan: Plan, schema: Schema, name: str, stored: StoredTables) -> Any:
    if name not in plan.tables:
        table = schema.tables[name]
        root = schema.root_of(name)
        plan.tables[name] = TablePlan(
            name,
            new=stored.table(name) is None,
            disposition=root.write_disposition,
            merge_strategy=(root.merge_strategy or "delete-insert") if root.write_disposition == "merge" else None,
            parent=table.parent,
        )
    return plan.tables[name]


def _add(current: int | None, more: int) -> int:
    return (current or 0) + more


def _apply(plan: Plan, simulation: Simulation, schema: Schema, package: LoadPackage) -> None:
    """One package's rows, replacements and merges, as the load runs them (replaces first)."""
    manifest = package.manifest
    stored = simulation.stored
    for replaced in manifest.replace_tables:
        for name in [replaced, *(t.name for t in schema.children_of(replaced))]:
            if name in schema.tables:
                t = _table(plan, schema, name, stored)
                t.replaced = _add(t.replaced, simulation.replace(name))
        plan._loaded.add(replaced)  # the run reports a replaced root table even without rows
    for root_name, table_names in tables_by_root(schema, manifest.tables).items():
        root = schema.tables[root_name]
        if root.write_disposition == "merge":
            counts = simulation.merge(schema, root, package)
            r = _table(plan, schema, root_name, stored)
            r.inserted, r.updated = _add(r.inserted, counts.inserted), _add(r.updated, counts.updated)
            r.deleted = _add(r.deleted, counts.deleted)
            for name, n in counts.rows.items():
                _table(plan, schema, name, stored).rows += n
                plan._loaded.add(name)
            for name, n in counts.child_deleted.items():
                child = _table(plan, schema, name, stored)
                child.deleted = _add(child.deleted, n)
        else:
            for name in table_names:
                rows = manifest.tables[name].rows
                _table(plan, schema, name, stored).rows += rows
                plan._loaded.add(name)
                simulation.added(name, rows)
    for name in manifest.tables:
        if name in schema.tables:
            _table(plan, schema, name, stored)
            plan._loaded.add(name)


def _schema_changes(plan: Plan, schema: Schema, stored: StoredTables) -> None:
    """Tables to create, columns to add and columns to widen: ``schema`` against the destination."""
    for table in schema.tables.values():
        have = stored.table(table.name)
        adds, changes = [], []
        for col in table.columns.values():
            if col.name.startswith(SYSTEM_PREFIX) or col.system:
                continue
            current = stored.column(table.name, col.name) if have is not None else None
            if current is None:
                adds.append(ColumnAdd(col.name, str(col.type), col.variant_of))
            elif not col.foreign and current.types and not current.holds(col.type):
                was = current.types[0]
                if (
                    was.name == "decimal"
                    and col.type.name in ("decimal", "bigint")
                    and widen_decimal(was, col.type) == was
                ):
                    continue  # the stored column is wider: the values fit as they are
                changes.append(TypeChange(col.name, str(was), str(col.type)))
        if have is None or adds or changes or table.name in plan.tables:
            t = _table(plan, schema, table.name, stored)
            t.columns_to_add, t.type_changes = adds, changes


def _quarantined(plan: Plan, package: LoadPackage) -> None:
    """The package's quarantined rows, counted per table, resource and reason."""
    import pyarrow as pa

    counts: dict[tuple[str, str, str], int] = {}
    for path in package.file_paths(QUARANTINE_TABLE):
        data = pa.Table.from_batches(list(read_file(path)))
        for row in data.group_by(["table_name", "resource", "reason"]).aggregate([([], "count_all")]).to_pylist():
            key = (row["table_name"], row["resource"], row["reason"])
            counts[key] = counts.get(key, 0) + row["count_all"]
    for (table, resource, reason), n in counts.items():
        found = next(
            (q for q in plan.quarantined if (q.table, q.resource, q.reason) == (table, resource, reason)), None
        )
        if found is not None:
            found.rows += n
        else:
            plan.quarantined.append(Quarantined(table, resource, reason, n))


def _cursor_moves(before: PipelineState, package: LoadPackage) -> list[CursorMove]:
    """Each cursor of the package's resources: where the extraction started, where the load leaves it."""
    after = package.load_state()
    if after is None:
        return []
    source = package.manifest.schema_name
    old = before.data.get("sources", {}).get(source, {}).get("incremental", {})
    new = after.data.get("sources", {}).get(source, {}).get("incremental", {})
    out = []
    for resource in package.manifest.resources:
        for path, slot in (new.get(resource) or {}).items():
            prev = (old.get(resource) or {}).get(path) or {}
            out.append(
                CursorMove(
                    source,
                    resource,
                    path,
                    decode_value(prev.get("last_value")),
                    decode_value(slot.get("last_value")) if isinstance(slot, dict) else None,
                )
            )
    return out
