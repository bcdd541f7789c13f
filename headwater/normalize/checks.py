"""Row checks run on each normalized batch of a root table, vectorized, and tallied for the load.

The normalizer hands every root batch (its columns as placed: typed and masked, as they will be
stored) to :class:`RowChecks`, which evaluates each row check of the resource with Arrow compute
kernels (``expression`` with DuckDB over the batch; ``python`` with the user's function on the batch),
never row by row in Python. Rows a contract already set aside are not checked. Failing rows of
``quarantine`` checks are returned to the normalizer, which sends them (and their child rows) to
``_hw_quarantine``; ``fail`` and ``warn`` checks only count, so the Arrow-kernel ones among them run on
a thread of their own (the kernels release the GIL), overlapping the normalization of the next batch;
:meth:`RowChecks.drain` waits for them and raises what they raised. :meth:`RowChecks.report` gives what
the package manifest keeps: the results, and the table checks the destination runs at load time.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from headwater.errors import DataError, did_you_mean
from headwater.normalize import arrays, pandas_gate
from headwater.normalize.compute import pc
from headwater.schema.checks import SAMPLES, Check, CheckResult
from headwater.schema.model import Schema
from headwater.schema.system import SYSTEM_PREFIX

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

_ROW = "__hw_check_row"
_SAMPLE_TEXT = 200
#: kinds evaluated by Arrow kernels alone: with severity fail or warn they run on the checks thread
_KERNEL_KINDS = frozenset({"not_null", "accepted_values", "between", "matches", "max_length"})
#: batches queued for the checks thread before the normalizer waits for it
_BACKLOG = 8


class RowChecks:
    """The row checks of one load: evaluation per batch and the tally per table and check."""

    def __init__(self) -> None:
        self.results: dict[tuple[str, str], CheckResult] = {}
        self.table_checks: dict[str, dict[str, Check]] = {}
        self.row_checks: dict[str, dict[str, Check]] = {}
        self._con: Any = None
        self._pool: ThreadPoolExecutor | None = None
        self._pending: deque[Future[Any]] = deque()

    def note(self, table: str, checks: tuple[Check, ...]) -> None:
        """Remember the checks a resource declares for ``table`` (its table checks run at load time)."""
        for check in checks:
            (self.row_checks if check.is_row else self.table_checks).setdefault(table, {})[check.name] = check
            if check.is_row:
                self.results.setdefault((table, check.name), CheckResult.of(table, check))

    def run(
        self,
        table: str,
        columns: dict[str, pa.Array],
        length: int,
        checks: tuple[Check, ...],
        skip: pa.BooleanArray | None,
    ) -> list[tuple[Check, pa.Array]]:
        """Evaluate ``checks`` on a batch (``skip``: rows already set aside); the failing rows of each
        ``quarantine`` check that found some. Kernel checks that only count are queued for the checks
        thread; an error one of them raised surfaces here (at a later batch) or in :meth:`drain`."""
        batch = _batch(columns, length)
        self._raise_done()
        later = tuple(c for c in checks if c.severity != "quarantine" and c.kind in _KERNEL_KINDS)
        if later:
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor  # only for runs with row checks

                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="headwater-checks")
            if len(self._pending) >= _BACKLOG:
                self._pending.popleft().result()
            self._pending.append(self._pool.submit(self._tally, table, batch, length, later, skip))
        now = tuple(c for c in checks if c not in later)
        return self._tally(table, batch, length, now, skip) if now else []

    def drain(self) -> None:
        """Wait for the checks still running on the checks thread; raise the first error one raised."""
        while self._pending:
            self._pending.popleft().result()

    def _raise_done(self) -> None:
        while self._pending and self._pending[0].done():
            self._pending.popleft().result()

    def _tally(
        self, table: str, batch: pa.Table, length: int, checks: tuple[Check, ...], skip: pa.BooleanArray | None
    ) -> list[tuple[Check, pa.Array]]:
        out = []
        skipped = 0 if skip is None else arrays.count(skip)
        for check in checks:
            failing = self._failing(check, batch, length, table)
            if skip is not None:
                failing = pc.and_not(failing, skip)
            rows = arrays.positions(failing)
            result = self.results.setdefault((table, check.name), CheckResult.of(table, check))
            result.checked += length - skipped
            result.failing += len(rows)
            if len(rows) and len(result.samples) < SAMPLES:
                result.samples.extend(_samples(batch, rows.slice(0, SAMPLES - len(result.samples))))
            if check.severity == "quarantine" and len(rows):
                out.append((check, rows))
        return out

    def report(self, schema: Schema) -> dict[str, Any]:
        """What the package keeps: row check results (a check of a column the table never got reports
        it, with a "did you mean") and the table checks per table."""
        self.drain()
        for (table, name), result in self.results.items():
            check = self.row_checks.get(table, {}).get(name)
            col = check.column if check is not None else None
            known = schema.tables[table].columns if table in schema.tables else {}
            if col is not None and col not in known and check is not None and check.kind != "not_null":
                shown = [c for c in known if not c.startswith(SYSTEM_PREFIX)]
                result.error = f"table {table!r} has no column {col!r}; {did_you_mean(col, shown, listing='columns')}"
        return {
            "results": [r.to_dict() for r in self.results.values()],
            "tables": {t: [c.to_dict() for c in checks.values()] for t, checks in self.table_checks.items()},
        }

    def close(self) -> None:
        """Stop the checks thread once its queue is done and close the DuckDB connection of
        ``expression`` checks, if one was opened. Errors not raised by :meth:`drain` are dropped: only
        a failed extraction skips it, and its own error is the one reported."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
            self._pending.clear()
        if self._con is not None:
            self._con.close()
            self._con = None

    # -- the checks --------------------------------------------------------------------------------
    def _failing(self, check: Check, batch: pa.Table, length: int, table: str) -> pa.BooleanArray:
        """A boolean array without nulls: True where the row fails ``check``."""
        try:
            return self._evaluate(check, batch, length)
        except DataError:
            raise
        except Exception as exc:
            raise DataError(
                f"check {check.name!r} ({check.describe()}) could not run on table {table!r}: {exc}",
                hint="fix the check (its column, values or SQL), or remove it",
                table=table,
            ) from exc

    def _evaluate(self, check: Check, batch: pa.Table, length: int) -> pa.BooleanArray:
        kind = check.kind
        if kind == "expression":
            return self._expression(check, batch, length)
        if kind == "python":
            return _python(check, batch, length)
        arr = batch.column(check.column) if check.column in batch.column_names else None
        if arr is None:  # no value in this batch: every row is null
            return arrays.full(length, kind == "not_null")
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        if isinstance(arr.type, pa.ExtensionType):
            arr = arr.storage
        if kind == "not_null":
            return arr.is_null()
        if kind == "accepted_values":
            allowed = pa.array(list(check.values))
            if allowed.type != arr.type:
                allowed = allowed.cast(arr.type)
            failed = pc.and_(pc.invert(pc.is_in(arr, value_set=allowed)), pc.is_valid(arr))  # nulls pass
        elif kind == "between":
            failed = None
            for bound, op in ((check.min, pc.less), (check.max, pc.greater)):
                if bound is not None:
                    one = op(arr, _scalar(bound, arr.type))
                    failed = one if failed is None else pc.or_(failed, one)
        elif kind == "matches":
            failed = pc.invert(pc.match_substring_regex(_text(arr), pattern=check.pattern))
        else:  # max_length
            measure = (
                pc.binary_length
                if pa.types.is_binary(arr.type) or pa.types.is_large_binary(arr.type)
                else pc.utf8_length
            )
            failed = pc.greater(measure(arr if measure is pc.binary_length else _text(arr)), check.length)
        return pc.fill_null(failed, False)

    def _expression(self, check: Check, batch: pa.Table, length: int) -> pa.BooleanArray:
        import duckdb

        if self._con is None:
            self._con = duckdb.connect()
        records = batch.append_column(_ROW, arrays.arange(0, length))
        self._con.register("records", records)
        try:
            rows = self._con.execute(
                f'SELECT "{_ROW}" FROM records WHERE coalesce(NOT ({check.sql}), false)'
            ).fetchall()
        finally:
            self._con.unregister("records")
        return arrays.mask(arrays.int64s(r[0] for r in rows), length)


