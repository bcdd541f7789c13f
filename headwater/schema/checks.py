"""Data-quality checks: what a resource declares (``checks=``), validated once, where it is declared.

A check is a row check or a table check:

* **row checks** look at each row of the resource's root table, vectorized on the normalized Arrow
  batch, before anything is written (:mod:`headwater.normalize.checks`): ``not_null``,
  ``accepted_values``, ``between``, ``matches`` (a regular expression, RE2 syntax, searched: anchor it
  with ``^...$``), ``max_length``, ``expression`` (a SQL predicate per row, DuckDB's SQL) and
  ``python`` (a callable on the Arrow batch returning, per row, whether it passes);
* **table checks** look at the table as it would be after the load, inside the destination's load
  transaction (:mod:`headwater.destinations.checks`): ``unique``, ``row_count``, ``freshness`` (the
  newest value of a column is not older than ``max_age``) and ``assertion`` (a SQL query over
  ``records``, the table after the load, selecting the rows that break a rule; it passes when it
  selects none).

Each has a severity: ``fail`` (the default: nothing of the load is committed), ``warn`` (loaded and
recorded) or ``quarantine`` (row checks only: the failing rows go to ``_hw_quarantine``, the rest
loads). Nulls pass every check but ``not_null`` (as SQL's ``CHECK`` constraints and dbt's tests treat
them). Declared as ``hw.checks.between("amount", min=0)`` or, in a flows file, as a table
``{check = "between", column = "amount", min = 0}``; see docs/quality.md.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from headwater.errors import ConfigError, did_you_mean
from headwater.schema.naming import PATH_SEPARATOR, join_path, snake_case

SEVERITIES: Final = ("fail", "warn", "quarantine")
ROW_KINDS: Final = ("not_null", "accepted_values", "between", "matches", "max_length", "expression", "python")
TABLE_KINDS: Final = ("unique", "row_count", "freshness", "assertion")
KINDS: Final = ROW_KINDS + TABLE_KINDS
#: sample rows kept per failed check (in the error, ``LoadInfo`` and ``_hw_checks``)
SAMPLES: Final = 5

#: the keys each kind takes besides ``check``, ``name`` and ``severity``; the first ones are required
_KEYS: Final[dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "not_null": (("column",), ()),
    "accepted_values": (("column", "values"), ()),
    "between": (("column",), ("min", "max")),
    "matches": (("column", "pattern"), ()),
    "max_length": (("column", "length"), ()),
    "expression": (("sql",), ()),
    "python": (("function",), ()),
    "unique": ((), ("column", "columns")),
    "row_count": ((), ("min", "max")),
    "freshness": (("max_age",), ("column",)),
    "assertion": (("sql",), ()),
}
_DURATION: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d|w)?\s*$")
_UNITS: Final = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass(frozen=True)
class Check:
    """One declared check (build it with the functions of ``hw.checks`` or from a mapping: :func:`parse_check`)."""

    kind: str
    name: str
    severity: str = "fail"
    column: str | None = None
    columns: tuple[str, ...] = ()
    values: tuple[Any, ...] = ()
    min: Any = None
    max: Any = None
    pattern: str | None = None
    length: int | None = None
    sql: str | None = None
    max_age: float | None = None  # seconds
    fn: Callable[[Any], Any] | None = field(default=None, compare=False)

    @property
    def is_row(self) -> bool:
        """Whether it checks rows one by one (on the batch) rather than the table after the load."""
        return self.kind in ROW_KINDS

    def describe(self) -> str:
        """What the check asks, for messages: ``amount between 0 and 100``."""
        col = self.column or ", ".join(self.columns)
        match self.kind:
            case "not_null":
                return f"{col} is not null"
            case "accepted_values":
                shown = ", ".join(repr(v) for v in self.values[:8]) + (", ..." if len(self.values) > 8 else "")
                return f"{col} in ({shown})"
            case "between":
                return f"{col} {_range(self.min, self.max)}"
            case "matches":
                return f"{col} matches {self.pattern!r}"
            case "max_length":
                return f"length of {col} <= {self.length}"
            case "expression" | "assertion":
                return str(self.sql).strip()
            case "python":
                return f"{getattr(self.fn, '__qualname__', self.fn)!s}(batch)"
            case "unique":
                return f"({col}) unique in the table"
            case "row_count":
                return f"row count {_range(self.min, self.max)}"
        return f"newest {col} not older than {_age(self.max_age or 0)}"

    def to_dict(self) -> dict[str, Any]:
        """The check as JSON-able data (a ``python`` check by the function's import path)."""
        out: dict[str, Any] = {"check": self.kind, "name": self.name, "severity": self.severity}
        for key in ("column", "pattern", "length", "sql", "max_age", "min", "max"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value.isoformat() if isinstance(value, dt.date | dt.datetime) else value
        if self.columns:
            out["columns"] = list(self.columns)
        if self.values:
            out["values"] = list(self.values)
        if self.fn is not None:
            out["function"] = f"{getattr(self.fn, '__module__', '?')}:{getattr(self.fn, '__qualname__', '?')}"
        return out


def parse_checks(value: Any, *, resource: str, cursor: Any = None) -> tuple[Check, ...]:
    """The checks of a ``checks=`` hint: a check, a mapping, or a list of them; names must be unique. A
    freshness check without a column looks at the incremental ``cursor``'s column."""
    items = [value] if isinstance(value, Check | Mapping) else value
    if isinstance(items, str | bytes) or not isinstance(items, Sequence):
        raise ConfigError(
            f"checks must be a list of checks, got {type(value).__name__}",
            hint='e.g. checks=[hw.checks.not_null("id"), {"check": "between", "column": "amount", "min": 0}]',
            resource=resource,
        )
    out = [
        c if isinstance(c, Check) else parse_check(c, resource=resource, where=f"checks[{i}]")
        for i, c in enumerate(items)
    ]
    out = [_fresh_column(c, cursor, resource) if c.kind == "freshness" and c.column is None else c for c in out]
    seen: set[str] = set()
    for c in out:
        if c.name in seen:
            raise ConfigError(
                f"two checks are named {c.name!r}",
                hint="give one of them another name= (names must be unique)",
                resource=resource,
            )
        seen.add(c.name)
    return tuple(out)


def _fresh_column(check: Check, cursor: Any, resource: str) -> Check:
    path = getattr(cursor, "cursor_path", None)
    if not isinstance(path, str):
        raise ConfigError(
            f"check {check.name!r}: freshness needs a column (the resource has no incremental cursor)",
            hint='e.g. hw.checks.freshness("updated_at", max_age="1d")',
            resource=resource,
        )
    column = _column(path.removeprefix("$."))
    name = check.name if check.name != "freshness" else f"freshness({column})"
    return dataclasses.replace(check, column=column, name=name)


def parse_check(spec: Any, *, resource: str = "", where: str = "check") -> Check:
    """A check from its mapping form ``{"check": kind, "column": ..., "severity": ...}``.

    Raises:
        ConfigError: an unknown kind or key (with a "did you mean"), a missing or wrong value.
    """
    if not isinstance(spec, Mapping):
        raise ConfigError(
            f"{where} must be a check or a table of its options, got {type(spec).__name__}", resource=resource
        )
    kind = spec.get("check")
    if kind not in KINDS:
        shown = did_you_mean(kind, KINDS, listing="checks") if isinstance(kind, str) else f"checks: {', '.join(KINDS)}"
        raise ConfigError(f"{where}: unknown check {kind!r}", hint=shown, resource=resource)
    required, optional = _KEYS[kind]
    allowed = {"check", "name", "severity", *required, *optional}
    for key in spec:
        if key not in allowed:
            raise ConfigError(
                f"{where}: check {kind!r} takes no {key!r}", hint=did_you_mean(key, sorted(allowed)), resource=resource
            )
    for key in required:
        if spec.get(key) is None:
            raise ConfigError(f"{where}: check {kind!r} needs {key!r}", resource=resource)
    args = {k: v for k, v in spec.items() if k not in ("check", "function")}
    if kind == "python":
        args["fn"] = spec["function"]
    try:
        return make_check(kind, **args)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc.message}", hint=exc.hint, resource=resource) from None


def make_check(kind: str, *, name: str | None = None, severity: str = "fail", **options: Any) -> Check:
    """Validate one check's options (what the ``hw.checks`` functions and :func:`parse_check` call)."""
    if severity not in SEVERITIES:
        raise ConfigError(
            f"unknown severity {severity!r}", hint=did_you_mean(severity, SEVERITIES, listing="severities")
        )
    if severity == "quarantine" and kind in TABLE_KINDS:
        raise ConfigError(
            f"a {kind} check looks at the whole table and cannot quarantine rows",
            hint="use severity 'fail' or 'warn' (row checks such as not_null or between can quarantine)",
        )
    values: dict[str, Any] = {}
    column = options.get("column")
    if column is not None:
        values["column"] = _column(column)
    if kind == "unique":
        cols = options.get("columns") or column
        if cols is None:
            raise ConfigError("a unique check needs a column or columns")
        values["columns"] = tuple(_column(c) for c in ([cols] if isinstance(cols, str) else cols))
        values.pop("column", None)
    if kind == "accepted_values":
        vals = options["values"]
        if isinstance(vals, str | bytes) or not isinstance(vals, Sequence) or not vals:
            raise ConfigError(f"accepted_values needs a non-empty list of values, got {vals!r}")
        values["values"] = tuple(vals)
    if kind in ("between", "row_count"):
        low, high = options.get("min"), options.get("max")
        if low is None and high is None:
            raise ConfigError(f"a {kind} check needs min, max or both")
        if kind == "row_count" and any(
            v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0) for v in (low, high)
        ):
            raise ConfigError(f"row_count takes whole numbers >= 0, got min={low!r} max={high!r}")
        values["min"], values["max"] = low, high
    if kind == "matches":
        values["pattern"] = _pattern(options["pattern"])
    if kind == "max_length":
        length = options["length"]
        if not isinstance(length, int) or isinstance(length, bool) or length < 0:
            raise ConfigError(f"max_length needs a whole number >= 0, got {length!r}")
        values["length"] = length
    if kind in ("expression", "assertion"):
        sql = options["sql"]
        if not isinstance(sql, str) or not sql.strip():
            raise ConfigError(f"a {kind} check needs SQL text, got {sql!r}")
        values["sql"] = sql.strip().rstrip(";").strip()
    if kind == "freshness":
        values["max_age"] = parse_duration(options["max_age"])
    if kind == "python":
        values["fn"] = _function(options["fn"])
    return Check(kind, name or default_name(kind, values), severity, **values)


