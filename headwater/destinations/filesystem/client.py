"""The filesystem client: Parquet, CSV or JSONL files, local or on any fsspec filesystem.

Layout under ``<url>/<dataset>/``::

    <table>/<load_id>.<n>.parquet                  one file per package file (the layout is configurable)
    <table>/<col>=<value>/<load_id>.<n>_0.parquet  with Hive-style partitions (partition_by)
    _hw_loads/<load_id>.json                       the commit marker, written last
    _hw_runs/<run_id>.json                         one row of _hw_runs per run (best effort, after the run)

Files are written by DuckDB (``COPY ... TO``), straight from the package's Arrow data. A load's files
become part of the dataset only when its marker exists: the marker lists every file it added, which
tables it replaced, the schema and the pipeline state. The committed contents of a table are the
files listed by the markers since the newest marker that replaced it; :meth:`FilesystemClient.files`
returns them and ``pipeline.query`` reads through them, so a reader never sees half a load. Files a
killed run left behind without a marker belong to no committed load; the rerun of the same package
writes the same file names again. Files superseded by a replace are deleted after the marker is
written.
"""

from __future__ import annotations

import contextlib
import logging
import os
import posixpath
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from headwater import names
from headwater.destinations.common import arrow_table
from headwater.destinations.filesystem.destination import (
    CAPABILITIES,
    EXTENSIONS,
    FORMATS,
    FilesystemDestination,
)
from headwater.destinations.filesystem.storage import FsspecFiles, LocalFiles
from headwater.destinations.lake import COMPLETED, LOAD_ID_PROPERTY, Delete, LakeClient, loads_schema
from headwater.errors import ConfigError, DestinationError
from headwater.optional import require
from headwater.schema.model import Table
from headwater.schema.system import LOADS_TABLE, RUNS_TABLE

log = logging.getLogger("headwater")

#: the markers folded into one file once this many were written since the last one: reading the
#: dataset's loads then costs a listing and a few reads (an object store answers each read slowly)
CHECKPOINT = "_checkpoint.json"
CHECKPOINT_EVERY = 50


