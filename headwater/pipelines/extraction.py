"""Extraction into a load package: the steps of :meth:`Pipeline.extract` and of a run's first half.

:meth:`Extraction.run` turns the data into resources, refuses what could never load (before anything
is extracted), finds the schema and state to start from (the working folder's, or the destination's
when it is newer), opens a package, extracts and normalizes into it, records the schema and state
the package carries, and seals it: normalized, partial (a failure after some rows), or discarded
(nothing to load).
"""

from __future__ import annotations

import inspect
import logging
import time
from typing import TYPE_CHECKING, Any

from headwater import names
from headwater._failpoints import failpoint
from headwater.errors import ConfigError, DestinationError, ExtractError, HeadwaterError, described
from headwater.normalize.masking import missing_key
from headwater.normalize.normalizer import Normalizer
from headwater.observe.access import record_resource_reads
from headwater.observe.context import load_context
from headwater.observe.metrics import current_run
from headwater.observe.progress import Progress
from headwater.packages.files import drop_pending_command
from headwater.packages.package import NORMALIZED, OPEN, PARTIAL, LoadPackage, Manifest, list_packages
from headwater.packages.writer import PackageWriter
from headwater.pipelines.extract import Extractor
from headwater.pipelines.parts import PartsRun, independent, partitioned
from headwater.pipelines.router import ItemRouter
from headwater.pipelines.transforming import TransformRouter
from headwater.redact import redact, register
from headwater.schema.hints import CursorHint, check_masked_cursor, check_merge
from headwater.schema.masks import resolve_key
from headwater.schema.model import Schema
from headwater.schema.state import PipelineState
from headwater.schema.stored import StoredTables
from headwater.streams.engine import Scope, plan
from headwater.streams.resource import Resource, data_name, make_resource
from headwater.streams.source import Source, SourceFactory

if TYPE_CHECKING:
    from headwater.pipelines.pipeline import Pipeline
    from headwater.pipelines.workdir import WorkDir

log = logging.getLogger("headwater")


