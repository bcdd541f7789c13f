"""Incremental cursors: load each source row once, run after run.

::

    @hw.resource(primary_key="id")
    def issues(updated=hw.incremental("updated_at", initial_value="2024-01-01T00:00:00Z")):
        yield from api.issues(since=updated.start_value)   # the request asks only for what is new

The cursor is also applied as a filter on every item the resource yields (rows one by one, Arrow
tables with Arrow compute): rows before the start value are dropped, rows at exactly the start value
that were loaded by the previous run are dropped (they are remembered by a hash of their primary key,
or of the whole row), rows at or after ``end_value`` are dropped, and rows without a cursor value are
handled as ``on_cursor_value_missing`` says. The new last value and the hashes of the rows that sit
exactly on it become the resource's state, committed with the data. The state holds only the rows at
the last value, so it does not grow with the number of runs or rows.

A range with ``end_value`` (a backfill) never moves the live cursor.

Cursor values must be ordered, and ordered among themselves: numbers (ints, floats, decimals), text,
dates, datetimes with a time zone, datetimes without one, times. A value of another kind than the
start value, the end value or the values before it in the run (``5`` after ``"4"``, a naive datetime
after an aware one), or a value without an order (NaN, a dict) is a :class:`~headwater.errors.DataError`
that names the cursor, the resource, both values and their types, and the fix. (NaN compares false
with everything: kept as a last value, it would let every row through on every run.)
"""

from __future__ import annotations

import copy
import datetime as dt
import decimal
import hashlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from headwater.errors import ConfigError, DataError
from headwater.schema.hints import CursorHint
from headwater.schema.state import decode_value, encode_value

if TYPE_CHECKING:
    import pyarrow as pa

MISSING_POLICIES = ("raise", "include", "exclude")
_ABSENT = object()
_HASH_EAGERLY = 1024


