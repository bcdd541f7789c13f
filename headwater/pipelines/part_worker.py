"""One partition, extracted and normalized into a part: what an executor's worker runs.

A part is a load package of its own (:mod:`headwater.packages.package`) in the pipeline's working
folder (``parts/<schema>/<resource>/<partition>``), under the run's load id, normalized from the
schema the run started from, with the partition's own state. It is written in a temporary folder
and renamed into place when complete, so a part that exists is whole. The driver
(:mod:`headwater.pipelines.parts`) adopts the parts into the run's package.
"""

from __future__ import annotations

import os
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from headwater import names
from headwater.normalize.normalizer import Normalizer
from headwater.observe.metrics import RunMetrics, collecting
from headwater.observe.progress import NullProgress
from headwater.packages.package import NORMALIZED, LoadPackage, Manifest, write_atomic
from headwater.packages.writer import PackageWriter
from headwater.pipelines.router import DEFAULT_BATCH_BYTES, DEFAULT_BATCH_SIZE, ItemRouter
from headwater.pipelines.transforming import TransformRouter
from headwater.schema.model import Schema
from headwater.schema.state import PipelineState
from headwater.schema.stored import StoredTables
from headwater.streams.engine import Scope
from headwater.streams.resource import Resource

#: the file in a part's folder that says what it was extracted from
PART_FILE = "part.json"


@dataclass
class PartJob:
    """Everything a worker needs to extract one partition (sent pickled to worker processes)."""

    resource: Resource
    key: str
    folder: str
    load_id: str
    pipeline: str
    dataset: str
    schema_json: bytes
    state_json: bytes
    base: dict[str, Any]
    stored: StoredTables | None = None
    widening: frozenset[tuple[str, str]] = frozenset()
    text_nul: bool = True
    mask_key: bytes | None = None
    batch_size: int = DEFAULT_BATCH_SIZE
    batch_bytes: int = DEFAULT_BATCH_BYTES
    package_format: str = "arrow"
    max_nesting: int | None = None
    #: for a worker process: the driver's environment variables (empty on threads: nothing to do)
    environment: dict[str, str] = field(default_factory=dict)


@dataclass
class PartResult:
    """A finished part: where it is, its rows, and its run's metrics (as their ``to_dict``)."""

    key: str
    folder: str
    rows: int
    metrics: dict[str, Any]


def run_part(job: PartJob) -> PartResult:
    """Extract and normalize ``job``'s partition into its part folder (replacing an older one).

    Raises:
        BaseException: the resource's failure (nothing is left behind: the temporary folder goes).
    """
    if job.environment:  # a worker process: the driver's environment now, not the one it started with
        os.environ.clear()
        os.environ.update(job.environment)
    folder = Path(job.folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / f".{folder.name}.{os.getpid()}-{threading.get_ident()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        rows, figures = _extract(job, tmp)
        write_atomic(tmp / PART_FILE, orjson.dumps({"key": job.key, "base": job.base}))
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return PartResult(job.key, str(folder), rows, figures)


def _extract(job: PartJob, root: Path) -> tuple[int, dict[str, Any]]:
    from headwater.pipelines.extraction import Extraction, _replaced_tables

    schema = Schema.from_json(job.schema_json)
    state = PipelineState.from_json(job.state_json)
    resource = job.resource
    manifest = Manifest(
        load_id=job.load_id,
        pipeline=job.pipeline,
        schema_name=schema.name,
        dataset=job.dataset,
        resources=[resource.name],
    )
    package = LoadPackage.create(root, manifest)
    writer = PackageWriter(package, file_format=job.package_format)
    figures = RunMetrics()
    normalizer = Normalizer(
        schema,
        load_id=job.load_id,
        sink=writer.write,
        widening=job.widening,
        stored=job.stored,
        text_nul=job.text_nul,
        mask_key=job.mask_key,
        metrics=figures,
    )
    item_router = ItemRouter(
        normalizer,
        batch_size=job.batch_size,
        batch_bytes=job.batch_bytes,
        progress=NullProgress(),
        max_nesting=job.max_nesting,
    )
    router = TransformRouter(item_router, [resource], package.root)
    if resource.hints.table_checks and not callable(resource.hints.table_name):
        normalizer.checks.note(
            names.table_name(resource.hints.table_name or resource.name), resource.hints.table_checks
        )
    try:
        with collecting(figures):
            failure = Extraction.extract([resource], router, Scope(state, schema.name, figures))
        writer.close()
    finally:
        normalizer.checks.close()
    if failure is not None:
        raise failure
    manifest.replace_tables = _replaced_tables([resource], router)
    manifest.checks = normalizer.checks.report(schema)
    package.write_schema(schema.to_json())
    package.write_state(state.to_json())
    package.set_status(NORMALIZED)
    return manifest.total_rows, figures.to_dict()
