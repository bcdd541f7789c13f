"""Routing items to tables and cutting them into batches for the normalizer.

Every item kind enters here: dicts and lists of dicts are buffered per table up to ``batch_size``
rows or ``batch_bytes`` bytes, whichever comes first; Arrow tables and record batches, pandas and
polars frames, DuckDB relations and anything that speaks the Arrow C stream interface are normalized
as Arrow, in slices under the same two bounds, without touching rows in Python. Rows a connector's
JSON lines gave (:class:`~headwater.normalize.jsonlines.JsonRows`, in :class:`Hinted` items) gather
like dict rows and are normalized as the dicts they are. A scalar item becomes a row ``{"value": item}``.

The size of a batch of dicts is estimated, not measured: one row in :data:`SAMPLE_EVERY` (and the
first of every batch) is serialized as JSON, and the batch is taken to hold rows of the sampled rows'
average size. Python holds such rows in about three to six times their JSON size. Rows from JSON lines
count the bytes of their lines, Arrow data the bytes of its buffers.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any, Final

import orjson
import pyarrow as pa

from headwater import names
from headwater._failpoints import failpoint
from headwater.errors import ConfigError, DataError
from headwater.normalize.jsonlines import JsonRows
from headwater.normalize.normalizer import Normalizer
from headwater.observe.progress import Progress
from headwater.schema.hints import TableHints
from headwater.schema.model import Table
from headwater.streams.hinted import Hinted
from headwater.streams.resource import Resource

_SCALARS = (str, int, float, bool, decimal.Decimal, dt.date, dt.time, bytes)

#: the default bound on a batch's rows (``batch_size``)
DEFAULT_BATCH_SIZE: Final = 100_000
#: the default bound on a batch's bytes (``batch_bytes``): dict rows as JSON, estimated from samples
DEFAULT_BATCH_BYTES: Final = 8 * 2**20
#: one dict row in this many (and the first of each batch) is serialized to estimate the batch's bytes
SAMPLE_EVERY: Final = 64
#: what a row counts for when it cannot be serialized as JSON (bytes per key)
_UNSIZED_KEY: Final = 64


class _Buffer:
    __slots__ = (
        "check",
        "given",
        "hints",
        "limit",
        "next_sample",
        "piece_bytes",
        "pieces",
        "resource",
        "rows",
        "sampled",
        "sampled_bytes",
        "table",
    )

    def __init__(
        self, table: Table, resource: Resource, hints: TableHints, batch_size: int, given: TableHints | None = None
    ) -> None:
        self.table = table
        self.resource = resource
        self.hints = hints
        #: the hints a :class:`Hinted` item gave (``hints`` may add the pipeline's defaults)
        self.given = given
        self.rows: list[Any] = []
        #: rows read from JSON lines, waiting as they came (only while ``rows`` is empty: order is kept)
        self.pieces: list[JsonRows] = []
        #: the bytes of the pieces' lines
        self.piece_bytes = 0
        self.restart(batch_size)

    def restart(self, batch_size: int) -> None:
        """A new batch of rows begins: nothing sampled yet."""
        #: rows the batch takes: ``batch_size``, or fewer when the sampled rows say they pass ``batch_bytes``
        self.limit = batch_size
        #: the index in ``rows`` of the next row to sample
        self.next_sample = 0
        self.sampled = 0
        self.sampled_bytes = 0
        #: the length of ``rows`` at which the router looks again (to sample or to cut)
        self.check = 1


class ItemRouter:
    """The sink of extraction: routes every item of every resource into normalized batches."""

    def __init__(
        self,
        normalizer: Normalizer,
        *,
        batch_size: int,
        progress: Progress,
        max_nesting: int | None = None,
        batch_bytes: int = DEFAULT_BATCH_BYTES,
    ) -> None:
        self.normalizer = normalizer
        self.batch_size = batch_size
        self.batch_bytes = batch_bytes
        self.progress = progress
        self.default_max_nesting = max_nesting
        self._buffers: dict[tuple[str, str], _Buffer] = {}
        self._static: dict[int, _Buffer] = {}
        self._names: dict[str, str] = {}
        self.tables_by_resource: dict[str, set[str]] = {}
        #: tables that :class:`Hinted` items with ``replace`` hints send to this load (replaced even if empty)
        self.replaced_by_items: set[str] = set()

    # -- the sink --------------------------------------------------------------------------------
    def __call__(self, resource: Resource, item: Any) -> None:
        """Route one item of ``resource``: a row into the batch of its table, a list element by element, other data
        (Arrow, frames) on its own; None is skipped."""
        t = type(item)
        if t is dict:
            buf = self._static.get(id(resource))
            if buf is None:
                buf = self._buffer(resource, item)
            rows = buf.rows
            rows.append(item)
            if len(rows) >= buf.check:
                self._settle(buf)
            return
        if t is list or t is tuple:
            self._rows(resource, item)
            return
        if item is None:
            return
        self._other(resource, item)

    def _rows(self, resource: Resource, rows: list[Any] | tuple[Any, ...]) -> None:
        if not rows:
            return
        first = rows[0]
        if type(first) is not dict and first is not None and not isinstance(first, (Mapping, *_SCALARS)):
            for element in rows:  # a list of tables, frames or lists: each is an item of its own
                self(resource, element)
            return
        buf = self._static.get(id(resource))
        if buf is None and resource.hints.table_name is not None and not isinstance(resource.hints.table_name, str):
            for row in rows:
                self(resource, row)
            return
        if buf is None:
            buf = self._buffer(resource, rows[0])
        buf.rows.extend(rows)
        self._settle(buf)

    def _other(self, resource: Resource, item: Any) -> None:
        if type(item) is Hinted:
            self._hinted(resource, item)
        elif isinstance(item, pa.Table | pa.RecordBatch):
            self._arrow(resource, item)
        elif isinstance(item, pa.RecordBatchReader):
            for batch in item:
                self._arrow(resource, batch)
        elif _is_pandas(item):
            self._pandas(resource, item)
        elif _is_polars(item):
            self._arrow(resource, item.to_arrow())
        elif type(item).__name__ == "DuckDBPyRelation":
            reader = (
                item.to_arrow_reader(self.batch_size)
                if hasattr(item, "to_arrow_reader")
                else (item.fetch_record_batch(self.batch_size))
            )
            for batch in reader:
                self._arrow(resource, batch)
        elif hasattr(item, "__arrow_c_stream__"):
            for batch in pa.RecordBatchReader.from_stream(item):
                self._arrow(resource, batch)
        elif isinstance(item, Mapping):
            self(resource, dict(item))
        elif isinstance(item, _SCALARS):
            self(resource, {"value": item})
        elif isinstance(item, Iterable) and not isinstance(item, str | bytes):
            self._rows(resource, list(item))
        else:
            raise DataError(
                f"resource {resource.name!r} yielded an item of type {type(item).__name__} that cannot be loaded",
                hint="yield dicts, lists of dicts, Arrow tables or data frames",
                resource=resource.name,
            )

    def _hinted(self, resource: Resource, item: Hinted) -> None:
        """An item for a table of its own with hints of its own (:mod:`headwater.streams.hinted`)."""
        name = self._names.get(item.table)
        if name is None:
            name = self._names[item.table] = names.data_table_name(item.table)
        key = (name, resource.name)
        buf = self._buffers.get(key)
        data = item.data
        if buf is None and name not in self.normalizer.schema.tables and (data is None or len(data) == 0):
            return  # no rows for a table that does not exist yet: nothing to create or replace
        if buf is None or (buf.given is not item.hints and buf.given != item.hints):
            if buf is not None:  # new hints (a new SCHEMA message): rows so far go with the old ones
                self._drain(buf)
            hints = item.hints
            if hints.max_nesting is None and self.default_max_nesting is not None:
                hints = replace(hints, max_nesting=self.default_max_nesting)
            table = self.normalizer.root_table(name, resource=resource.name, hints=hints)
            buf = self._buffers[key] = _Buffer(table, resource, hints, self.batch_size, item.hints)
            self.tables_by_resource.setdefault(resource.name, set()).add(name)
            if hints.write_disposition == "replace":
                self.replaced_by_items.add(name)
            else:
                self.replaced_by_items.discard(name)
        if type(data) is dict:
            data = [data]
        if isinstance(data, list | tuple):
            self._flush_pieces(buf)
            buf.rows.extend(data)
            self._settle(buf)
        elif isinstance(data, JsonRows):
            self._drain_rows(buf)
            if buf.pieces and buf.pieces[0].table.schema != data.table.schema:
                self._flush_pieces(buf)
            buf.pieces.append(data)
            buf.piece_bytes += sum(map(len, data.lines))
            if sum(map(len, buf.pieces)) >= self.batch_size or buf.piece_bytes >= self.batch_bytes:
                self._flush_pieces(buf)
        elif isinstance(data, pa.Table | pa.RecordBatch):
            self._drain(buf)
            self._arrow_into(buf, resource, data)
        elif data is not None:
            raise DataError(
                f"resource {resource.name!r} yielded hinted data of type {type(data).__name__} for table "
                f"{item.table!r}",
                hint="hinted data is a row, a list of rows or an Arrow table",
                resource=resource.name,
                table=name,
            )

    # -- tables ----------------------------------------------------------------------------------
    def _hints(self, resource: Resource) -> TableHints:
        hints = resource.hints
        if hints.max_nesting is None and self.default_max_nesting is not None:
            hints = replace(hints, max_nesting=self.default_max_nesting)
        return hints

    def _table_name(self, resource: Resource, item: Any) -> str:
        spec = resource.hints.table_name
        if spec is None or isinstance(spec, str):
            raw = spec or resource.name
        else:
            try:
                raw = spec(item)
            except Exception as exc:
                raise DataError(
                    f"the table_name function of resource {resource.name!r} failed: {exc!r}",
                    resource=resource.name,
                ) from exc
            if not isinstance(raw, str) or not raw:
                raise DataError(
                    f"the table_name function of resource {resource.name!r} returned {raw!r}, not a table name",
                    resource=resource.name,
                )
        name = self._names.get(raw)
        if name is None:
            # a declared name is refused if it cannot be a table; one from the data is renamed
            static = spec is None or isinstance(spec, str)
            name = names.table_name(raw, resource=resource.name) if static else names.data_table_name(raw)
            self._names[raw] = name
        return name

    def _buffer(self, resource: Resource, item: Any) -> _Buffer:
        name = self._table_name(resource, item)
        key = (name, resource.name)
        buf = self._buffers.get(key)
        if buf is None:
            hints = self._hints(resource)
            table = self.normalizer.root_table(name, resource=resource.name, hints=hints)
            buf = _Buffer(table, resource, hints, self.batch_size)
            self._buffers[key] = buf
            self.tables_by_resource.setdefault(resource.name, set()).add(name)
        if resource.hints.table_name is None or isinstance(resource.hints.table_name, str):
            self._static[id(resource)] = buf
        return buf

    def touch(self, resource: Resource) -> str | None:
        """Register a resource's static table even if it yields nothing (replace empties it)."""
        if resource.hints.table_name is not None and not isinstance(resource.hints.table_name, str):
            return None
        name = self._table_name(resource, None)
        if name in self.normalizer.schema.tables:
            self.normalizer.root_table(name, resource=resource.name, hints=self._hints(resource))
            return name
        return None

    # -- normalizing -----------------------------------------------------------------------------
    def _settle(self, buf: _Buffer) -> None:
        """Sample the rows not yet sampled (up to where the batch would be cut) and normalize every full
        batch: one that has ``batch_size`` rows, or as many as the sampled rows' size says fill
        ``batch_bytes``."""
        rows = buf.rows
        while True:
            n = len(rows)
            while buf.next_sample < n and buf.next_sample < buf.limit:
                buf.sampled_bytes += _json_size(rows[buf.next_sample])
                buf.sampled += 1
                buf.next_sample += SAMPLE_EVERY
                fits = self.batch_bytes * buf.sampled // max(buf.sampled_bytes, 1)
                buf.limit = max(1, min(self.batch_size, fits))
            if n < buf.limit:
                break
            self._flush(buf)
        buf.check = min(buf.limit, buf.next_sample + 1)

    def _drain_rows(self, buf: _Buffer) -> None:
        """Normalize every dict row buffered, in batches under both bounds."""
        self._settle(buf)
        if buf.rows:
            self._flush(buf)

    def _flush(self, buf: _Buffer) -> None:
        """Normalize the first ``buf.limit`` rows as a batch (fewer when fewer are buffered)."""
        self._flush_pieces(buf)  # they came first
        count = buf.limit
        rows = buf.rows[:count]
        del buf.rows[:count]
        buf.restart(self.batch_size)
        rows = _clean_rows(rows, buf.resource.name, buf.table.name)
        if not rows:
            return
        before = self._counts()
        self.normalizer.rows(buf.table, rows, buf.hints, buf.resource.name)
        self._report(before, buf.resource.name)
        failpoint("extract.batch")

    def _flush_pieces(self, buf: _Buffer) -> None:
        if not buf.pieces:
            return
        data = JsonRows.concat(buf.pieces)
        step = _rows_within(len(data), buf.piece_bytes, self.batch_size, self.batch_bytes)
        buf.pieces = []
        buf.piece_bytes = 0
        for start in range(0, len(data), step):
            before = self._counts()
            piece = data.slice(start, start + step)
            self.normalizer.json_rows(buf.table, piece, buf.hints, buf.resource.name)
            self._report(before, buf.resource.name)
            failpoint("extract.batch")

    def _drain(self, buf: _Buffer) -> None:
        self._flush_pieces(buf)
        self._drain_rows(buf)

    def flush_all(self) -> None:
        """Normalize every row still buffered."""
        for buf in list(self._buffers.values()):
            self._drain(buf)

    def _arrow(self, resource: Resource, data: pa.Table | pa.RecordBatch) -> None:
        if isinstance(data, pa.RecordBatch):
            data = pa.Table.from_batches([data])
        if data.num_rows == 0 and data.num_columns == 0:
            return
        self._arrow_into(self._static.get(id(resource)) or self._buffer(resource, data), resource, data)

    def _arrow_into(self, buf: _Buffer, resource: Resource, data: pa.Table | pa.RecordBatch) -> None:
        if isinstance(data, pa.RecordBatch):
            data = pa.Table.from_batches([data])
        step = _rows_within(data.num_rows, data.nbytes, self.batch_size, self.batch_bytes)
        for offset in range(0, max(data.num_rows, 1), step):
            chunk = data.slice(offset, step)
            before = self._counts()
            self.normalizer.arrow(buf.table, chunk, buf.hints, resource.name)
            self._report(before, resource.name)

    def _pandas(self, resource: Resource, frame: Any) -> None:
        try:
            table = pa.Table.from_pandas(frame, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            # object columns that mix kinds: take the careful row path for this frame, with pandas'
            # missing values (NaN, NaT, None) as nulls
            import pandas as pd

            cleaned = frame.astype(object).where(pd.notna(frame), None)
            self._rows(resource, cleaned.to_dict(orient="records"))
            return
        self._arrow(resource, table)

    def _counts(self) -> tuple[dict[str, int], dict[str, int]]:
        """Rows and bytes per table so far (taken before a batch, to report what it added)."""
        return dict(self.normalizer.rows_by_table), dict(self.normalizer.bytes_by_table)

    def _report(self, before: tuple[dict[str, int], dict[str, int]], resource: str) -> None:
        rows, nbytes = before
        for name, n in self.normalizer.rows_by_table.items():
            delta = n - rows.get(name, 0)
            if delta:
                size = self.normalizer.bytes_by_table.get(name, 0) - nbytes.get(name, 0)
                self.progress.rows(name, delta, resource=resource, nbytes=size)


def check_batch_bounds(batch_size: Any, batch_bytes: Any) -> None:
    """Refuse batch bounds that are not positive integers (``hw.pipeline``'s ``batch_size`` and ``batch_bytes``).

    Raises:
        ConfigError: naming the option and the value.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
    if isinstance(batch_bytes, bool) or not isinstance(batch_bytes, int) or batch_bytes < 1:
        raise ConfigError(
            f"batch_bytes must be a positive integer (bytes), got {batch_bytes!r}",
            hint=f"e.g. batch_bytes={DEFAULT_BATCH_BYTES} (8 MiB, the default); a batch is cut at batch_size "
            "rows or batch_bytes bytes, whichever comes first",
        )


def _json_size(row: Any) -> int:
    """The bytes of ``row`` as JSON (values JSON has no type for as their text), or a guess by its keys
    when it cannot be serialized (nested too deep, say)."""
    try:
        return len(orjson.dumps(row, default=str, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY))
    except (TypeError, orjson.JSONEncodeError):
        return _UNSIZED_KEY * (len(row) if isinstance(row, Mapping) else 1)


def _rows_within(rows: int, nbytes: int, batch_size: int, batch_bytes: int) -> int:
    """Rows per batch when ``rows`` rows take ``nbytes``: ``batch_size``, or fewer to stay under ``batch_bytes``."""
    if rows == 0 or nbytes <= batch_bytes:
        return batch_size
    return max(1, min(batch_size, batch_bytes * rows // nbytes))


def _clean_rows(rows: list[Any], resource: str, table: str) -> list[dict[str, Any]]:
    """Rows as dicts: mappings are copied, scalars wrapped, Nones dropped; anything else is an error."""
    if all(type(r) is dict for r in rows):
        return rows
    out: list[dict[str, Any]] = []
    for i, r in enumerate(rows):
        if type(r) is dict:
            out.append(r)
        elif r is None:
            continue
        elif isinstance(r, Mapping):
            out.append(dict(r))
        elif isinstance(r, _SCALARS):
            out.append({"value": r})
        else:
            raise DataError(
                f"row {i} of a batch is a {type(r).__name__}, not a dict: {r!r:.80}",
                hint="yield dicts (or lists of dicts) from the resource",
                resource=resource,
                table=table,
            )
    return out


def _is_pandas(item: Any) -> bool:
    return type(item).__module__.startswith("pandas") and type(item).__name__ == "DataFrame"


def _is_polars(item: Any) -> bool:
    return type(item).__module__.startswith("polars") and type(item).__name__ == "DataFrame"
