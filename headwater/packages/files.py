"""Reading the working folder's files without trusting them.

Every file of a working folder (``pipeline.json``, ``schemas/*.json``, ``state.json``, a package's
``manifest.json``, ``schema.json``, ``state.json`` and data files) can be truncated by a full disk,
garbled by a bad copy, emptied, replaced by a folder, or made unreadable by its permissions. A
reader here turns each of these into a :class:`~headwater.errors.StateError` that names the file,
says what is wrong with it, and gives the command that recovers (``hint=``): a raw
``JSONDecodeError`` or ``IsADirectoryError`` never reaches the user, and no reader changes data
already committed to the destination.

Data files are checked by size and CRC-32, both recorded in the manifest when the package is
sealed, before any of them is handed to a destination (a garbled Arrow file would otherwise be
read with a length taken from garbage, an allocation of exabytes). The package a run has just
sealed is checked by size only when that run loads it: its checksums were computed from those
files moments before (``LoadPackage.written_here``).

Data files are read as streams of record batches (:func:`read_file`), and a table's files as few
streams as their schemas allow (:func:`read_runs`).
"""

from __future__ import annotations

import os
import shlex
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import orjson

from headwater.errors import StateError
from headwater.schema.model import Schema
from headwater.schema.types import DATA_TYPES

T = TypeVar("T")
_CHUNK = 8 << 20


def shell_path(path: Path | str) -> str:
    """A path quoted for a shell command line."""
    return shlex.quote(str(path))


def remove_command(path: Path) -> str:
    """The shell command that removes a file or a folder put where a file should be (in backquotes,
    as every command in a hint is)."""
    return f"`rm -r {shell_path(path)}`"


def drop_pending_command(workdir_root: Path, load_ids: list[str] | None = None) -> str:
    """The command line that drops pending packages of the pipeline whose working folder is
    ``workdir_root`` (all of them without ``load_ids``), in backquotes.

    The folder's name is what ``headwater pipeline`` commands take as the pipeline name, and the
    pipelines folder is always given, so the command works from any shell whatever its
    ``HEADWATER_HOME``.
    """
    ids = "".join(f" --load-id {shlex.quote(i)}" for i in load_ids or ())
    return (
        f"`headwater pipeline drop-pending {shlex.quote(workdir_root.name)}{ids} "
        f"--pipelines-dir {shell_path(workdir_root.absolute().parent)}`"
    )


def unusable(path: Path, what: str, cause: BaseException | str, hint: str) -> StateError:
    """The error for a working-folder file that cannot be used, with the recovery in the hint."""
    if isinstance(cause, PermissionError):
        reason = "permission denied"
        hint = (
            f"give the pipeline's user read and write access (as its owner: `chmod -R u+rwX {shell_path(path)}`); "
            f"or {hint}"
        )
    elif isinstance(cause, IsADirectoryError):
        reason = "it is a folder, where a file should be"
    elif isinstance(cause, NotADirectoryError):
        reason = "a part of its path is a file, where a folder should be"
    elif isinstance(cause, FileNotFoundError):
        reason = "it is missing"
    elif isinstance(cause, BaseException):
        reason = str(cause) or type(cause).__name__
    else:
        reason = cause
    return StateError(f"{what} is unusable: {reason}", hint=hint, path=str(path))


