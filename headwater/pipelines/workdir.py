"""The pipeline's working folder: schemas, load packages, run history, and a lock.

::

    <pipelines dir>/<pipeline name>/
        pipeline.json              destination (described, no secrets), dataset, last run
        schemas/<schema>.json      the newest version of each schema
        state.json                 the pipeline state the next extraction starts from
        packages/<load id>/        load packages not loaded yet
        completed/<load id>/       manifests of loaded packages (history)
        runs/<run id>.json         one record per run, load and extract (headwater.observe.history)
        .lock                      held while the pipeline runs

The default pipelines dir is ``~/.headwater/pipelines``, or ``$HEADWATER_HOME/pipelines``.

A working folder belongs to one destination and one dataset (its :class:`Identity`, recorded in
``pipeline.json``): the schemas, state and history in it describe what that dataset holds. The
first destination and dataset a pipeline name is used with get ``<pipeline name>/``; another one
(another DuckDB file, another dataset, the same name run from another folder) gets a folder of its
own, ``<pipeline name>@<10 hex digits of its identity>/``, and starts from what that destination
has committed, never from another dataset's schema or state.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from headwater import names
from headwater.errors import HeadwaterError, StateError
from headwater.packages.files import json_object, parse_schema, read_json, remove_command, unusable
from headwater.packages.package import Manifest, package_folders, write_atomic
from headwater.schema.model import Schema
from headwater.schema.state import PipelineState

log = logging.getLogger("headwater")


def default_pipelines_dir() -> Path:
    """The folder of the pipelines' working folders: ``$HEADWATER_HOME/pipelines``, else ``~/.headwater/pipelines``."""
    home = os.environ.get("HEADWATER_HOME")
    base = Path(home).expanduser() if home else Path.home() / ".headwater"
    return base / "pipelines"


@dataclass(frozen=True)
class Identity:
    """What a working folder belongs to: a pipeline, a destination and a dataset.

    ``destination`` is the destination's URI without secrets (``duckdb:///abs/file.duckdb``), or
    its description when it has no URI (a connection passed in).
    """

    pipeline: str
    destination_type: str
    destination: str
    dataset: str

    @property
    def key(self) -> str:
        """10 hex digits naming the folder of this identity when the plain one is taken."""
        text = "\n".join((self.pipeline, self.destination_type, self.destination, self.dataset))
        return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:10]

    def matches(self, meta: dict[str, Any]) -> bool:
        """Whether a ``pipeline.json`` was written by a pipeline with this identity. A folder from
        before identities were recorded matches by what it recorded (destination and dataset)."""
        recorded = meta.get("destination_uri") or meta.get("destination")
        return (
            meta.get("pipeline", self.pipeline) == self.pipeline
            and meta.get("destination_type", self.destination_type) == self.destination_type
            and (recorded is None or recorded == self.destination)
            and meta.get("dataset", self.dataset) == self.dataset
        )

    def describe(self) -> str:
        """The destination and dataset, for messages."""
        return f"{self.destination} dataset {self.dataset!r}"


def _describe_meta(meta: dict[str, Any]) -> str:
    return f"{meta.get('destination_uri') or meta.get('destination') or '?'} dataset {meta.get('dataset')!r}"


def workdir_for(pipelines_dir: Path, identity: Identity) -> WorkDir:
    """The working folder of ``identity``: ``<name>/`` if it is free or already this identity's,
    else ``<name>@<key>/`` (see the module docstring)."""
    name = names.pipeline_name(identity.pipeline)
    plain = WorkDir(pipelines_dir / name)
    meta = plain.read_meta()
    if not meta or identity.matches(meta):
        if meta and meta.get("pipeline", name) != name:  # a case-insensitive disk: another name's folder
            raise StateError(
                f"pipeline {name!r} would share the working folder {plain.root} with pipeline {meta['pipeline']!r}",
                hint="pipeline names that differ only in case share folders on case-insensitive disks: rename one",
            )
        return plain
    own = WorkDir(pipelines_dir / f"{name}@{identity.key}")
    own_meta = own.read_meta()
    if own_meta and not identity.matches(own_meta):
        raise StateError(
            f"the working folder {own.root} belongs to {_describe_meta(own_meta)}, not {identity.describe()}",
            hint="move that folder away; it is rebuilt from the destination on the next run",
        )
    if not own_meta:
        log.info(
            "pipeline %s: %s has the working folder of %s; %s gets its own: %s",
            name,
            plain.root,
            _describe_meta(meta),
            identity.describe(),
            own.root,
        )
    return own


def find_workdirs(pipelines_dir: Path, name: str) -> list[WorkDir]:
    """The working folders of pipeline ``name`` (one per destination and dataset it was used with),
    or the one folder named ``name`` exactly (``tracker@1a2b3c4d5e``)."""
    base, at, key = name.partition("@")
    try:
        names.pipeline_name(base)
    except HeadwaterError:
        return []
    if at and not (len(key) == 10 and all(c in "0123456789abcdef" for c in key)):
        return []
    exact = WorkDir(pipelines_dir / name)
    if at:
        return [exact] if exact.exists() else []
    out = [exact] if exact.exists() else []
    if pipelines_dir.is_dir():
        for folder in sorted(pipelines_dir.glob(f"{name}@*")):
            candidate = WorkDir(folder)
            if candidate.exists() and candidate.read_meta().get("pipeline") == name:
                out.append(candidate)
    return out