class FilesystemClient(LakeClient):
    """One dataset folder. Data files are written by DuckDB; the commit is the marker file."""

    capabilities = CAPABILITIES

    def __init__(self, destination: FilesystemDestination, dataset: str) -> None:
        super().__init__(dataset, destination.partition_by)
        self.destination = destination
        self.base = (
            posixpath.join(destination.root(), dataset)
            if not destination.is_local
            else str(Path(destination.root()) / dataset)
        )
        self._fs: Any = None
        self._con: Any = None
        self._pending: dict[str, dict[str, Any]] = {}
        self._markers: list[dict[str, Any]] | None = None
        self._unchecked = 0  # marker files not in the checkpoint
        self._json: dict[str, list[str]] = {}
        self._partitions: dict[str, list[str]] = {}

    # -- plumbing --------------------------------------------------------------------------------
    @property
    def fs(self) -> Any:
        """The file storage: local files, or an fsspec filesystem for URLs (opened on first use)."""
        if self._fs is None:
            if self.destination.is_local:
                self._fs = LocalFiles()
            else:
                fsspec = require(
                    "fsspec",
                    "writing to a URL",
                    extra="filesystem",
                    also="and the filesystem's package, e.g. s3fs",
                )
                protocol = self.base.split("://", 1)[0]
                self._fs = FsspecFiles(fsspec.filesystem(protocol, **self.destination.storage_options))
        return self._fs

    @property
    def con(self) -> Any:
        """An in-memory DuckDB connection that reads the files (opened on first use)."""
        if self._con is None:
            import duckdb

            self._con = duckdb.connect(config={"preserve_insertion_order": "false"})
            if not self.destination.is_local:
                self._con.register_filesystem(self.fs.fs)
        return self._con

    def close(self) -> None:
        """Close the DuckDB connection, if one was opened."""
        if self._con is not None:
            with contextlib.suppress(Exception):
                self._con.close()
            self._con = None

    def path(self, relative: str) -> str:
        """The full path (or URL) of ``relative``, a path under the dataset."""
        return posixpath.join(self.base, relative) if not self.destination.is_local else str(Path(self.base) / relative)

    def _fail(self, what: str, exc: BaseException) -> DestinationError:
        return DestinationError(
            f"filesystem destination: {what} under {self.base} failed: {exc}",
            hint="check that the location exists and is writable (and the credentials for a URL)",
        )

    # -- markers ---------------------------------------------------------------------------------
    def markers(self) -> list[dict[str, Any]]:
        """The commit markers of the dataset, oldest first: the checkpoint's, then each marker file
        written since (one listing and a few reads, however many loads the dataset has had)."""
        if self._markers is None:
            folder = self.path(LOADS_TABLE)
            try:
                names = sorted(n for n in self.fs.names(folder) if n.endswith(".json"))
            except FileNotFoundError:
                names = []
            except OSError as exc:
                raise self._fail("listing the commit markers", exc) from exc
            found: list[dict[str, Any]] = []
            known: set[str] = set()
            if CHECKPOINT in names:
                checkpoint = self._read_json(CHECKPOINT)
                found = list(checkpoint["markers"])
                known = {m["_file"] for m in found}
            for name in names:
                if name.startswith("_") or name in known:
                    continue
                marker = self._read_json(name)
                marker["_file"] = name
                found.append(marker)
            found.sort(key=lambda m: (m.get("committed_at") or 0, m.get("load_id") or ""))
            self._markers = found
            self._unchecked = len(names) - len(known) - (CHECKPOINT in names)
        return self._markers

    def _read_json(self, name: str) -> dict[str, Any]:
        path = self.path(f"{LOADS_TABLE}/{name}")
        try:
            data: dict[str, Any] = orjson.loads(self.fs.read_bytes(path))
            return data
        except (OSError, orjson.JSONDecodeError) as exc:
            raise DestinationError(
                f"the commit marker {path} is unreadable: {exc}",
                hint="it was written atomically, so something else changed it; restore or delete it",
            ) from exc

    def _checkpoint(self) -> None:
        """Fold the markers into ``_checkpoint.json`` (written atomically; the markers stay), keeping
        only what readers use: every load's row, the newest state of each pipeline and the newest
        schema of each schema name, and the files of each table since its newest replace."""
        markers = [dict(m) for m in self.markers()]
        newest_state: dict[str, dict[str, Any]] = {}
        newest_schema: dict[str, dict[str, Any]] = {}
        for m in markers:
            if m.get("state") is not None:
                best = newest_state.get(m.get("pipeline_name") or "")
                if best is None or (m.get("state_version") or 0) >= (best.get("state_version") or 0):
                    newest_state[m.get("pipeline_name") or ""] = m
            if m.get("schema") is not None:
                best = newest_schema.get(m.get("schema_name") or "")
                if best is None or (m.get("schema_version") or 0) >= (best.get("schema_version") or 0):
                    newest_schema[m.get("schema_name") or ""] = m
        replaced_at: dict[str, int] = {}
        for i, m in enumerate(markers):
            for table, entry in m.get("tables", {}).items():
                if entry.get("mode") == "overwrite":
                    replaced_at[table] = i
        for i, m in enumerate(markers):
            if m.get("state") is not None and newest_state.get(m.get("pipeline_name") or "") is not m:
                m["state"] = None
            if m.get("schema") is not None and newest_schema.get(m.get("schema_name") or "") is not m:
                m["schema"] = None
            m["tables"] = {
                table: entry if i >= replaced_at.get(table, -1) else {**entry, "files": []}
                for table, entry in m.get("tables", {}).items()
            }
        data = orjson.dumps({"markers": markers, "written_at": time.time()})
        self.fs.write_atomic(self.path(f"{LOADS_TABLE}/{CHECKPOINT}"), data)
        self._markers = None

    def _hive(self, table: str) -> bool:
        """Whether committed files of ``table`` sit in Hive partition folders."""
        return any(m.get("tables", {}).get(table, {}).get("partition_by") for m in self.markers())

    def files(self, table: str) -> list[str]:
        """The files holding the committed contents of ``table`` (full paths or URLs)."""
        out: list[str] = []
        for marker in self.markers():
            entry = marker.get("tables", {}).get(table)
            if entry is None:
                continue
            if entry.get("mode") == "overwrite":
                out = []
            out.extend(self.path(f) for f in entry.get("files", []))
        return out

    # -- LakeClient hooks ------------------------------------------------------------------------
    def table_names(self) -> list[str]:
        """The tables named by the load markers, plus ``_hw_loads`` and ``_hw_runs`` once there are some."""
        names = {t for m in self.markers() for t in m.get("tables", {})}
        if self._run_files():
            names.add(RUNS_TABLE)
        return sorted(names | ({LOADS_TABLE} if self.markers() else set()))

    def committed_load_ids(self, name: str) -> set[str]:
        """Always empty: files commit with the load marker, not per table."""
        return set()  # nothing is committed before the marker; a rerun writes the same files again

    def table_schema(self, name: str) -> Any:
        """The schema of the table's newest Parquet file (CSV and JSONL files carry no types)."""
        import pyarrow.parquet as pq

        if self.destination.format != "parquet":
            return None
        files = self.files(name)
        if not files:
            return None
        try:
            if self.destination.is_local:
                return pq.read_schema(files[-1])
            import pyarrow.fs as pafs

            return pq.read_schema(files[-1], filesystem=pafs.PyFileSystem(pafs.FSSpecHandler(self.fs.fs)))
        except (OSError, ValueError) as exc:
            raise self._fail(f"read the schema of {files[-1]}", exc) from exc

    def prepare(self, table: Table) -> Any:
        """Note which columns of ``table`` are JSON and what it is partitioned by, then return its Arrow schema."""
        self._json[table.name] = [c.name for c in table.columns.values() if c.data_type == "json"]
        self._partitions[table.name] = self.partition_columns(table)
        return super().prepare(table)

    def evolve(self, name: str, schema: Any, partition_by: list[str]) -> None:
        """Nothing to do: every file carries its own schema."""
        return None  # every file carries its own schema; readers union them by name

    def write(
        self,
        name: str,
        chunks: Iterable[Any],
        schema: Any,
        *,
        mode: str,
        delete: Delete | None,
        properties: dict[str, str],
    ) -> None:
        """Write the chunks of table ``name`` as files of this load; they count once the load marker is written.

        Raises:
            DestinationError: ``delete`` is given (the filesystem destination cannot delete rows).
        """
        if delete is not None:
            raise DestinationError("the filesystem destination cannot delete rows (merge is not supported)")
        load_id = properties[LOAD_ID_PROPERTY]
        partition = self._partitions.get(name, [])
        entry = self._pending.setdefault(name, {"mode": mode, "files": [], "rows": 0, "partition_by": partition})
        for file_id, chunk in enumerate(chunks):
            if chunk.num_rows == 0:
                continue
            entry["files"].extend(self._write_chunk(name, chunk, load_id, file_id, partition))
            entry["rows"] += chunk.num_rows

    def _write_chunk(self, table: str, chunk: Any, load_id: str, file_id: int, partition: list[str]) -> list[str]:
        dest = self.destination
        ext = EXTENSIONS[dest.format] + (".gz" if dest.compression == "gzip" and dest.format != "parquet" else "")
        relative = dest.layout.format(table=table, load_id=load_id, file_id=file_id, ext=ext)
        options = [f"FORMAT {FORMATS[dest.format]}"]
        if dest.format == "csv":
            options.append("HEADER true")
        if dest.compression:
            options.append(f"COMPRESSION {_literal(dest.compression)}")
        select = self._select(table, chunk)
        self.con.register("_hw_chunk", chunk)
        try:
            if partition:
                folder, _, file_name = relative.rpartition("/")
                stem = file_name[: -len(ext) - 1] if file_name.endswith("." + ext) else file_name
                options += [
                    f"PARTITION_BY ({', '.join(_quote(c) for c in partition)})",
                    f"FILENAME_PATTERN {_literal(stem + '_{i}')}",
                    f"FILE_EXTENSION {_literal(ext)}",
                    "OVERWRITE_OR_IGNORE true",
                    "RETURN_FILES true",
                ]
                target = self.path(folder) if folder else self.base
                self.fs.makedirs(target)
                rows = self.con.execute(f"COPY ({select}) TO {_literal(target)} ({', '.join(options)})").fetchall()
                written = [str(f) for f in rows[0][1]]
            else:
                target = self.path(relative)
                self.fs.makedirs(target.rsplit("/", 1)[0] if "/" in target else ".")
                self.con.execute(f"COPY ({select}) TO {_literal(target)} ({', '.join(options)})").fetchall()
                written = [target]
        except ConfigError:
            raise
        except Exception as exc:
            raise self._fail(f"writing table {table!r}", exc) from exc
        finally:
            with contextlib.suppress(Exception):
                self.con.unregister("_hw_chunk")
        return [self._relative(w) for w in written]

    def _select(self, table: str, chunk: Any) -> str:
        json_columns = set(self._json.get(table, ())) if self.destination.format == "jsonl" else set()
        if not json_columns:
            return "SELECT * FROM _hw_chunk"
        # JSON columns are JSON in the lines, not strings holding JSON
        cols = [
            f"CAST({_quote(c)} AS JSON) AS {_quote(c)}" if c in json_columns else _quote(c) for c in chunk.column_names
        ]
        return f"SELECT {', '.join(cols)} FROM _hw_chunk"

    def _relative(self, written: str) -> str:
        base = self.base.rstrip("/") + "/"
        written = written.replace(os.sep, "/") if self.destination.is_local else written
        base = base.replace(os.sep, "/") if self.destination.is_local else base
        return written[len(base) :] if written.startswith(base) else written

    def scan(self, name: str, columns: list[str], where: Delete | None = None) -> Any:
        """Columns of table ``name``, optionally only rows whose ``where.column`` is in ``where.values``."""
        table = self.reader(name)
        import pyarrow.compute as pc

        table = table.select(columns)
        if where is not None:
            table = table.filter(pc.is_in(table[where.column], value_set=where.values))
        return table

    def reader(self, name: str) -> Any:
        """Table ``name`` as an Arrow table read from its committed files (``_hw_loads`` from the load markers)."""
        if name == LOADS_TABLE:
            return self.read_loads()
        if name == RUNS_TABLE:
            return self.read_runs()
        return arrow_table(self.con.sql(self.select_files(name)))

    def select_files(self, name: str) -> str:
        """A DuckDB ``SELECT`` over the committed files of table ``name``."""
        files = self.files(name)
        if not files:
            return "SELECT NULL AS _hw_empty WHERE FALSE"
        listed = ", ".join(_literal(f) for f in files)
        hive = "true" if self._hive(name) else "false"
        fmt = self.destination.format
        if fmt == "parquet":
            return f"SELECT * FROM read_parquet([{listed}], union_by_name = true, hive_partitioning = {hive})"
        if fmt == "csv":
            return (
                f"SELECT * FROM read_csv([{listed}], union_by_name = true, hive_partitioning = {hive}, header = true)"
            )
        return f"SELECT * FROM read_json([{listed}], union_by_name = true, hive_partitioning = {hive})"

    def queryarrow_table(self, sql: str) -> Any:
        """Run DuckDB SQL over the committed files of the dataset's tables."""
        for name in self.table_names():
            if name == LOADS_TABLE:
                self.con.register(name, self.read_loads())
            else:
                self.con.execute(f"CREATE OR REPLACE TEMPORARY VIEW {_quote(name)} AS {self.select_files(name)}")
        return arrow_table(self.con.sql(sql))

    def drop_table(self, name: str) -> None:
        """Delete the files of table ``name``."""
        for f in self.files(name):
            with contextlib.suppress(FileNotFoundError):
                self.fs.rm(f)

    # -- bookkeeping: markers --------------------------------------------------------------------
    def read_loads(self, *, again: bool = False) -> Any:
        """The ``_hw_loads`` rows, built from the load markers, or None before the first load (read each
        time: a listing of the marker folder)."""
        import pyarrow as pa

        markers = self.markers()
        if not markers:
            return None
        schema = loads_schema()
        rows = [{k: _loads_value(k, m.get(k)) for k in schema.names} for m in markers]
        return pa.Table.from_pylist(rows, schema=schema)

    def record_load(self, row: dict[str, Any], properties: dict[str, str]) -> None:
        """Write a load marker: the ``_hw_loads`` row and, for a completed load, the files it committed.

        Raises:
            DestinationError: the marker cannot be written.
        """
        marker = {k: (v.timestamp() if hasattr(v, "timestamp") else v) for k, v in row.items()}
        marker["committed_at"] = time.time()
        marker["tables"] = self._pending if row.get("status") == COMPLETED else {}
        marker["format"] = self.destination.format
        name = f"{row.get('load_id') or 'state'}.json"
        if row.get("status") != COMPLETED:
            name = f"{int(time.time() * 1e6)}.state.json"
        try:
            self.fs.makedirs(self.path(LOADS_TABLE))
            self.fs.write_atomic(self.path(f"{LOADS_TABLE}/{name}"), orjson.dumps(marker))
        except OSError as exc:
            raise self._fail("writing the commit marker", exc) from exc
        superseded = self._superseded()
        self._pending = {}
        self._markers = None
        if self.markers() and self._unchecked >= CHECKPOINT_EVERY:
            try:
                self._checkpoint()
            except OSError as exc:  # the load is committed; the next load tries again
                log.warning("could not write the checkpoint of %s: %s", self.path(LOADS_TABLE), exc)
        for path in superseded:  # after the commit: readers of the markers no longer list them
            try:
                self.fs.rm(path)
            except FileNotFoundError:
                pass
            except OSError as exc:
                log.warning("could not delete the superseded file %s: %s", path, exc)

    def _superseded(self) -> list[str]:
        """Files of the tables this load replaces (deleted once its marker is written)."""
        out = []
        for table, entry in self._pending.items():
            if entry.get("mode") == "overwrite":
                out.extend(self.files(table))
        return out

    # -- _hw_runs: one JSON file per run ---------------------------------------------------------
    def _run_files(self) -> list[str]:
        try:
            return sorted(n for n in self.fs.names(self.path(RUNS_TABLE)) if n.endswith(".json"))
        except (FileNotFoundError, NotADirectoryError):  # none yet (or something else in its place)
            return []

    def record_run(self, row: dict[str, Any]) -> None:
        """Write the run's ``_hw_runs`` row as ``_hw_runs/<run_id>.json`` (atomically)."""
        data = {k: (v.timestamp() if hasattr(v, "timestamp") else v) for k, v in row.items()}
        self.fs.makedirs(self.path(RUNS_TABLE))
        self.fs.write_atomic(self.path(f"{RUNS_TABLE}/{row['run_id']}.json"), orjson.dumps(data))

    def read_runs(self) -> Any:
        """The ``_hw_runs`` rows (an Arrow table), from the run files."""
        import datetime as dt

        import pyarrow as pa

        schema = self.runs_schema()
        rows = []
        for name in self._run_files():
            raw = orjson.loads(self.fs.read_bytes(self.path(f"{RUNS_TABLE}/{name}")))
            for key in ("started_at", "ended_at"):
                if isinstance(raw.get(key), int | float):
                    raw[key] = dt.datetime.fromtimestamp(raw[key], dt.UTC)
            rows.append({k: raw.get(k) for k in schema.names})
        return pa.Table.from_pylist(rows, schema=schema)

    def forget_runs(self, pipeline_name: str) -> None:
        """Delete a pipeline's run files."""
        for name in self._run_files():
            path = self.path(f"{RUNS_TABLE}/{name}")
            with contextlib.suppress(FileNotFoundError, orjson.JSONDecodeError):
                if orjson.loads(self.fs.read_bytes(path)).get("pipeline") == pipeline_name:
                    self.fs.rm(path)

    def forget_pipeline(self, pipeline_name: str, schema_names: list[str]) -> None:
        """Delete a pipeline's load markers (those of its schemas too)."""
        markers = self.markers()
        with contextlib.suppress(FileNotFoundError):  # it lists the markers deleted below; rebuilt later
            self.fs.rm(self.path(f"{LOADS_TABLE}/{CHECKPOINT}"))
        for marker in markers:
            if marker.get("pipeline_name") == pipeline_name or marker.get("schema_name") in schema_names:
                with contextlib.suppress(FileNotFoundError):
                    self.fs.rm(self.path(f"{LOADS_TABLE}/{marker['_file']}"))
        self._markers = None


def _loads_value(key: str, value: Any) -> Any:
    import datetime as dt

    if key in ("extracted_at", "loaded_at") and isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    return value


_literal = names.quote_literal
_quote = names.quote_identifier
