"""What a run did: loads, tables, rows, new columns, timings."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from headwater.observe.metrics import RunMetrics
from headwater.packages.files import drop_pending_command


@dataclass
class TableLoad:
    """One table within one load."""

    table: str
    rows: int
    new_columns: list[str] = field(default_factory=list)


@dataclass
class LoadSummary:
    """One load package that was loaded (or found already loaded) by a run."""

    load_id: str
    schema_name: str
    schema_version: int
    tables: dict[str, TableLoad] = field(default_factory=dict)
    extract_seconds: float = 0.0
    load_seconds: float = 0.0
    already_loaded: bool = False
    #: the data-quality check results committed with the load (``CheckResult``: ``.passed``, ``.failing``...)
    checks: list[Any] = field(default_factory=list)

    @property
    def rows(self) -> int:
        """Rows loaded by this package, over all tables."""
        return sum(t.rows for t in self.tables.values())


@dataclass
class ModelRun:
    """One SQL model run after a load (``models=``): ``ok``, ``failed`` or ``skipped`` (it reads a
    failed model), the rows of its table, its duration and the database's error."""

    name: str
    status: str
    rows: int | None = None
    seconds: float = 0.0
    error: str | None = None


@dataclass
class LoadInfo:
    """The result of :meth:`Pipeline.run` or :meth:`Pipeline.load`.

    ``print(info)`` shows, per table, the rows loaded, the new columns and the durations.
    """

    pipeline: str
    destination: str
    dataset: str
    loads: list[LoadSummary] = field(default_factory=list)
    #: partial packages left waiting (rows kept from failed runs), and those of them that are stale:
    #: their resources were extracted again since, so loading them would load rows twice
    kept_partial: list[str] = field(default_factory=list)
    stale_partial: list[str] = field(default_factory=list)
    #: the pipeline's working folder (for the commands printed about waiting packages)
    working_folder: str | None = None
    #: the SQL models run after the loads, in the order they ran
    models: list[ModelRun] = field(default_factory=list)
    #: the run's id (its record: ``headwater runs show <pipeline> <run_id>``)
    run_id: str | None = None
    #: what the run measured: per stage, resource and table (``info.metrics.to_dict()``: see
    #: :mod:`headwater.observe.metrics`)
    metrics: RunMetrics = field(default_factory=RunMetrics)

    @property
    def load_id(self) -> str | None:
        """The id of the newest load of this run."""
        return self.loads[-1].load_id if self.loads else None

    @property
    def load_ids(self) -> list[str]:
        """The ids of the loads of this run, oldest first."""
        return [load.load_id for load in self.loads]

    @property
    def rows(self) -> int:
        """Rows loaded by this run, over all loads and tables."""
        return sum(load.rows for load in self.loads)

    @property
    def checks(self) -> list[Any]:
        """The data-quality check results of this run's loads (each a ``CheckResult``)."""
        return [c for load in self.loads for c in load.checks]

    def table_rows(self) -> dict[str, int]:
        """Rows loaded per table over all loads of this run."""
        out: dict[str, int] = {}
        for load in self.loads:
            for name, t in load.tables.items():
                out[name] = out.get(name, 0) + t.rows
        return out

    def to_dict(self) -> dict[str, Any]:
        """This result as JSON-ready data (what ``--json`` prints)."""
        return {
            "pipeline": self.pipeline,
            "destination": self.destination,
            "dataset": self.dataset,
            "run_id": self.run_id,
            "loads": [
                {
                    "load_id": load.load_id,
                    "schema": load.schema_name,
                    "schema_version": load.schema_version,
                    "already_loaded": load.already_loaded,
                    "extract_seconds": round(load.extract_seconds, 3),
                    "load_seconds": round(load.load_seconds, 3),
                    "tables": {n: {"rows": t.rows, "new_columns": t.new_columns} for n, t in load.tables.items()},
                    "checks": [c.to_dict() for c in load.checks],
                }
                for load in self.loads
            ],
            "kept_partial": self.kept_partial,
            "stale_partial": self.stale_partial,
            "models": [
                {"name": m.name, "status": m.status, "rows": m.rows, "seconds": round(m.seconds, 3), "error": m.error}
                for m in self.models
            ],
            "metrics": self.metrics.to_dict(),
        }

    def __str__(self) -> str:
        lines = [f"Pipeline {self.pipeline!r} -> {self.destination}, dataset {self.dataset!r}"]
        if not self.loads:
            lines.append("  nothing to load")
        for load in self.loads:
            state = (
                "already loaded before, skipped"
                if load.already_loaded
                else (f"extract+normalize {load.extract_seconds:.2f}s, load {load.load_seconds:.2f}s")
            )
            lines.append(
                f"  load {load.load_id} (schema {load.schema_name} v{load.schema_version}): {load.rows:,} rows; {state}"
            )
            width = max((len(n) for n in load.tables), default=5)
            for name, t in load.tables.items():
                extra = f"  new columns: {', '.join(t.new_columns)}" if t.new_columns else ""
                lines.append(f"    {name:<{width}}  {t.rows:>12,} rows{extra}")
            failed = [c for c in load.checks if not c.passed]
            if load.checks:
                lines.append(f"    checks: {len(load.checks) - len(failed)} of {len(load.checks)} passed")
            lines.extend(f"      {c}" for c in failed)
        for m in self.models:
            done = f"{m.rows:,} rows, {m.seconds:.2f}s" if m.status == "ok" else m.error
            lines.append(f"  model {m.name}: {m.status} ({done})")
        for load_id in self.kept_partial:
            drop = f"pipeline.drop_pending({load_id!r})"
            if self.working_folder is not None:
                drop = f"{drop_pending_command(Path(self.working_folder), [load_id])} or {drop}"
            if load_id in self.stale_partial:
                lines.append(
                    f"  partial package {load_id} is stale (its resources were extracted again since; loading it "
                    f"would load rows twice): drop it with {drop}"
                )
            else:
                lines.append(
                    f"  partial package {load_id} kept, not loaded: load it with pipeline.load(include_partial=True), "
                    f"or drop it with {drop}"
                )
        return "\n".join(lines)