def default_name(kind: str, values: Mapping[str, Any]) -> str:
    """A check's name when none is given: ``between(amount)``, ``unique(id, day)``, ``row_count``."""
    cols = values.get("column") or ", ".join(values.get("columns", ()))
    if kind == "python":
        return f"python({getattr(values['fn'], '__name__', 'check')})"
    return f"{kind}({cols})" if cols else kind


def parse_duration(value: Any) -> float:
    """Seconds from ``"36h"``, ``"7d"``, ``"90m"``, ``"45s"``, a number of seconds or a ``timedelta``."""
    if isinstance(value, dt.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    else:
        raise ConfigError(
            f"max_age must be a duration such as '36h', '7d', '90m' or a number of seconds, got {value!r}"
        )
    if seconds <= 0:
        raise ConfigError(f"max_age must be positive, got {value!r}")
    return seconds


def _column(raw: Any) -> str:
    if not isinstance(raw, str) or not raw:
        raise ConfigError(f"a check's column must be a column name, got {raw!r}")
    return join_path(snake_case(part) for part in raw.replace(".", PATH_SEPARATOR).split(PATH_SEPARATOR))


def _pattern(pattern: Any) -> str:
    if not isinstance(pattern, str):
        raise ConfigError(f"matches needs a regular expression, got {pattern!r}")
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        pc.match_substring_regex(pa.array([""]), pattern=pattern)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ConfigError(f"matches: {pattern!r} is not a valid regular expression: {exc}", hint="RE2 syntax") from None
    return pattern


def _function(fn: Any) -> Callable[[Any], Any]:
    if isinstance(fn, str):
        module, _, attr = fn.partition(":")
        try:
            found: Any = importlib.import_module(module)
            for part in attr.split("."):
                found = getattr(found, part)
        except (ImportError, AttributeError, ValueError) as exc:
            raise ConfigError(
                f"cannot import the check function {fn!r}: {exc}", hint="write it as 'package.module:function'"
            ) from None
        fn = found
    if not callable(fn):
        raise ConfigError(f"a python check needs a function of the Arrow batch, got {fn!r}")
    return fn


def _range(low: Any, high: Any) -> str:
    if low is not None and high is not None:
        return f"between {low!r} and {high!r}"
    return f">= {low!r}" if low is not None else f"<= {high!r}"


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


# -- the hw.checks functions ---------------------------------------------------------------------
def not_null(column: str, *, severity: str = "fail", name: str | None = None) -> Check:
    """Every row has a value in ``column``."""
    return make_check("not_null", column=column, severity=severity, name=name)


def accepted_values(column: str, values: Sequence[Any], *, severity: str = "fail", name: str | None = None) -> Check:
    """``column`` holds one of ``values`` (or null)."""
    return make_check("accepted_values", column=column, values=values, severity=severity, name=name)


def between(column: str, min: Any = None, max: Any = None, *, severity: str = "fail", name: str | None = None) -> Check:
    """``min <= column <= max`` (either bound may be left out)."""
    return make_check("between", column=column, min=min, max=max, severity=severity, name=name)


def matches(column: str, pattern: str, *, severity: str = "fail", name: str | None = None) -> Check:
    """``column`` contains a match of the regular expression ``pattern`` (RE2; anchor it with ``^...$``)."""
    return make_check("matches", column=column, pattern=pattern, severity=severity, name=name)


def max_length(column: str, length: int, *, severity: str = "fail", name: str | None = None) -> Check:
    """``column`` holds at most ``length`` characters (bytes, for binary columns)."""
    return make_check("max_length", column=column, length=length, severity=severity, name=name)


def expression(sql: str, *, severity: str = "fail", name: str | None = None) -> Check:
    """A SQL predicate (DuckDB's SQL) every row must satisfy: ``"amount >= 0 or status = 'refund'"``."""
    return make_check("expression", sql=sql, severity=severity, name=name)


def python(fn: Callable[[Any], Any], *, severity: str = "fail", name: str | None = None) -> Check:
    """``fn(batch)`` takes the batch as a ``pyarrow.Table`` and returns, per row, whether it passes."""
    return make_check("python", fn=fn, severity=severity, name=name)


def unique(*columns: str, severity: str = "fail", name: str | None = None) -> Check:
    """No two rows of the table (after the load) share the values of ``columns``."""
    return make_check("unique", columns=list(columns), severity=severity, name=name)


def row_count(
    min: int | None = None, max: int | None = None, *, severity: str = "fail", name: str | None = None
) -> Check:
    """The table holds between ``min`` and ``max`` rows after the load."""
    return make_check("row_count", min=min, max=max, severity=severity, name=name)


def freshness(
    column: str | None = None, max_age: Any = "1d", *, severity: str = "fail", name: str | None = None
) -> Check:
    """The newest value of ``column`` (default: the resource's incremental cursor) is at most ``max_age`` old."""
    return make_check("freshness", column=column, max_age=max_age, severity=severity, name=name)


def assertion(sql: str, *, severity: str = "fail", name: str | None = None) -> Check:
    """A query over ``records`` (the table after the load) selecting the rows that break a rule."""
    return make_check("assertion", sql=sql, severity=severity, name=name)


# -- results --------------------------------------------------------------------------------------
@dataclass
class CheckResult:
    """What one check found in one load: rows checked, rows failing, a few sample rows, or why it could
    not run (``error``: a check that cannot run fails)."""

    table: str
    check: str
    kind: str
    severity: str
    description: str
    checked: int = 0
    failing: int = 0
    samples: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    @property
    def passed(self) -> bool:
        """Whether no row failed and the check ran."""
        return self.failing == 0 and self.error is None

    @classmethod
    def of(cls, table: str, check: Check) -> CheckResult:
        """An empty result of ``check`` on ``table``."""
        return cls(table, check.name, check.kind, check.severity, check.describe())

    def __str__(self) -> str:
        if self.error is not None:
            return f"{self.table}: check {self.check!r} ({self.severity}) could not run: {self.error}"
        if self.passed:
            verdict = "passed"
        elif self.kind in ("row_count", "freshness"):
            verdict = "failed"
        else:
            verdict = f"{self.failing:,} of {self.checked:,} rows failed"
        return f"{self.table}: check {self.check!r} ({self.severity}; {self.description}): {verdict}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able (the package manifest keeps the results of row checks)."""
        return {
            "table": self.table,
            "check": self.check,
            "kind": self.kind,
            "severity": self.severity,
            "description": self.description,
            "checked": self.checked,
            "failing": self.failing,
            "samples": self.samples,
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckResult:
        """The result :meth:`to_dict` wrote."""
        return cls(
            str(data["table"]),
            str(data["check"]),
            str(data["kind"]),
            str(data["severity"]),
            str(data.get("description", "")),
            int(data.get("checked", 0)),
            int(data.get("failing", 0)),
            list(data.get("samples") or []),
            data.get("error"),
        )
