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
"""

from __future__ import annotations

import copy
import datetime as dt
import decimal
import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from headwater.errors import ConfigError, DataError
from headwater.pipeline_state import decode_value, encode_value

MISSING_POLICIES = ("raise", "include", "exclude")
_ABSENT = object()
_HASH_EAGERLY = 1024


class Incremental:
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

    def __repr__(self) -> str:
        return f"<incremental {self.cursor_path!r} start={self.start_value!r} end={self.end_value!r}>"

    # -- binding to state ------------------------------------------------------------------------
    @property
    def grows(self) -> bool:
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
            if self.end_value is not None:
                bound._boundary = frozenset()
        else:
            bound.start_value = _apply_lag(stored, self.lag, self.grows)
            if self.lag:
                bound._boundary = frozenset()
        bound._new_last = _ABSENT
        bound._at_last = []
        bound._at_last_hashes = set()
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
            return self._missing(row)
        start, end = self._bounds_for(value)
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

    def _hash_pending(self) -> None:
        """Hash the rows kept on the last value now, so that many rows on one value hold no memory."""
        self._at_last_hashes = self._hashes_at_last()
        self._at_last = []

    def _missing(self, row: Any) -> bool:
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
