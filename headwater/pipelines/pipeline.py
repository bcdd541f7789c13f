"""The pipeline: the facade that extracts, normalizes, packages and loads.

::

    pipeline = hw.pipeline("github", destination="duckdb", dataset="raw")
    info = pipeline.run(github())

``run`` first loads packages left by an earlier run that stopped after packaging (so nothing is
extracted twice), then extracts and normalizes the new data into a package on disk, then loads it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack

from headwater import names
from headwater.destinations import resolve
from headwater.destinations.protocol import Destination, DestinationClient
from headwater.errors import ConfigError, StateError
from headwater.executors import Executor
from headwater.executors import resolve as resolve_executor
from headwater.observe.otel import resolve as resolve_telemetry
from headwater.observe.progress import Progress, make_progress
from headwater.packages.files import drop_pending_command
from headwater.packages.package import NORMALIZED, PARTIAL, LoadPackage, list_packages
from headwater.packages.writer import FILE_FORMATS
from headwater.pipelines.extraction import Extraction
from headwater.pipelines.hooks import Hooks
from headwater.pipelines.info import LoadInfo
from headwater.pipelines.loading import load_new, load_pending
from headwater.pipelines.models import SqlModel, after_load, resolve_models, run_all
from headwater.pipelines.observed import check_progress, observed
from headwater.pipelines.pending import note_partial
from headwater.pipelines.router import DEFAULT_BATCH_BYTES, DEFAULT_BATCH_SIZE, check_batch_bounds
from headwater.pipelines.runs import observed as recorded
from headwater.pipelines.workdir import Identity, WorkDir, default_pipelines_dir, only_workdir, workdir_for
from headwater.redact import redact, register, storable_url
from headwater.schema.hints import HintArgs, check_arguments
from headwater.schema.masks import resolve_key
from headwater.schema.model import Schema
from headwater.schema.state import PipelineState

if TYPE_CHECKING:
    from headwater.pipelines.dataset import Dataset
    from headwater.pipelines.plan_report import Plan

log = logging.getLogger("headwater")


@check_arguments
def pipeline(
    name: str,
    destination: Any = None,
    dataset: str | None = None,
    *,
    pipelines_dir: str | os.PathLike[str] | None = None,
    progress: bool | str = "auto",
    batch_size: int = DEFAULT_BATCH_SIZE,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    keep_packages: bool = False,
    package_format: str = "arrow",
    claim: bool = True,
    mask_key: str | bytes | None = None,
    models: Any = None,
    on_failure: Any = None,
    on_success: Any = None,
    telemetry: bool | None = None,
    executor: Any = None,
) -> Pipeline:
    """Create (or reopen) a pipeline.

    Args:
        name: the pipeline's name; it names the working folder and the default DuckDB file
            (ASCII letters, digits, ``_``, ``-``, ``.``; see :mod:`headwater.names`).
        destination: ``"duckdb"`` (default), a URI such as ``"duckdb:///data/x.duckdb"``, or a
            destination object such as ``hw.destinations.duckdb("x.duckdb")``.
        dataset: the destination dataset (a DuckDB schema): letters, digits, ``_`` and ``-``;
            default: ``<name>_dataset`` (a DuckDB file is a catalog named after the file, so a
            schema of the same name would be ambiguous; the default never equals it).
        pipelines_dir: where working folders live; default ``~/.headwater/pipelines``
            (or ``$HEADWATER_HOME/pipelines``). A working folder belongs to one destination and
            dataset: the same name with another one gets a folder of its own
            (see :mod:`headwater.pipelines.workdir`).
        progress: ``"auto"``: a live table on a terminal, else a log line per table; ``"log"``, True or False.
        batch_size: rows normalized at once per table; bounds memory.
        batch_bytes: bytes normalized at once per table (8 MiB, dicts as JSON); a batch ends at either bound.
        keep_packages: keep the data files of loaded packages under ``completed/``.
        package_format: ``"arrow"`` (Arrow IPC, the fastest) or ``"parquet"`` for package files.
        claim: write the new working folder's ``pipeline.json`` now (False: leave the disk as it is,
            for a dry run; the first run claims it).
        mask_key: the secret key of ``hash`` masks (column hints ``{"mask": "hash"}``); default
            ``$HEADWATER_MASK_KEY``, read when data is extracted. Never shown in messages or logs.
        models: SQL models run in the destination after each load: ``.sql`` files (the table is the stem),
            folders of them, ``{"table": "SELECT ..."}`` (see :mod:`headwater.pipelines.models`).
        on_failure, on_success: called when a run (``run``, ``load``, ``extract``) fails or succeeds with its
            summary (a dict): a callable, or a webhook URL that gets it as a JSON POST. A failing hook is
            logged and changes nothing (see :mod:`headwater.pipelines.hooks`).
        telemetry: export each run to OpenTelemetry (the ``otel`` extra; see :mod:`headwater.observe.otel`);
            default ``$HEADWATER_TELEMETRY`` (``1``/``0``). Every run is recorded anyway (``headwater runs``).
        executor: where partitions (``@hw.resource(partitions=...)``) run: ``"threads"`` (default),
            ``"processes"`` (every core), ``"ray"`` (a local Ray cluster), or an executor object:
            ``hw.executors.processes(workers=4)``, ``hw.executors.ray(address, storage=...)`` (docs/scale.md).
    """
    name, progress = names.pipeline_name(name), check_progress(progress)
    check_batch_bounds(batch_size, batch_bytes)
    if package_format not in FILE_FORMATS:
        raise ConfigError(f"unknown package_format {package_format!r}", hint="use 'arrow' or 'parquet'")
    root = Path(pipelines_dir).expanduser() if pipelines_dir is not None else default_pipelines_dir()
    dest = resolve(destination, name)
    catalog = _catalog_name(dest)
    if dataset is None:
        dataset = names.default_dataset(name, reserved=[catalog] if catalog else [])
    else:
        dataset = names.dataset_name(dataset, max_bytes=dest.capabilities.max_identifier_length)
        if catalog is not None and dataset.casefold() == catalog.casefold():
            log.warning(
                "dataset %r has the name of its DuckDB catalog (the file %s): in SQL, %s.<table> is ambiguous "
                "(qualify it as %s.%s.<table>, or choose another dataset)",
                dataset,
                dest.describe(),
                dataset,
                catalog,
                dataset,
            )
    made = Pipeline(
        name,
        dest,
        dataset,
        workdir_for(root, _identity(name, dest, dataset)),
        progress=progress,
        batch_size=batch_size,
        batch_bytes=batch_bytes,
        keep_packages=keep_packages,
        package_format=package_format,
        mask_key=mask_key,
        models=resolve_models(models, destination=dest, dataset=dataset),
        hooks=Hooks.check(on_failure, on_success),
        telemetry=resolve_telemetry(telemetry),
        executor=resolve_executor(executor),
    )
    if claim and not made.workdir.exists():  # claimed now: a pipeline made next with another destination gets its own
        made._write_meta(run=False)
    return made


def attach(name: str, pipelines_dir: str | os.PathLike[str] | None = None) -> Pipeline:
    """Reopen a pipeline from its working folder (as the command line does).

    Raises:
        StateError: when there is no such pipeline, or its destination cannot be reopened by URI.
    """
    root = Path(pipelines_dir).expanduser() if pipelines_dir is not None else default_pipelines_dir()
    workdir = only_workdir(root, name)
    meta = workdir.read_meta()
    name = meta.get("pipeline") or name
    uri = meta.get("destination_uri")
    if not uri:
        raise StateError(
            f"the destination of pipeline {name!r} ({meta.get('destination')}) cannot be reopened from its "
            "working folder",
            hint="use the pipeline from Python, where its destination object is built",
        )
    return pipeline(name, destination=uri, dataset=meta.get("dataset"), pipelines_dir=root, progress=False)


def _identity(name: str, destination: Destination, dataset: str) -> Identity:
    """What a pipeline's working folder belongs to (the destination as ``pipeline.json`` records it)."""
    where = storable_url(destination.to_uri()) or redact(destination.describe())
    return Identity(name, destination.name, where, dataset)