class Extraction:
    """One extraction of ``pipeline`` into a new load package (see :meth:`run`)."""

    def __init__(self, pipeline: Pipeline, progress: Progress) -> None:
        self.pipeline = pipeline
        self.progress = progress
        self.workdir: WorkDir = pipeline.workdir
        #: the figures of the run this extraction is part of (None outside a recorded run: a dry run)
        self.metrics = current_run()
        self.package: LoadPackage | None = None

    def run(self, data: Any, *, hints: dict[str, Any], schema_name: str | None) -> LoadPackage | None:
        """Extract ``data`` into a package on disk: the package (normalized), or None when there was
        nothing to load. A failure after some rows keeps them in a partial package and raises.

        The run's metrics get the time as the ``extract`` stage, and the package's load id."""
        start = time.time_ns()
        try:
            return self._run(data, hints=hints, schema_name=schema_name)
        finally:
            package = self.package
            if self.metrics is not None:
                load_id = package.load_id if package is not None else None
                self.metrics.add_stage("extract", start, time.time_ns(), load_id)
                if package is not None and package.status in (NORMALIZED, PARTIAL):
                    self.metrics.load_ids.append(package.load_id)

    def _run(self, data: Any, *, hints: dict[str, Any], schema_name: str | None) -> LoadPackage | None:
        schema_name, resources, max_nesting = self.resources(data, schema_name=schema_name, hints=hints)
        schema_name = names.source_name(schema_name, what="schema")
        self.refuse_early(resources)
        self.discard_open_packages()
        schema, state, stored = self.starting_point(schema_name)
        previous, previous_state = schema.copy(), state.copy()
        started = time.perf_counter()
        package = self.open_package(schema, state, resources)
        with load_context(package.load_id):  # log records of this extraction name its package
            parts = self.extract_parts(resources, schema, state, stored, package, max_nesting)
            if parts is not None:
                resources = [r for r in resources if r not in parts.resources]
            writer = PackageWriter(package, file_format=self.pipeline.package_format)
            router = TransformRouter(
                self.router(schema, package.load_id, writer, stored, max_nesting), resources, package.root
            )
            for r in resources:  # a resource that yields nothing still has its table checks run (row_count)
                if r.selected and r.hints.table_checks and not callable(r.hints.table_name):
                    router.normalizer.checks.note(names.table_name(r.hints.table_name or r.name), r.hints.table_checks)
            self.progress.stage("extract + normalize")
            failure = self.extract(resources, router, Scope(state, schema.name, self.metrics))
            record_resource_reads(resources, self.metrics)
            self.progress.extracted()
            self.close_writer(package, writer)
            router.normalizer.checks.close()
            _release_memory()
            self.record(package, schema, previous, resources, router, started)
            if parts is not None:
                parts.finish(package.manifest)
            state_changed = state.data != previous_state.data
            self.record_state(package, state, schema.name)
            return self.seal(package, state, failure, state_changed=state_changed)

    # -- the steps -------------------------------------------------------------------------------
    def extract_parts(
        self,
        resources: list[Resource],
        schema: Schema,
        state: PipelineState,
        stored: StoredTables,
        package: LoadPackage,
        max_nesting: int | None,
    ) -> PartsRun | None:
        """The partitioned resources, extracted on the pipeline's executor and adopted into ``package``
        (None when there are none). A partition that keeps failing discards the package and raises."""
        chosen = partitioned(resources)
        chosen += [r for r in independent(resources, self.pipeline.executor) if r not in chosen]
        if not chosen:
            return None
        fed = sorted({r.name for r in resources if r.parent is not None and r.parent.name in {c.name for c in chosen}})
        if fed:
            raise ConfigError(
                f"resource {fed[0]!r} is a transformer of a partitioned resource, which cannot feed transformers yet",
                hint="read what the transformer needs inside the partitioned resource, or drop partitions=",
                resource=fed[0],
            )
        parts = PartsRun(self, chosen, self.pipeline.executor)
        self.progress.stage("extract + normalize partitions")
        try:
            parts.run(schema, state, stored, package, max_nesting)
        except BaseException:
            package.discard()
            self.package = None
            raise
        return parts

    def resources(
        self, data: Any, *, schema_name: str | None, hints: dict[str, Any]
    ) -> tuple[str, list[Resource], int | None]:
        """What to extract from ``data`` (a source, a source factory, a resource or plain data), with ``hints`` applied.

        Returns:
            The schema name, the resources (a source's are copies), and the source's ``max_nesting``
            (None if ``data`` is no source).

        Raises:
            ConfigError: ``table_name`` given for a source of several resources.
        """
        given = {k: v for k, v in hints.items() if v is not None}
        if isinstance(data, SourceFactory):
            data = data()
        if isinstance(data, Source):
            if given.get("table_name") is not None and len(data.selected_resources) > 1:
                raise ConfigError(
                    "table_name= applies to one resource, but the source has several",
                    hint="set table names on the resources (@hw.resource(table_name=...))",
                )
            resources = [r._copy() for r in data.resources.values()]
            if given:
                resources = [r.apply_hints(**given) if r.selected else r for r in resources]
            return schema_name or data.name, resources, data.max_nesting
        if isinstance(data, Resource):
            res = data._copy().apply_hints(**given) if given else data
            return schema_name or self.pipeline.name, [res], None
        if isinstance(data, list | tuple) and data and all(isinstance(r, Resource) for r in data):
            return schema_name or self.pipeline.name, list(data), None
        table_name = given.pop("table_name", None)
        if isinstance(table_name, str):
            name: str | None = table_name
        elif table_name is not None:  # a function of the item names the tables; the data needs a name
            name = data_name(data) or self.pipeline.name
        else:
            name = None
        res = make_resource(data, name=name, table_name=table_name, **given)
        return schema_name or self.pipeline.name, [res], None

    def refuse_early(self, resources: list[Resource]) -> None:
        """Bad table names, merges without keys and what the destination cannot do are refused before
        extracting: a package that can never load would block the pipeline."""
        destination = self.pipeline.destination
        key = resolve_key(self.pipeline.mask_key)
        if key is not None:
            register(key.decode("utf-8", "replace"))
        for r in resources:
            if r.selected:
                hashed = sorted(n for n, m in r.hints.masks().items() if m.kind == "hash")
                if hashed and key is None:
                    raise missing_key(hashed[0], r.name)
                for cursor in _argument_cursors(r) if r.hints.masks() else ():
                    check_masked_cursor(r.hints.columns, cursor, r.name)
                if r.hints.table_name is None or isinstance(r.hints.table_name, str):
                    names.table_name(r.hints.table_name or r.name, resource=r.name)
                check_merge(r.hints, r.name)
                refused = destination.capabilities.refusal(r.hints)
                if refused is not None:
                    raise ConfigError(f"resource {r.name!r}: {refused[0]} by {destination.describe()}", hint=refused[1])

    def discard_open_packages(self) -> None:
        """Discard the packages left open by an interrupted run."""
        for p in list_packages(self.workdir.packages):
            if p.status == OPEN:
                log.warning("discarding incomplete package %s left by an interrupted run", p.load_id)
                p.discard()

    def starting_point(self, schema_name: str) -> tuple[Schema, PipelineState, StoredTables]:
        """The schema and state an extraction starts from, and the tables the destination holds.

        Normally the working folder's. The destination's when the working folder has none (a new
        machine), when the local state came from a package that no longer exists (deleted by hand),
        or when the destination holds a newer committed version (the pipeline ran elsewhere).
        """
        schema = self.workdir.read_schema(schema_name)
        state = self.workdir.read_state()
        if state is not None and state.load_id is not None and not self.workdir.knows_load(state.load_id):
            log.warning(
                "the local state comes from load %s, which is neither waiting nor loaded here; "
                "using the state committed in the destination",
                state.load_id,
            )
            state = None
        try:
            with self.pipeline._client() as client:
                stored_state = client.stored_state(self.pipeline.name)
                stored_schema = client.stored_schema(schema_name)
                reader = getattr(client, "stored_tables", None)  # custom destinations may not tell
                stored = reader() if reader is not None else StoredTables()
        except DestinationError as exc:
            if schema is None or state is None:
                raise  # nothing local to start from: the destination must answer
            log.warning("could not read the committed state from the destination (%s); using the local one", exc)
            stored_state, stored_schema, stored = None, None, StoredTables()
        if stored_state is not None and (state is None or stored_state.version > state.version):
            if state is not None:
                log.warning(
                    "the destination holds state version %s, newer than the local %s (the pipeline ran "
                    "elsewhere); continuing from it",
                    stored_state.version,
                    state.version,
                )
            state = stored_state
        if stored_schema is not None and (schema is None or stored_schema.version > schema.version):
            schema = stored_schema
        return (schema.copy() if schema is not None else Schema(schema_name)), (state or PipelineState()), stored

    def open_package(self, schema: Schema, state: PipelineState, resources: list[Resource]) -> LoadPackage:
        """A new package (status open) under a new load id, its manifest naming what it is built on."""
        manifest = Manifest(
            load_id=self.pipeline._new_load_id(),
            pipeline=self.pipeline.name,
            schema_name=schema.name,
            dataset=self.pipeline.dataset_name,
            resources=[r.name for r in resources if r.selected],
            base_state_version=state.version,
            base_state_load_id=state.load_id,
        )
        self.package = LoadPackage.create(self.workdir.packages, manifest)
        return self.package

    def router(
        self, schema: Schema, load_id: str, writer: PackageWriter, stored: StoredTables, max_nesting: int | None
    ) -> ItemRouter:
        """Items to batches, batches to the normalizer, Arrow tables to the package writer."""
        capabilities = self.pipeline.destination.capabilities
        normalizer = Normalizer(
            schema,
            load_id=load_id,
            sink=writer.write,
            widening=capabilities.type_widening,
            stored=stored,
            text_nul=capabilities.text_holds_nul,
            mask_key=resolve_key(self.pipeline.mask_key),
            metrics=self.metrics,
        )
        return ItemRouter(
            normalizer,
            batch_size=self.pipeline.batch_size,
            batch_bytes=self.pipeline.batch_bytes,
            progress=self.progress,
            max_nesting=max_nesting,
        )

    @staticmethod
    def extract(resources: list[Resource], router: TransformRouter, scope: Scope) -> BaseException | None:
        """Run the resources into the router; the failure, if any (rows buffered before it are still
        normalized; a transform over all of the data is abandoned)."""
        try:
            Extractor(plan(resources), router, scope).run()
            router.flush_all()
            router.normalizer.checks.drain()  # row checks still running on their thread
        except BaseException as exc:
            try:
                router.flush_all(failed=True)
            except Exception as flush_exc:
                log.warning("could not normalize rows buffered before the failure: %s", flush_exc)
            return exc
        return None

    @staticmethod
    def close_writer(package: LoadPackage, writer: PackageWriter) -> None:
        """Close the package writer; discard the package if that fails."""
        try:
            writer.close()
        except BaseException:
            package.discard()
            raise

    def record(
        self,
        package: LoadPackage,
        schema: Schema,
        previous: Schema,
        resources: list[Resource],
        router: TransformRouter,
        started: float,
    ) -> None:
        """The manifest's tables replaced, schema version and new columns; the new schema version
        written into the package and the working folder."""
        manifest = package.manifest
        manifest.replace_tables = _replaced_tables(resources, router)
        schema.bump_version()
        manifest.schema_version = schema.version
        diff = schema.diff(previous)
        manifest.new_columns = {
            t: cols for t in schema.tables if (cols := [c for c in diff.new_columns(t) if not c.startswith("_hw_")])
        }
        manifest.extract_seconds = time.perf_counter() - started
        manifest.checks = router.normalizer.checks.report(schema)
        package.write_schema(schema.to_json())
        self.workdir.write_schema(schema)

    @staticmethod
    def record_state(package: LoadPackage, state: PipelineState, schema_name: str) -> None:
        """The state the package commits: its resources extracted under its load id."""
        state.mark_extracted(schema_name, package.manifest.resources, package.load_id)
        state.advance(package.load_id)
        package.write_state(state.to_json())

    def seal(
        self, package: LoadPackage, state: PipelineState, failure: BaseException | None, *, state_changed: bool
    ) -> LoadPackage | None:
        """Partial after a failure (raises), discarded when there is nothing to load, else normalized."""
        manifest = package.manifest
        if failure is not None:
            return self.keep_partial(package, failure)
        table_checks = bool(manifest.checks.get("tables"))  # run even on no new rows (a row_count, say)
        if not manifest.tables and not manifest.replace_tables and not state_changed and not table_checks:
            package.discard()
            return None
        package.set_status(NORMALIZED)
        failpoint("package.sealed")
        self.workdir.write_state(state)  # the next extraction starts here, even before this load
        return package

    def keep_partial(self, package: LoadPackage, failure: BaseException) -> LoadPackage:
        """Keep the rows extracted before ``failure`` as a partial package, then raise. Never returns.

        Raises:
            HeadwaterError: ``failure``'s type again, saying where the rows are kept and how to go on; an
                :class:`ExtractError` for a failure that is no Headwater error. An interrupt is raised as is,
                and so is ``failure`` when no rows were extracted (the empty package is discarded).
        """
        rows = package.manifest.total_rows
        if rows == 0:
            package.discard()
            raise failure
        package.set_status(PARTIAL, error=redact(described(failure)))
        message = (
            f"{rows:,} rows extracted before the failure are kept in the partial package "
            f"{package.load_id} ({package.root})"
        )
        hint = (
            "fix the cause and run again: the rerun extracts these rows again, which makes this package stale; "
            f"drop it then: {drop_pending_command(self.workdir.root, [package.load_id])}. Or load only these "
            "rows now, before any rerun: pipeline.load(include_partial=True)"
        )
        if isinstance(failure, HeadwaterError):
            if failure.hint and not isinstance(failure, ExtractError):  # an ExtractError's hint says the same
                hint = f"{failure.hint}\n  then: {hint}"
            where = dict(failure.where)
            where["package_path"] = str(package.root)
            kept = type(failure)(f"{failure.message}; {message}", hint=hint, **where)
            for key, value in vars(failure).items():  # what a subclass adds (a connector's exit code, say)
                if key not in ("message", "hint", "where") and key not in where:
                    setattr(kept, key, value)
            raise kept from failure
        if isinstance(failure, KeyboardInterrupt | SystemExit):
            log.warning("interrupted: %s", message)
            raise failure
        raise ExtractError(
            f"extraction failed: {failure!r}; {message}", hint=hint, package_path=str(package.root)
        ) from failure


def _replaced_tables(resources: list[Resource], router: TransformRouter) -> list[str]:
    """Root tables this load replaces: those of replace resources, even when they yielded nothing."""
    out: list[str] = []
    for r in resources:
        if not (r.selected and r.hints.write_disposition == "replace"):
            continue
        names = set(router.tables_by_resource.get(r.name, ()))
        static = router.touch(r)
        if static is not None:
            names.add(static)
        out.extend(sorted(n for n in names if n not in out))
    out.extend(sorted(n for n in router.replaced_by_items if n not in out))
    return out


def _release_memory() -> None:
    """Give memory freed by normalization back to the OS before the load needs its own.

    Arrow's allocator keeps freed pages for reuse and glibc keeps freed heap; both would otherwise
    count against the run's peak while the destination loads.
    """
    import ctypes

    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _argument_cursors(resource: Resource) -> list[CursorHint]:
    """The cursors a resource's function takes as arguments (defaults or given values)."""
    fn = resource._data
    try:
        params = inspect.signature(fn).parameters.values() if callable(fn) else ()
    except (TypeError, ValueError):
        return []
    values = [p.default for p in params] + list(resource._args) + list(resource._kwargs.values())
    return [v for v in values if isinstance(v, CursorHint)]