class Incremental(CursorHint):
    """An incremental cursor; see the module docstring.

    Args:
        cursor_path: the field holding the cursor; ``a.b`` reaches into nested objects.
        initial_value: where the first run starts (None: from the beginning).
        end_value: where a range ends (exclusive); set with ``initial_value`` to backfill a range
            without touching the live cursor.
        last_value_func: ``max`` (values grow, the default) or ``min`` (values shrink).
        primary_key: the fields that identify a row, to recognize rows already loaded at the
            boundary (default: the resource's primary key; without one, the whole row).
        lag: re-read this much before the last value (seconds or a ``timedelta`` for datetimes, days
            for dates, a number for numbers); boundary deduplication is then off (merge the rows).
        on_cursor_value_missing: ``raise`` (default), ``include`` or ``exclude`` rows whose cursor
            field is absent or null.
    """

    def __init__(
        self,
        cursor_path: str,
        initial_value: Any = None,
        end_value: Any = None,
        *,
        last_value_func: Callable[..., Any] = max,
        primary_key: str | Sequence[str] | None = None,
        lag: float | int | dt.timedelta | None = None,
        on_cursor_value_missing: str = "raise",
    ) -> None:
        if not isinstance(cursor_path, str) or not cursor_path:
            raise ConfigError(f"incremental needs a cursor field name, got {cursor_path!r}")
        if last_value_func not in (max, min):
            raise ConfigError(
                "incremental supports last_value_func=max or min",
                hint="use max for values that grow (timestamps, ids) and min for values that shrink",
            )
        if on_cursor_value_missing not in MISSING_POLICIES:
            raise ConfigError(
                f"on_cursor_value_missing must be one of {MISSING_POLICIES}, got {on_cursor_value_missing!r}"
            )
        if lag is not None and not isinstance(lag, int | float | dt.timedelta):
            raise ConfigError(f"lag must be a number or a timedelta, got {lag!r}")
        self.cursor_path = cursor_path
        self.path = tuple(cursor_path.removeprefix("$.").split("."))
        self.initial_value = initial_value
        self.end_value = end_value
        self.last_value_func = last_value_func
        self.primary_key: tuple[str, ...] | None = (
            (primary_key,) if isinstance(primary_key, str) else tuple(primary_key) if primary_key else None
        )
        self.lag = lag
        self.on_cursor_value_missing = on_cursor_value_missing
        # set by bind()
        self.resource: str | None = None
        self._slot: dict[str, Any] | None = None
        self.start_value: Any = initial_value
        self.last_value: Any = None
        self._boundary: frozenset[str] = frozenset()
        self._new_last: Any = _ABSENT
        self._at_last: list[Any] = []  # rows (dicts) or small Arrow tables that sit on the new last value
        self._at_last_hashes: set[str] = set()
        self._start_origin = "initial_value"
        self._checked_type: type | None = None  # the type and kind of the values checked so far in this run
        self._checked_kind: str | None = None

    def __repr__(self) -> str:
        return f"<incremental {self.cursor_path!r} start={self.start_value!r} end={self.end_value!r}>"

    # -- binding to state ------------------------------------------------------------------------
    @property
    def grows(self) -> bool:
        """Whether the cursor moves up (``last_value_func`` is ``max``) rather than down."""
        return self.last_value_func is max

    def bind(self, slots: dict[str, Any], resource: str, primary_key: tuple[str, ...]) -> Incremental:
        """A copy of this cursor bound to a resource's incremental state for one run."""
        bound = copy.copy(self)
        bound.resource = resource
        if bound.primary_key is None and primary_key:
            bound.primary_key = primary_key
        slot = slots.setdefault(self.cursor_path, {})
        bound._slot = slot
        stored = decode_value(slot.get("last_value")) if "last_value" in slot else None
        bound.last_value = stored
        bound._boundary = frozenset(slot.get("boundary", ()))
        if stored is None or self.end_value is not None:
            # first run, or a backfill range: start where the caller said
            bound.start_value = self.initial_value
            bound._start_origin = "initial_value"
            if self.end_value is not None:
                bound._boundary = frozenset()
        else:
            bound.start_value = _apply_lag(stored, self.lag, self.grows)
            bound._start_origin = "the last value the previous run stored in the pipeline state"
            if self.lag:
                bound._boundary = frozenset()
        bound._new_last = _ABSENT
        bound._at_last = []
        bound._at_last_hashes = set()
        bound._checked_type = None
        return bound

    def commit(self) -> None:
        """Write the new last value and its boundary rows into the bound state (not for a backfill)."""
        if self._slot is None or self.end_value is not None or self._new_last is _ABSENT:
            return
        previous = decode_value(self._slot["last_value"]) if "last_value" in self._slot else None
        new_last = self._new_last
        if previous is not None and not self._better(new_last, previous):
            if new_last != previous:
                return  # nothing beyond what was already loaded
            hashes = set(self._slot.get("boundary", ())) | self._hashes_at_last()
        else:
            hashes = self._hashes_at_last()
        self._slot["last_value"] = encode_value(new_last)
        self._slot["boundary"] = sorted(hashes)
        self.last_value = new_last

    def _hashes_at_last(self) -> set[str]:
        out = set(self._at_last_hashes)
        for item in self._at_last:
            if isinstance(item, dict):
                out.add(self.row_hash(item))
            else:  # a small Arrow table of the rows on the last value
                out.update(self.row_hash(row) for row in item.to_pylist())
        return out

    # -- comparisons -----------------------------------------------------------------------------
    def _better(self, a: Any, b: Any) -> bool:
        return bool(a > b) if self.grows else bool(a < b)

    def row_hash(self, row: dict[str, Any]) -> str:
        """A short, stable hash identifying a row (by its primary key, else by all of it)."""
        if self.primary_key:
            key: Any = [_get(row, (k,)) for k in self.primary_key]
        else:
            key = row
        body = orjson.dumps(key, default=_json_default, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
        return hashlib.blake2b(body, digest_size=8).hexdigest()

    # -- filtering rows --------------------------------------------------------------------------
    def keep_row(self, row: dict[str, Any]) -> bool:
        """Whether a row passes the cursor (and remember it if it sits on the new last value)."""
        value = _get(row, self.path)
        if value is None or value is _ABSENT:
            return self.on_missing(row)
        start, end = self._bounds_for(value)
        self.check_value(value, start, end)
        if end is not None and not self._better(end, value):
            return False
        if start is not None:
            if self._better(start, value):
                return False
            if value == start and self._boundary and self.row_hash(row) in self._boundary:
                return False
        self._track_row(value, row)
        return True

    def _track_row(self, value: Any, row: dict[str, Any]) -> None:
        if self._new_last is _ABSENT or self._better(value, self._new_last):
            self._new_last = value
            self._at_last = [row]
            self._at_last_hashes = set()
        elif value == self._new_last:
            self._at_last.append(row)
            if len(self._at_last) >= _HASH_EAGERLY:
                self._hash_pending()

    def track_table(self, value: Any, rows: pa.Table) -> None:
        """Note that ``rows`` (an Arrow table, every row holding the cursor value ``value``) were kept:
        the best value seen moves the cursor at the end of the run, and the rows on it are remembered
        to recognize them at the boundary next time."""
        if self._new_last is _ABSENT or self._better(value, self._new_last):
            self._new_last = value
            self._at_last = [rows]
            self._at_last_hashes = set()
        elif value == self._new_last:
            self._at_last.append(rows)
            if sum(len(t) if not isinstance(t, dict) else 1 for t in self._at_last) >= _HASH_EAGERLY:
                self._hash_pending()

    @property
    def boundary(self) -> frozenset[str]:
        """Hashes of the rows the previous run loaded on the start value (skipped when seen again)."""
        return self._boundary

    @property
    def start_origin(self) -> str:
        """Where the start value came from, for messages."""
        return self._start_origin

    def _hash_pending(self) -> None:
        """Hash the rows kept on the last value now, so that many rows on one value hold no memory."""
        self._at_last_hashes = self._hashes_at_last()
        self._at_last = []

    def on_missing(self, row: Any) -> bool:
        """Whether to keep a row that has no cursor value, as ``on_cursor_value_missing`` says.

        Raises:
            DataError: the policy is ``"raise"`` (the default).
        """
        policy = self.on_cursor_value_missing
        if policy == "include":
            return True
        if policy == "exclude":
            return False
        raise DataError(
            f"a row has no value for the incremental cursor {self.cursor_path!r}: {_excerpt(row)}",
            hint="fix the source, or pass on_cursor_value_missing='include' or 'exclude' to hw.incremental",
            resource=self.resource,
        )

    def _bounds_for(self, value: Any) -> tuple[Any, Any]:
        """Start and end values coerced to the type of the data (ISO strings vs datetimes)."""
        return _coerce(self.start_value, value), _coerce(self.end_value, value)

    # -- values that cannot be ordered -----------------------------------------------------------
    def check_value(self, value: Any, start: Any, end: Any) -> None:
        """Refuse a cursor value that has no order, or that cannot be ordered with the (coerced)
        ``start`` and ``end`` values or the values before it in this run (see the module docstring).
        Cheap for the common case: the full check runs once per type of value."""
        t = type(value)
        if t is self._checked_type:
            if t is float or t is decimal.Decimal:
                if _is_nan(value):
                    raise self.unordered(value)
                return
            if (t is not dt.datetime and t is not dt.time) or _kind(value) == self._checked_kind:
                return  # a datetime's kind depends on its time zone, not only on its type
        kind = _kind(value)
        if kind is None or _is_nan(value):
            raise self.unordered(value)
        last = None if self._new_last is _ABSENT else self._new_last
        for other, origin in (
            (start, self._start_origin),
            (end, "end_value"),
            (last, "a value before it in this run"),
        ):
            if other is not None and _kind(other) != kind:
                raise self.mismatch(value, other, origin)
        self._checked_type = t
        self._checked_kind = kind

    def unordered(self, value: Any) -> DataError:
        """The error for a cursor value that cannot be ordered (NaN, or a type without an order), to raise."""
        if _is_nan(value):
            hint = (
                "NaN is neither before nor after any value, so the cursor could never move past it (every run "
                "would load the rows again): turn NaN into None in the resource (then on_cursor_value_missing="
                "'include' or 'exclude' decides), or make another field the cursor"
            )
        else:
            hint = (
                "a cursor needs numbers, text, dates, datetimes or times: point cursor_path at a field that holds "
                "one ('a.b' reaches into nested objects), or convert the value in the resource"
            )
        return DataError(
            f"the incremental cursor {self.cursor_path!r} got {_excerpt(value)} ({type(value).__name__}), which "
            "has no order",
            hint=hint,
            resource=self.resource,
            cursor=self.cursor_path,
        )

    def mismatch(self, value: Any, other: Any, origin: str) -> DataError:
        """The error for a cursor value that cannot be compared with ``other`` (another type, or datetimes with and
        without a time zone), to raise.

        Args:
            value: the row's cursor value.
            other: the value it was compared with.
            origin: where ``other`` came from (``"initial_value"``, ``"end_value"``, the last value...), for the hint.
        """
        kind, other_kind = _kind(value), _kind(other)
        if {kind, other_kind} == {_AWARE, _NAIVE}:
            fix = (
                "give every datetime a time zone, or none: e.g. value.replace(tzinfo=datetime.UTC) in the resource "
                "(or .add_map(...))"
            )
        else:
            fix = (
                "make the field hold one type: convert it in the resource or with .add_map(...) before the cursor "
                "(e.g. int(row['id']))"
            )
        if origin.startswith("the last value"):
            fix += (
                "; the values changed type since the last run: after converting, start the cursor over with "
                f"`headwater pipeline reset PIPELINE --resource {self.resource}` (pipeline.reset_state"
                f"({self.resource!r})), or convert them to the stored type"
            )
        elif origin in ("initial_value", "end_value"):
            fix += f"; or give {origin} a value of the data's type"
        return DataError(
            f"the incremental cursor {self.cursor_path!r} cannot order {_excerpt(value)} ({type(value).__name__}, "
            f"{kind}) against {_excerpt(other)} ({type(other).__name__}, {other_kind}), {origin}",
            hint=fix,
            resource=self.resource,
            cursor=self.cursor_path,
        )


_AWARE = "datetime with a time zone"
_NAIVE = "datetime without a time zone"


def _kind(value: Any) -> str | None:
    """The family a cursor value orders within (None: it has no order)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float | decimal.Decimal):
        return "number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, dt.datetime):
        return _AWARE if value.utcoffset() is not None else _NAIVE
    if isinstance(value, dt.date):
        return "date"
    if isinstance(value, dt.time):
        return "time"
    if isinstance(value, bytes):
        return "bytes"
    return None


def _is_nan(value: Any) -> bool:
    if isinstance(value, float):
        return value != value
    if isinstance(value, decimal.Decimal):
        return value.is_nan()
    return False


def _apply_lag(value: Any, lag: float | int | dt.timedelta | None, grows: bool) -> Any:
    if not lag:
        return value
    sign = -1 if grows else 1
    if isinstance(value, dt.datetime):
        delta = lag if isinstance(lag, dt.timedelta) else dt.timedelta(seconds=float(lag))
        return value + sign * delta
    if isinstance(value, dt.date):
        delta = lag if isinstance(lag, dt.timedelta) else dt.timedelta(days=float(lag))
        return value + sign * delta
    if isinstance(value, str):
        parsed = _parse_iso(value)
        if parsed is None:
            raise ConfigError(f"lag needs a numeric or date/time cursor, got {value!r}")
        shifted = _apply_lag(parsed, lag, grows)
        text: str = shifted.isoformat()
        return text.replace("+00:00", "Z") if value.endswith("Z") else text
    if isinstance(value, decimal.Decimal):
        return value + sign * decimal.Decimal(str(lag if not isinstance(lag, dt.timedelta) else lag.total_seconds()))
    if isinstance(lag, dt.timedelta):
        raise ConfigError(f"a timedelta lag needs a date/time cursor, got {value!r}")
    return value + sign * lag


def _coerce(bound: Any, sample: Any) -> Any:
    """``bound`` in the type of ``sample`` when one is an ISO string and the other a datetime."""
    if bound is None or type(bound) is type(sample):
        return bound
    if isinstance(sample, str) and isinstance(bound, dt.datetime):
        return bound.isoformat().replace("+00:00", "Z") if sample.endswith("Z") else bound.isoformat()
    if isinstance(sample, str) and isinstance(bound, dt.date):
        return bound.isoformat()
    if isinstance(sample, dt.datetime) and isinstance(bound, str):
        parsed = _parse_iso(bound)
        if parsed is not None:
            if sample.tzinfo is None:
                parsed = parsed.replace(tzinfo=None)
            return parsed
    return bound


def _parse_iso(text: str) -> dt.datetime | None:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _get(row: Any, path: tuple[str, ...]) -> Any:
    value = row
    for key in path:
        if not isinstance(value, dict):
            return _ABSENT
        value = value.get(key, _ABSENT)
        if value is _ABSENT:
            return _ABSENT
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal | dt.date | dt.datetime):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _excerpt(row: Any, limit: int = 120) -> str:
    text = repr(row)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def incremental(
    cursor_path: str,
    initial_value: Any = None,
    end_value: Any = None,
    *,
    last_value_func: Callable[..., Any] = max,
    primary_key: str | Sequence[str] | None = None,
    lag: float | int | dt.timedelta | None = None,
    on_cursor_value_missing: str = "raise",
) -> Incremental:
    """An incremental cursor over ``cursor_path`` (see :class:`Incremental`)."""
    return Incremental(
        cursor_path,
        initial_value,
        end_value,
        last_value_func=last_value_func,
        primary_key=primary_key,
        lag=lag,
        on_cursor_value_missing=on_cursor_value_missing,
    )
