"""Reading one file in bulk, as Arrow record batches: CSV/TSV through pyarrow's streaming CSV reader,
JSON (arrays or one document per line) through DuckDB's ``read_json``, Parquet row group by row group.

gzip and zstd files (``.gz``, ``.zst``) are decompressed as they stream. Every reader yields
batches of at most a few megabytes, so memory stays bounded whatever the file's size, and every
failure is a :class:`~headwater.errors.SourceError` naming the file (and the line when it is known).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

import pyarrow as pa

from headwater.errors import ConfigError, SourceError
from headwater.sources.filesystem.files import FileEntry, Location, open_binary

FORMATS: Final = ("csv", "tsv", "json", "jsonl", "parquet")
EXTENSIONS: Final = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
COMPRESSIONS: Final = {".gz": "gzip", ".gzip": "gzip", ".zst": "zstd", ".zstd": "zstd"}
DEFAULT_NULLS: Final = ("", "NA", "N/A", "NULL", "null")
CSV_BLOCK_SIZE: Final = 4 << 20


@dataclass(frozen=True)
class CsvOptions:
    """How CSV and TSV files are parsed."""

    delimiter: str | None = None  # None: "," for csv, tab for tsv
    header: bool = True
    null_values: tuple[str, ...] = DEFAULT_NULLS
    encoding: str = "utf8"


def check_format(fmt: str | None) -> str | None:
    """The canonical name of ``fmt`` (``ndjson`` is ``jsonl``...), or None for "by extension".

    Raises:
        ConfigError: an unknown format.
    """
    if fmt is None:
        return None
    name = str(fmt).lower().lstrip(".")
    name = {"ndjson": "jsonl", "pq": "parquet", "tab": "tsv"}.get(name, name)
    if name not in FORMATS:
        raise ConfigError(f"filesystem: unknown format {fmt!r}", hint=f"formats: {', '.join(FORMATS)}")
    return name


def detect(name: str, fmt: str | None) -> tuple[str, str | None]:
    """The format (``fmt`` or by extension) and the compression (by extension) of the file ``name``."""
    lowered = name.lower()
    compression = None
    for ext, codec in COMPRESSIONS.items():
        if lowered.endswith(ext):
            compression, lowered = codec, lowered[: -len(ext)]
            break
    if fmt is None:
        dot = lowered.rfind(".")
        fmt = EXTENSIONS.get(lowered[dot:]) if dot >= 0 else None
        if fmt is None:
            raise ConfigError(
                f"filesystem: cannot tell the format of {name!r} from its extension",
                hint=f"pass format= (one of {', '.join(FORMATS)}) or a glob that matches only data files",
                path=name,
            )
    return fmt, compression


def read_file(
    loc: Location, entry: FileEntry, fmt: str | None, csv: CsvOptions, chunk_size: int
) -> Iterator[pa.RecordBatch]:
    """The rows of one file as record batches (the file's own columns)."""
    kind, compression = detect(entry.name, fmt)
    if entry.size == 0:
        return
    if kind in ("csv", "tsv"):
        yield from _read_csv(loc, entry, kind, compression, csv)
    elif kind in ("json", "jsonl"):
        yield from _read_json(loc, entry, kind, compression, chunk_size)
    else:
        yield from _read_parquet(loc, entry, compression, chunk_size)


def _failure(entry: FileEntry, kind: str, exc: BaseException, rows_before: int | None = None) -> SourceError:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    where: dict[str, Any] = {"path": entry.path}
    for key, pattern in (("line", r"\bline (\d+)"), ("record", r"\brecord/value (\d+)"), ("byte", r"\bbyte (\d+)")):
        found = re.search(pattern, text)
        if found:
            where[key] = int(found.group(1))
    if "line" not in where and "record" not in where and rows_before is not None:
        where["rows_read"] = rows_before  # the failure is in the block after these rows
    hint = "fix or remove the file (or pass format=, delimiter=, null_values= that match it), then run again"
    if "conversion error" in text:
        hint = (
            f"a CSV column's type is inferred from the file's first {CSV_BLOCK_SIZE >> 20} MB and a later value "
            "does not fit it: add a null_values= entry if the value means null, or convert the file to Parquet"
        )
    return SourceError(f"cannot read {entry.path!r} as {kind}: {text}", hint=hint, **where)


def _input(loc: Location, entry: FileEntry, compression: str | None) -> pa.NativeFile:
    raw = pa.PythonFile(open_binary(loc, entry), mode="r")
    return pa.CompressedInputStream(raw, compression) if compression else raw


# -- CSV ------------------------------------------------------------------------------------------
def _read_csv(
    loc: Location, entry: FileEntry, kind: str, compression: str | None, opts: CsvOptions
) -> Iterator[pa.RecordBatch]:
    import pyarrow.csv as pcsv

    delimiter = opts.delimiter or ("\t" if kind == "tsv" else ",")
    read = pcsv.ReadOptions(
        block_size=CSV_BLOCK_SIZE, autogenerate_column_names=not opts.header, encoding=opts.encoding
    )
    parse = pcsv.ParseOptions(delimiter=delimiter)
    types: dict[str, pa.DataType] = {}
    rows = 0
    for attempt in range(2):
        convert = pcsv.ConvertOptions(null_values=list(opts.null_values), strings_can_be_null=True, column_types=types)
        source = _input(loc, entry, compression)
        try:
            reader = pcsv.open_csv(source, read_options=read, parse_options=parse, convert_options=convert)
            # types are inferred from the first block: a column without a value there would be typed
            # null and fail on the first value of a later block, so it is read as text instead
            untyped = [f.name for f in reader.schema if pa.types.is_null(f.type)]
            if untyped and attempt == 0:
                types = {name: pa.string() for name in untyped}
                continue
            for batch in reader:
                yield batch
                rows += batch.num_rows
            return
        except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
            raise _failure(entry, kind, exc, rows) from exc
        finally:
            source.close()


# -- JSON -----------------------------------------------------------------------------------------
def _read_json(
    loc: Location, entry: FileEntry, kind: str, compression: str | None, chunk_size: int
) -> Iterator[pa.RecordBatch]:
    import duckdb

    con = duckdb.connect()
    try:
        path = entry.path
        if not loc.is_local:
            con.register_filesystem(loc.fs)
        # sample_size=-1: the column types come from the whole file, so a key or a type that first
        # appears late is neither dropped nor a failure
        layout = "newline_delimited" if kind == "jsonl" else "auto"
        sql = (
            f"select * from read_json($path, format='{layout}', sample_size=-1, compression='{compression or 'none'}')"
        )
        rows = 0
        try:
            reader = con.sql(sql, params={"path": path}).to_arrow_reader(chunk_size)
            for batch in reader:
                yield batch
                rows += batch.num_rows
        except (duckdb.Error, pa.ArrowException, OSError) as exc:
            raise _failure(entry, kind, exc, rows) from exc
    finally:
        con.close()


# -- Parquet --------------------------------------------------------------------------------------
def _read_parquet(
    loc: Location, entry: FileEntry, compression: str | None, chunk_size: int
) -> Iterator[pa.RecordBatch]:
    import pyarrow.parquet as pq

    if compression:
        raise ConfigError(
            f"filesystem: {entry.path!r} is a {compression}-compressed Parquet file",
            hint="Parquet compresses its pages itself: store it as a plain .parquet file",
            path=entry.path,
        )
    handle = open_binary(loc, entry)
    rows = 0
    try:
        pfile = pq.ParquetFile(handle)
        for batch in pfile.iter_batches(batch_size=chunk_size):
            yield batch
            rows += batch.num_rows
    except (pa.ArrowException, OSError) as exc:
        raise _failure(entry, "parquet", exc, rows) from exc
    finally:
        handle.close()


def check_null_values(values: Sequence[str] | None) -> tuple[str, ...]:
    """The CSV strings read as null: ``values``, or the defaults when None.

    Raises:
        ConfigError: ``values`` is not a list of strings.
    """
    if values is None:
        return DEFAULT_NULLS
    if isinstance(values, str) or not all(isinstance(v, str) for v in values):
        raise ConfigError(f"filesystem: null_values must be a list of strings, got {values!r}")
    return tuple(values)
