"""Iceberg partition specs: ``"col"``, ``"day(col)"``, ``"bucket(16, col)"``... as pyiceberg transforms."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from headwater.errors import ConfigError

_TRANSFORMS = {
    "identity": "identity",
    "year": "year",
    "years": "year",
    "month": "month",
    "months": "month",
    "day": "day",
    "days": "day",
    "date": "day",
    "hour": "hour",
    "hours": "hour",
    "bucket": "bucket",
    "truncate": "truncate",
}
_CALL = re.compile(r"^(?P<fn>[A-Za-z_]+)\s*\(\s*(?:(?P<n>\d+)\s*,\s*)?(?P<col>[^(),\s][^(),]*?)\s*\)$")


@dataclass(frozen=True)
class PartitionField:
    """One field of a partition spec: ``column`` through ``transform`` (``bucket``/``truncate`` take ``width``)."""

    column: str
    transform: str = "identity"
    width: int | None = None

    def __str__(self) -> str:
        if self.transform == "identity":
            return self.column
        if self.width is not None:
            return f"{self.transform}({self.width}, {self.column})"
        return f"{self.transform}({self.column})"

    def to_pyiceberg(self) -> Any:
        """The pyiceberg transform of this field."""
        from pyiceberg import transforms

        if self.transform == "bucket":
            return transforms.BucketTransform(self.width or 1)
        if self.transform == "truncate":
            return transforms.TruncateTransform(self.width or 1)
        kinds = {
            "identity": transforms.IdentityTransform,
            "year": transforms.YearTransform,
            "month": transforms.MonthTransform,
            "day": transforms.DayTransform,
            "hour": transforms.HourTransform,
        }
        return kinds[self.transform]()


def parse_partition(spec: str) -> PartitionField:
    """``"col"``, ``"day(col)"``, ``"bucket(16, col)"``, ``"truncate(4, col)"``... as a :class:`PartitionField`."""
    text = spec.strip()
    call = _CALL.match(text)
    if call is None:
        if not text or any(c in text for c in "(), "):
            raise ConfigError(
                f"cannot read the partition spec {spec!r}",
                hint="a column name, or identity/year/month/day/hour(col), bucket(n, col), truncate(width, col)",
            )
        return PartitionField(text)
    fn, width, column = call.group("fn").lower(), call.group("n"), call.group("col")
    transform = _TRANSFORMS.get(fn)
    if transform is None:
        raise ConfigError(
            f"unknown partition transform {fn!r} in {spec!r}",
            hint="use identity, year, month, day, hour, bucket(n, col) or truncate(width, col)",
        )
    if transform in ("bucket", "truncate"):
        if width is None or int(width) < 1:
            raise ConfigError(f"{transform} needs a positive number first: {transform}(16, {column})")
        return PartitionField(column, transform, int(width))
    if width is not None:
        raise ConfigError(f"{transform}() takes only a column: {transform}({column})")
    return PartitionField(column, transform)


def partition_specs(partition_by: Mapping[str, str | Sequence[str]] | None) -> dict[str, tuple[PartitionField, ...]]:
    """Parse a ``partition_by`` mapping (table -> one spec or several, e.g. ``"day(ts)"``) into partition fields.

    Raises:
        ConfigError: a spec is not valid.
    """
    out: dict[str, tuple[PartitionField, ...]] = {}
    for table, specs in (partition_by or {}).items():
        items = [specs] if isinstance(specs, str) else list(specs)
        out[str(table)] = tuple(parse_partition(s) for s in items)
    return out
