"""The pipeline's working folder: schemas, load packages, run history, and a lock.

::

    <pipelines dir>/<pipeline name>/
        pipeline.json              destination (described, no secrets), dataset, last run
        schemas/<schema>.json      the newest version of each schema
        state.json                 the pipeline state the next extraction starts from
        packages/<load id>/        load packages not loaded yet
        completed/<load id>/       manifests of loaded packages (history)
        .lock                      held while the pipeline runs

The default pipelines dir is ``~/.headwater/pipelines``, or ``$HEADWATER_HOME/pipelines``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from headwater.errors import StateError
from headwater.packages.package import Manifest, write_atomic
from headwater.pipeline_state import PipelineState
from headwater.schema.model import Schema


def default_pipelines_dir() -> Path:
    home = os.environ.get("HEADWATER_HOME")
    base = Path(home).expanduser() if home else Path.home() / ".headwater"
    return base / "pipelines"


class WorkDir:
    """One pipeline's working folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def packages(self) -> Path:
        return self.root / "packages"

    @property
    def completed(self) -> Path:
        return self.root / "completed"

    @property
    def schemas(self) -> Path:
        return self.root / "schemas"

    def exists(self) -> bool:
        return (self.root / "pipeline.json").exists()

    def ensure(self) -> None:
        for folder in (self.root, self.packages, self.completed, self.schemas):
            folder.mkdir(parents=True, exist_ok=True)

    # -- metadata --------------------------------------------------------------------------------
    def read_meta(self) -> dict[str, Any]:
        path = self.root / "pipeline.json"
        if not path.exists():
            return {}
        try:
            return orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError as exc:
            raise StateError(f"{path} is corrupt: {exc}", hint="delete it; it is rewritten by the next run") from exc

    def write_meta(self, meta: dict[str, Any]) -> None:
        self.ensure()
        write_atomic(self.root / "pipeline.json", orjson.dumps(meta, option=orjson.OPT_INDENT_2))

    # -- schemas ---------------------------------------------------------------------------------
    def schema_names(self) -> list[str]:
        if not self.schemas.is_dir():
            return []
        return sorted(p.stem for p in self.schemas.glob("*.json"))

    def read_schema(self, name: str) -> Schema | None:
        path = self.schemas / f"{name}.json"
        if not path.exists():
            return None
        try:
            return Schema.from_json(path.read_bytes())
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise StateError(
                f"the schema file {path} is corrupt: {exc}",
                hint="delete it; the schema is restored from the destination on the next run",
            ) from exc

    def write_schema(self, schema: Schema) -> None:
        self.ensure()
        write_atomic(self.schemas / f"{schema.name}.json", schema.to_json())

    # -- state ---------------------------------------------------------------------------------
    @property
    def state_path(self) -> Path:
        return self.root / "state.json"

    def read_state(self) -> PipelineState | None:
        if not self.state_path.exists():
            return None
        try:
            return PipelineState.from_json(self.state_path.read_bytes())
        except StateError as exc:
            raise StateError(
                f"{self.state_path} is corrupt: {exc.message}",
                hint="delete it; the committed state is restored from the destination on the next run",
            ) from exc

    def write_state(self, state: PipelineState) -> None:
        self.ensure()
        write_atomic(self.state_path, state.to_json())

    def knows_load(self, load_id: str) -> bool:
        """Whether a load id is pending here or was loaded from here."""
        return (self.packages / load_id).is_dir() or (self.completed / load_id).is_dir()

    # -- history ---------------------------------------------------------------------------------
    def completed_manifests(self) -> list[Manifest]:
        if not self.completed.is_dir():
            return []
        out = []
        for entry in sorted(self.completed.iterdir()):
            path = entry / "manifest.json"
            if path.exists():
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    out.append(Manifest.from_json(path.read_bytes()))
        return out

    # -- lock ------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, pipeline_name: str) -> Iterator[None]:
        """Hold the pipeline's lock; a second process running the same pipeline gets a clear error."""
        self.ensure()
        path = self.root / ".lock"
        fh = open(path, "a+")  # noqa: SIM115 (held for the duration of the context)
        try:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.seek(0)
                holder = fh.read().strip() or "another process"
                raise StateError(
                    f"pipeline {pipeline_name!r} is already running (lock held by {holder})",
                    hint=f"wait for it to finish; the lock is {path}",
                ) from None
            fh.seek(0)
            fh.truncate()
            fh.write(f"pid {os.getpid()}")
            fh.flush()
            yield
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
            fh.close()