def _batch(columns: dict[str, pa.Array], length: int) -> pa.Table:
    """The user's columns of a root batch as a table (extension types as their storage)."""
    data = {}
    for name, arr in columns.items():
        if name.startswith(SYSTEM_PREFIX):
            continue
        data[name] = arr.storage if isinstance(arr.type, pa.ExtensionType) else arr
    if not data:
        return pa.table({_ROW: pa.nulls(length)}).drop_columns([_ROW])
    return pa.table(data)


def _python(check: Check, batch: pa.Table, length: int) -> pa.BooleanArray:
    assert check.fn is not None
    got = check.fn(batch)
    if isinstance(got, pa.ChunkedArray):
        got = got.combine_chunks()
    if isinstance(got, pa.Array):
        passes, size = pc.fill_null(got.cast(pa.bool_()), True), len(got)
    else:
        passes, size = _truths(got)
    if passes is None or size != length:
        raise DataError(
            f"check {check.name!r} returned {size} value(s) for a batch of {length} rows",
            hint="a python check returns one boolean per row of the batch (True: the row passes)",
        )
    return pc.invert(passes)


def _truths(got: Any) -> tuple[pa.BooleanArray | None, int]:
    """What a python check returned other than Arrow as booleans, and how many values it holds, as
    numpy's ``asarray(got, dtype=bool)`` reads it (None is false); None if it is not one value per row."""
    if hasattr(got, "__array__"):  # numpy, pandas: numpy is installed
        import numpy as np

        values = np.asarray(got, dtype=bool)
        return (pandas_gate.array(values, pa.bool_()) if values.ndim == 1 else None), values.size
    if isinstance(got, str | bytes) or not hasattr(got, "__iter__"):
        return None, 1
    items = list(got)
    if any(isinstance(v, list | tuple) for v in items):
        return None, sum(len(v) if isinstance(v, list | tuple) else 1 for v in items)
    return arrays.booleans(bool(v) for v in items), len(items)


def _scalar(value: Any, to: pa.DataType) -> pa.Scalar:
    scalar = pa.scalar(value)
    return scalar if scalar.type == to else scalar.cast(to)


def _text(arr: pa.Array) -> pa.Array:
    return arr if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type) else arr.cast(pa.string())


def _samples(batch: pa.Table, rows: pa.Array) -> list[dict[str, Any]]:
    """Failing rows as plain values (long texts shortened), for messages and ``_hw_checks``."""
    return [{k: _short(v) for k, v in row.items()} for row in batch.take(rows).to_pylist()]


def _short(value: Any) -> Any:
    if isinstance(value, bytes):
        value = value.hex()
    if isinstance(value, str) and len(value) > _SAMPLE_TEXT:
        return value[: _SAMPLE_TEXT - 3] + "..."
    if isinstance(value, int | float | bool | str) or value is None:
        return value
    return _short(str(value))
