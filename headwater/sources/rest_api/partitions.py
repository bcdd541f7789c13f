"""Date ranges as partitions of a REST resource: ``"partitions": {...}`` in a resource's table.

::

    {"name": "events", "endpoint": "events",
     "partitions": {"start": "2026-01-01", "end": "2026-04-01", "every": "month",
                    "start_param": "since", "end_param": "until"}}

splits ``[start, end)`` into ranges of ``every`` (``"day"``, ``"week"``, ``"month"``, or a number of
days, hours or minutes as ``{"days": 7}``); each range is a partition of the resource (docs/scale.md),
read with ``since=<range start>&until=<range end>`` added to the endpoint's parameters. Dates give
``YYYY-MM-DD``; datetimes (ISO 8601, ``Z`` or an offset) give ISO text in UTC.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from headwater.errors import ConfigError

KEYS = ("start", "end", "every", "start_param", "end_param")
STEPS = ("day", "week", "month")
#: the most ranges one resource may have (a typo in ``every`` should not make a million requests)
MAX_RANGES = 10_000


@dataclass(frozen=True)
class DateRanges:
    """The ranges and the parameters they go in."""

    ranges: tuple[dict[str, str], ...]
    start_param: str
    end_param: str | None

    def params(self, partition: Mapping[str, str]) -> dict[str, str]:
        """The request parameters of one range."""
        out = {self.start_param: partition["start"]}
        if self.end_param:
            out[self.end_param] = partition["end"]
        return out


def parse_partitions(config: Any, where: str) -> DateRanges:
    """A resource's ``partitions`` table checked and expanded into its ranges.

    Raises:
        ConfigError: an unknown key, a missing or unparsable bound, a bad step, too many ranges.
    """
    from headwater.sources.rest_api.endpoint import check_keys, table_of

    config = table_of(config, where)
    check_keys(config, KEYS, where)
    for key in ("start", "end", "start_param"):
        if not config.get(key):
            raise ConfigError(
                f"{where}: {key} is missing",
                hint='e.g. {"start": "2026-01-01", "end": "2026-04-01", "every": "month", "start_param": "since"}',
            )
    start, end = _bound(config["start"], f"{where}.start"), _bound(config["end"], f"{where}.end")
    if type(start) is not type(end):
        raise ConfigError(f"{where}: start and end must both be dates or both datetimes")
    if not start < end:
        raise ConfigError(f"{where}: start ({config['start']}) must come before end ({config['end']})")
    step = config.get("every", "day")
    ranges: list[dict[str, str]] = []
    lo = start
    while lo < end:
        hi = min(_advance(lo, step, f"{where}.every"), end)
        ranges.append({"start": _text(lo), "end": _text(hi)})
        if len(ranges) > MAX_RANGES:
            raise ConfigError(f"{where}: more than {MAX_RANGES:,} ranges; choose a longer 'every'")
        lo = hi
    end_param = config.get("end_param")
    if end_param is not None and not isinstance(end_param, str):
        raise ConfigError(f"{where}.end_param must be a parameter name, got {end_param!r}")
    return DateRanges(tuple(ranges), str(config["start_param"]), end_param)


def _bound(value: Any, where: str) -> dt.date:
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        raise ConfigError(f"{where} must be a date or datetime as ISO 8601 text, got {value!r}")
    try:
        if "T" in value or " " in value.strip():
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise ConfigError(f"{where}: {value!r} is not an ISO 8601 date or datetime ({exc})") from None


def _advance(value: dt.date, step: Any, where: str) -> dt.date:
    if step == "day":
        return value + dt.timedelta(days=1)
    if step == "week":
        return value + dt.timedelta(days=7)
    if step == "month":
        year, month = (value.year + 1, 1) if value.month == 12 else (value.year, value.month + 1)
        return value.replace(year=year, month=month, day=1) if value.day == 1 else _add_month(value, year, month)
    if isinstance(step, Mapping) and step and set(step) <= {"days", "hours", "minutes"}:
        try:
            delta = dt.timedelta(**{k: float(v) for k, v in step.items()})
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: {dict(step)!r} is not a duration ({exc})") from None
        if delta <= dt.timedelta(0) or (not isinstance(value, dt.datetime) and delta % dt.timedelta(days=1)):
            raise ConfigError(f"{where}: {dict(step)!r} must be positive (whole days for dates)")
        return value + delta
    raise ConfigError(
        f"{where}: unknown step {step!r}",
        hint='use "day", "week", "month", or {"days": N}, {"hours": N}, {"minutes": N}',
    )


def _add_month(value: dt.date, year: int, month: int) -> dt.date:
    import calendar

    return value.replace(year=year, month=month, day=min(value.day, calendar.monthrange(year, month)[1]))


def _text(value: dt.date) -> str:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    return value.isoformat()