class WorkDir:
    """One pipeline's working folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def packages(self) -> Path:
        """The folder of the packages waiting to load."""
        return self.root / "packages"

    @property
    def completed(self) -> Path:
        """The folder of the loaded packages."""
        return self.root / "completed"

    @property
    def schemas(self) -> Path:
        """The folder of the schema files."""
        return self.root / "schemas"

    def exists(self) -> bool:
        """Whether the pipeline file exists (the pipeline ran from Python here)."""
        return (self.root / "pipeline.json").exists()

    def ensure(self) -> None:
        """Create the working folder and its subfolders if missing."""
        for folder in (self.root, self.packages, self.completed, self.schemas):
            folder.mkdir(parents=True, exist_ok=True)

    # -- metadata --------------------------------------------------------------------------------
    def read_meta(self) -> dict[str, Any]:
        """The content of the pipeline file (empty if there is none).

        Raises:
            StateError: the file is damaged.
        """
        path = self.root / "pipeline.json"
        if not path.exists() and not path.is_symlink():
            return {}
        return read_json(
            path,
            what="the pipeline file",
            hint=f"delete it ({remove_command(path)}); the next run of the pipeline from Python writes it again",
            parse=json_object,
        )

    def check_owner(self, identity: Identity) -> None:
        """Refuse to use this folder for another destination or dataset than the one it records."""
        meta = self.read_meta()
        if meta and not identity.matches(meta):
            raise StateError(
                f"the working folder {self.root} belongs to {_describe_meta(meta)}, not {identity.describe()}",
                hint="open it with hw.pipeline(...) and this destination and dataset: it gets a folder of its own",
            )

    def write_meta(self, meta: dict[str, Any]) -> None:
        """Write the pipeline file atomically."""
        self.ensure()
        write_atomic(self.root / "pipeline.json", orjson.dumps(meta, option=orjson.OPT_INDENT_2))

    # -- schemas ---------------------------------------------------------------------------------
    def schema_names(self) -> list[str]:
        """The names of the schemas with a file here, sorted."""
        if not self.schemas.is_dir():
            return []
        return sorted(p.stem for p in self.schemas.glob("*.json") if not p.name.startswith("."))

    def _schema_path(self, name: str) -> Path:
        return self.schemas / names.schema_file_name(name, self.schema_names())

    def read_schema(self, name: str) -> Schema | None:
        """The schema ``name`` from its file, or None if there is none.

        Raises:
            StateError: the file is damaged.
        """
        path = self._schema_path(name)
        if not path.exists() and not path.is_symlink():
            return None
        return read_json(
            path,
            what=f"the schema file of {name!r}",
            hint=f"delete it ({remove_command(path)}); the schema is restored from the destination on the next run",
            parse=parse_schema,
        )

    def write_schema(self, schema: Schema) -> None:
        """Write the file of ``schema`` atomically."""
        self.ensure()
        write_atomic(self._schema_path(schema.name), schema.to_json())

    def remove_schema(self, name: str) -> None:
        """Forget the local copy of a schema: the next run reads it from the destination."""
        self._schema_path(name).unlink(missing_ok=True)

    # -- state ---------------------------------------------------------------------------------
    @property
    def state_path(self) -> Path:
        """The file of the pipeline state."""
        return self.root / "state.json"

    def read_state(self) -> PipelineState | None:
        """The pipeline state from its file, or None if there is none.

        Raises:
            StateError: the file is damaged.
        """
        if not self.state_path.exists() and not self.state_path.is_symlink():
            return None
        return read_json(
            self.state_path,
            what="the pipeline state file",
            hint=f"delete it ({remove_command(self.state_path)}); the committed state is restored from the "
            "destination on the next run",
            parse=PipelineState.from_data,
        )

    def write_state(self, state: PipelineState) -> None:
        """Write the state file atomically."""
        self.ensure()
        write_atomic(self.state_path, state.to_json())

    def knows_load(self, load_id: str) -> bool:
        """Whether a load id is pending here or was loaded from here."""
        return (self.packages / load_id).is_dir() or (self.completed / load_id).is_dir()

    # -- history ---------------------------------------------------------------------------------
    def completed_manifests(self) -> list[Manifest]:
        """The manifests of loaded packages, oldest first. The history is informative only: a
        manifest that cannot be read is skipped with a warning naming it, never an error."""
        out = []
        for entry in package_folders(self.completed):
            path = entry / "manifest.json"
            if path.exists() or path.is_symlink():
                try:
                    out.append(read_json(path, what="the history manifest", hint="", parse=Manifest.from_data))
                except StateError as exc:
                    log.warning("%s; skipped (delete it: %s)", exc.message, remove_command(entry))
        return out

    # -- lock ------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, pipeline_name: str) -> Iterator[None]:
        """Hold the pipeline's lock; a second process running the same pipeline gets a clear error."""
        path = self.root / ".lock"
        try:
            self.ensure()
            fh = open(path, "a+")  # noqa: SIM115 (held for the duration of the context)
        except OSError as exc:
            where = Path(exc.filename) if exc.filename else path
            raise unusable(
                where, "the pipeline's lock", exc, f"move it away ({remove_command(where)}); it is made again"
            ) from exc
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


def only_workdir(pipelines_dir: Path, name: str) -> WorkDir:
    """The one working folder of pipeline ``name`` (or the folder named ``name``), or a StateError:
    none, or several (one per destination and dataset), listed so the user can name one."""
    found = find_workdirs(pipelines_dir, name)
    if not found:
        raise StateError(
            f"no pipeline {name!r} in {pipelines_dir}",
            hint="run it once first, or pass --pipelines-dir where its working folder lives",
        )
    if len(found) > 1:
        listing = "; ".join(
            f"{w.root.name}: {m.get('destination')} dataset {m.get('dataset')!r}" for w in found if (m := w.read_meta())
        )
        raise StateError(
            f"pipeline {name!r} has {len(found)} working folders, one per destination and dataset ({listing})",
            hint=f"name the working folder instead of the pipeline, e.g. {found[-1].root.name!r}",
        )
    return found[0]