def read_bytes(path: Path, *, what: str, hint: str) -> bytes:
    """A file's bytes; any OS error (a folder in its place, permissions) is a :class:`StateError`."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise unusable(path, what, exc, hint) from exc


def read_json(path: Path, *, what: str, hint: str, parse: Callable[[Any], T]) -> T:
    """A JSON file, parsed and checked by ``parse`` (which raises ``ValueError``, ``TypeError``,
    ``KeyError`` or ``AttributeError`` on a document of the wrong shape).

    Raises:
        StateError: naming the file, what is wrong with it and (``hint``) how to recover.
    """
    raw = read_bytes(path, what=what, hint=hint)
    if not raw.strip():
        raise unusable(path, what, "it is empty (a crash or a full disk while it was written?)", hint)
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise unusable(path, what, f"it is not valid JSON (truncated or garbled?): {exc}", hint) from exc
    try:
        return parse(data)
    except StateError as exc:
        raise unusable(path, what, exc.message, hint) from exc
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
        raise unusable(path, what, f"its content has the wrong shape: {type(exc).__name__}: {exc}", hint) from exc


def json_object(data: Any) -> dict[str, Any]:
    """``data`` if it is a JSON object (a ``parse`` function for :func:`read_json`)."""
    if not isinstance(data, dict):
        raise TypeError(f"expected a JSON object, found {type(data).__name__}")
    return data


def file_checksum(path: Path) -> tuple[int, int]:
    """``(size, crc32)`` of a file, read in chunks."""
    crc = 0
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            crc = zlib.crc32(chunk, crc)
            size += len(chunk)
    return size, crc


def seal_file(path: Path, known: tuple[int, int] | None = None) -> tuple[int, int]:
    """Flush a written file to disk and return its ``(size, crc32)`` for the manifest.

    ``known``: the size and CRC-32 this process checked the file against as it came in (a worker's part,
    moved in place): recorded as they are, the file not read again, so the checksum the worker computed
    is the one the load checks.
    """
    size, crc = known if known is not None else file_checksum(path)
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())
    return size, crc


def fsync_dir(path: Path) -> None:
    """Make the entries of folder ``path`` (files created, renamed or removed in it) durable."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def check_int(value: Any, what: str, *, minimum: int = 0) -> int:
    """``value`` if it is an integer (not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{what} must be an integer >= {minimum}, found {value!r}")
    return value


def check_str(value: Any, what: str, *, optional: bool = False) -> Any:
    """``value`` if it is a string (or None when ``optional``)."""
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, found {value!r}")
    return value


def parse_schema(data: Any) -> Schema:
    """A schema from the parsed JSON of a schema file, checked enough that a garbled file is refused
    here rather than failing later in the middle of a load."""
    schema = Schema.from_dict(json_object(data))
    check_str(schema.name, "the schema name")
    check_int(schema.version, "the schema version")
    check_str(schema.version_hash, "the schema version hash")
    for table in schema.tables.values():
        check_str(table.name, "a table name")
        for column in table.columns.values():
            if column.data_type not in DATA_TYPES:
                raise ValueError(f"column {table.name}.{column.name} has an unknown type {column.data_type!r}")
    return schema


def read_file(path: Path) -> Any:
    """A package file (``.arrow`` or ``.parquet``) as a stream of record batches, read batch by batch.

    Plain reads rather than a memory map: a map would keep every page of the file resident (and
    counted in the process's memory) until the kernel evicts it; batches read and dropped do not.
    """
    import pyarrow as pa
    import pyarrow.ipc as ipc

    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(str(path))
        return pa.RecordBatchReader.from_batches(parquet.schema_arrow, parquet.iter_batches())
    source = pa.OSFile(str(path))
    reader = ipc.open_file(source)

    def batches() -> Any:
        try:
            for i in range(reader.num_record_batches):
                yield reader.get_batch(i)
        finally:
            source.close()

    return pa.RecordBatchReader.from_batches(reader.schema, batches())


def file_schema(path: Path) -> Any:
    """The Arrow schema of a package file, read from its footer (the rows are not read)."""
    import pyarrow.ipc as ipc

    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_schema(str(path))
    with ipc.open_file(str(path)) as reader:
        return reader.schema


def read_runs(paths: list[Path]) -> Any:
    """The files ``paths`` as few streams as their schemas allow: one stream of record batches per run
    of consecutive files with the same schema, each file opened when the stream reaches it.

    A destination then writes a table's files in one statement where it can: DuckDB inserts one large
    stream in parallel and writes its row groups straight to the database file, where a statement per
    file (one per partition or batch of a run) leaves more to do at commit (about a third of the load
    of 200,000 nested documents in 8 parts; ``bench/scale.py``).
    """
    import pyarrow as pa

    runs: list[tuple[Any, list[Path]]] = []
    for path in paths:
        schema = file_schema(path)
        if runs and runs[-1][0].equals(schema, check_metadata=True):
            runs[-1][1].append(path)
        else:
            runs.append((schema, [path]))
    for schema, run in runs:

        def batches(run: list[Path] = run) -> Any:
            for path in run:
                yield from read_file(path)

        yield pa.RecordBatchReader.from_batches(schema, batches())