def _kept_connections(destination: Destination) -> Any:
    """A DuckDB destination keeps one connection from the state read to the load and the run's ``_hw_runs``
    row (its keep_connections)."""
    return getattr(destination, "keep_connections", contextlib.nullcontext)()


def _catalog_name(destination: Destination) -> str | None:
    """The SQL catalog a destination's datasets live in, when it is known before connecting (a DuckDB
    file's catalog is named after the file): the default dataset must not take that name."""
    hook = getattr(destination, "catalog_name", None)
    value = hook() if callable(hook) else None
    return value if isinstance(value, str) and value else None


class Pipeline:
    """Moves data from sources into one dataset of one destination. Build it with :func:`pipeline`."""

    def __init__(
        self,
        name: str,
        destination: Destination,
        dataset: str,
        workdir: WorkDir,
        *,
        progress: bool | str = "auto",
        batch_size: int = DEFAULT_BATCH_SIZE,
        batch_bytes: int = DEFAULT_BATCH_BYTES,
        keep_packages: bool = False,
        package_format: str = "arrow",
        mask_key: str | bytes | None = None,
        models: tuple[SqlModel, ...] = (),
        hooks: Hooks | None = None,
        telemetry: bool = False,
        executor: Executor | None = None,
    ) -> None:
        resolve_key(mask_key)  # a key of the wrong type is refused at once
        register(mask_key.decode("utf-8", "replace") if isinstance(mask_key, bytes) else mask_key)
        self.name = name
        self.mask_key = mask_key
        self.destination = destination
        self.dataset_name = dataset
        self.workdir = workdir
        self.progress_setting = progress
        self.batch_size = batch_size
        self.batch_bytes = batch_bytes
        self.keep_packages = keep_packages
        self.package_format = package_format
        self._last_load_id = ""
        self.models = models
        self.hooks = hooks or Hooks()
        self.telemetry = telemetry
        self.executor = executor or resolve_executor(None)

    def __repr__(self) -> str:
        return f"<Pipeline {self.name!r} -> {self.destination.describe()} dataset={self.dataset_name!r}>"

    # -- public API ------------------------------------------------------------------------------
    @check_arguments
    @observed("run")
    def run(self, data: Any = None, *, schema_name: str | None = None, **hints: Unpack[HintArgs]) -> LoadInfo:
        """Extract ``data``, normalize it into a package and load it; load leftover packages first.

        ``data`` is a source, a resource, a list of resources, or any data: a list or generator of
        dicts, an Arrow table, a pandas/polars frame, an async generator. Hints given here
        (``table_name``, ``write_disposition``, ``primary_key``... see
        :class:`~headwater.schema.hints.HintArgs`) apply to a single resource (or to plain data,
        which then needs ``table_name``). Then the SQL models run (``models=``); one failing raises
        :class:`~headwater.errors.ModelError` (the loads stay committed; ``exc.info`` is this run's info).
        """
        progress = make_progress(self.progress_setting, self.name)
        info = self._info()
        try:
            with self.workdir.lock(self.name), _kept_connections(self.destination), recorded(self, "run", info):
                self._write_meta()
                if any(p.status == NORMALIZED for p in list_packages(self.workdir.packages)):
                    with self._client() as client:
                        info.loads.extend(load_pending(self, client, progress, include_partial=False))
                if data is not None:
                    # extract before connecting: a destination that is down must not waste an extraction
                    package = self._extract(data, progress, hints=dict(hints), schema_name=schema_name)
                    if package is not None:
                        info.loads.append(load_new(self, package, progress))
                note_partial(self, info)
                after_load(self, info)
        except BaseException:
            progress.close()
            raise
        progress.close(str(info))
        return info

    @check_arguments
    @observed("extract")
    def extract(self, data: Any, *, schema_name: str | None = None, **hints: Unpack[HintArgs]) -> str | None:
        """Extract and normalize ``data`` into a load package on disk without loading it.

        Returns the package's load id (None if there was nothing to extract). :meth:`load` or the
        next :meth:`run` loads it.
        """
        progress = make_progress(self.progress_setting, self.name)
        try:
            with self.workdir.lock(self.name), recorded(self, "extract"):
                self._write_meta()
                package = self._extract(data, progress, hints=dict(hints), schema_name=schema_name)
        finally:
            progress.close()
        return package.load_id if package is not None else None

    @check_arguments
    def plan(
        self, data: Any = None, *, limit: int | None = None, schema_name: str | None = None, **hints: Unpack[HintArgs]
    ) -> Plan:
        """What :meth:`run` would do with ``data``, without writing anything (a dry run).

        Extracts and normalizes as a run does (``limit``: at most that many items per resource) in a
        copy of the working folder, reading the destination without writing (a DuckDB file opens read-only
        and is not created), then deletes the copy. See :mod:`headwater.pipelines.plan`.

        Returns:
            Per table: new or existing, columns to add, type changes, variant columns, rows to insert,
            replace and merge counts; rows quarantined; cursor moves; packages waiting.
        """
        from headwater.pipelines.plan import make_plan

        return make_plan(self, data, limit=limit, schema_name=schema_name, hints=dict(hints))

    @observed("load")
    def load(self, *, include_partial: bool = False) -> LoadInfo:
        """Load every package waiting on disk, oldest first.

        Args:
            include_partial: also load packages kept from runs whose extraction failed (after the
                normalized ones). A partial package whose resources were extracted again since (a
                *stale* one: its rows would load twice) is refused before anything loads.

        Raises:
            StateError: a stale partial package (the hint gives the command that drops it), or a
                package whose files are damaged (likewise).
        """
        progress = make_progress(self.progress_setting, self.name)
        info = self._info()
        try:
            with self.workdir.lock(self.name), recorded(self, "load", info):
                with self._client() as client:
                    info.loads.extend(load_pending(self, client, progress, include_partial=include_partial))
                    note_partial(self, info)
                after_load(self, info)
        finally:
            progress.close()
        return info

    def run_models(self) -> LoadInfo:
        """Run the SQL models now (``models=``), recorded with the newest load; ``info.models`` tells each.

        Raises:
            ModelError: a model failed (the others ran; those reading it were skipped).
        """
        with self.workdir.lock(self.name):
            return run_all(self, self._info(), None)

    def pending_packages(self) -> list[LoadPackage]:
        """Packages on disk that are not loaded yet (normalized, or partial from a failed run)."""
        return [p for p in list_packages(self.workdir.packages) if p.status in (NORMALIZED, PARTIAL)]

    def drop_pending(self, load_id: str | list[str] | None = None) -> list[str]:
        """Drop packages waiting on disk: all of them, or those of ``load_id`` (one id or a list).

        Nothing in the destination changes. The local state and schemas that came from the dropped
        packages are set back, so the next run extracts their rows again from the cursors committed
        in the destination. The way out of a package the destination refuses for good, of a damaged
        package, and of stale partial packages; ``headwater pipeline drop-pending`` does the same.

        Returns:
            The load ids dropped.

        Raises:
            StateError: an unknown load id, or a package that newer waiting packages continue (drop
                them together).
        """
        from headwater.pipelines.pending import drop_pending

        ids = [load_id] if isinstance(load_id, str) else None if load_id is None else list(load_id)
        with self.workdir.lock(self.name):
            return drop_pending(self.workdir, ids)

    def schema(self, name: str | None = None) -> Schema:
        """The newest local version of a schema (default: the only one, or the pipeline's)."""
        names = self.workdir.schema_names()
        if name is None:
            name = names[0] if len(names) == 1 else self.name
        schema = self.workdir.read_schema(name)
        if schema is None:
            raise StateError(
                f"pipeline {self.name!r} has no schema {name!r}",
                hint=f"schemas here: {', '.join(names) or 'none yet (run the pipeline first)'}",
            )
        return schema

    @property
    def schema_names(self) -> list[str]:
        """The names of the schemas in the working folder."""
        return self.workdir.schema_names()

    @property
    def state(self) -> PipelineState:
        """The pipeline's state as the next extraction will start from it (a copy)."""
        return self.workdir.read_state() or PipelineState()

    def reset_state(self, resource: str | None = None, *, source: str | None = None) -> list[str]:
        """Forget what resources remember (cursors and ``hw.state()``): all, a source's, or one resource's.

        The reset is committed to the destination too, so a new machine does not bring the old state
        back. Returns the ``source.resource`` names that were reset (empty, and nothing committed,
        when the named resource has no state).

        Raises:
            ConfigError: a source or resource the pipeline never ran (with a "did you mean").
            StateError: packages wait to be loaded (their state would undo the reset).
        """
        with self.workdir.lock(self.name):
            if self.pending_packages():
                raise StateError(
                    f"pipeline {self.name!r} has packages waiting to be loaded; their state would undo the reset",
                    hint="load them first (pipeline.load()), or drop them: "
                    f"{drop_pending_command(self.workdir.root)} (pipeline.drop_pending())",
                )
            with self._client() as client:
                local = self.workdir.read_state()
                stored = client.stored_state(self.name)
                newest = max((s for s in (local, stored) if s is not None), key=lambda s: s.version, default=None)
                state = newest.copy() if newest is not None else PipelineState()
                if source is not None or resource is not None:
                    seen: dict[str, set[str]] = {}
                    for m in self.workdir.completed_manifests():
                        seen.setdefault(m.schema_name, set()).update(m.resources)
                    state.check_names(source, resource, also=seen, pipeline=self.name)
                done = state.reset(source, resource)
                if not done and resource is not None:
                    return []
                state.data["version"] = max(local.version if local else 0, stored.version if stored else 0)
                state.advance(None)
                client.store_state(self.name, state)
            self.workdir.write_state(state)
            return done

    def drop(self) -> list[str]:
        """Drop everything the pipeline made: its tables and state in the destination, its working folder.

        Returns the dropped tables.
        """
        with self.workdir.lock(self.name), self._client() as client:
            schemas = [s for n in self.workdir.schema_names() if (s := self.workdir.read_schema(n))]
            for name in {s.name for s in schemas} | set(self._stored_schema_names(client)):
                if not any(s.name == name for s in schemas) and (stored := client.stored_schema(name)):
                    schemas.append(stored)
            tables = [t for s in schemas for t in s.tables] + [m.name for m in self.models]  # SQL models' too
            client.drop(self.name, tables, [s.name for s in schemas])
        # only ever the pipeline's own folder, inside the pipelines folder
        shutil.rmtree(names.inside(self.workdir.root.parent, self.workdir.root.name), ignore_errors=True)
        return tables

    def _stored_schema_names(self, client: DestinationClient) -> list[str]:
        state = client.stored_state(self.name)
        return list(state.data.get("sources", {})) if state is not None else []

    def query(self, sql: str) -> Any:
        """Run SQL on the destination and return an Arrow table; unqualified names are the dataset's."""
        with self._client() as client:
            return client.query_arrow(sql)

    def dataset(self) -> Dataset:
        """The dataset as it landed, to read: ``.tables()``, ``.table(name)``, ``.query(sql)``, ``.ibis()``
        (see :mod:`headwater.pipelines.dataset`). Reading never writes."""
        from headwater.pipelines.dataset import Dataset

        return Dataset(self)

    # -- internals ---------------------------------------------------------------------------------
    def _info(self) -> LoadInfo:
        return LoadInfo(self.name, self.destination.describe(), self.dataset_name)

    def _client(self) -> DestinationClient:
        return self.destination.client(self.dataset_name)

    @property
    def identity(self) -> Identity:
        """The pipeline, destination and dataset its working folder belongs to."""
        return _identity(self.name, self.destination, self.dataset_name)

    def _write_meta(self, *, run: bool = True) -> None:
        self.workdir.check_owner(self.identity)
        meta = self.workdir.read_meta()
        meta.update(
            {
                "pipeline": self.name,
                "destination": redact(self.destination.describe()),  # no secret is written down
                "destination_type": self.destination.name,
                "destination_uri": storable_url(self.destination.to_uri()),
                "dataset": self.dataset_name,
                "last_run_at": time.time(),
            }
        )
        meta.setdefault("created_at", time.time())
        if not run:  # the folder is claimed by a pipeline that has not run yet
            meta.pop("last_run_at", None)
        self.workdir.write_meta(meta)

    def _new_load_id(self) -> str:
        load_id = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        while load_id <= self._last_load_id or (self.workdir.packages / load_id).exists():
            time.sleep(0.000001)
            load_id = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        self._last_load_id = load_id
        return load_id

    def _extract(
        self, data: Any, progress: Progress, *, hints: dict[str, Any], schema_name: str | None
    ) -> LoadPackage | None:
        return Extraction(self, progress).run(data, hints=hints, schema_name=schema_name)
