"""Data-quality checks at load time: table checks, the verdict, and the ``_hw_checks`` rows.

A package carries the results of its row checks (run by the normalizer) and the table checks its
resources declared (:mod:`headwater.schema.checks`). A destination's load, after writing the data and
before committing it (SQL destinations: inside the load transaction; Iceberg, Delta and files: over
the staged table, before the first commit), runs the table checks with SQL over ``records``, the table
as it would be after the load, and asks :meth:`PackageChecks.verdict`: a failed ``fail`` check (or a
check that could not run) raises :class:`~headwater.errors.QualityError`, so nothing of the load is
committed and the package stays for inspection; failed ``warn`` checks are logged. The results are
committed with the data, one row per check in ``_hw_checks``, and returned in ``LoadInfo``.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Any, Final

import orjson

from headwater.errors import ConfigError, QualityError
from headwater.packages.package import LoadPackage
from headwater.schema.checks import SAMPLES, Check, CheckResult, parse_check

log = logging.getLogger("headwater")

#: the columns of ``_hw_checks`` and their Headwater types
CHECKS_COLUMNS: Final = (
    ("load_id", "text"),
    ("table_name", "text"),
    ("check_name", "text"),
    ("kind", "text"),
    ("severity", "text"),
    ("description", "text"),
    ("checked_rows", "bigint"),
    ("failing_rows", "bigint"),
    ("passed", "bool"),
    ("error", "text"),
    ("samples", "json"),
    ("checked_at", "timestamp"),
)

#: runs SQL, returns its rows
Query = Callable[[str], list[tuple[Any, ...]]]


class PackageChecks:
    """The checks of one package: the row check results it carries and its table checks to run."""

    def __init__(self, package: LoadPackage) -> None:
        raw = package.manifest.checks or {}
        self.load_id = package.load_id
        self.results = [CheckResult.from_dict(r) for r in raw.get("results", [])]
        self.tables: dict[str, list[Check]] = {
            table: [parse_check(spec, where=f"table check of {table!r}") for spec in specs]
            for table, specs in (raw.get("tables") or {}).items()
        }

    def __bool__(self) -> bool:
        return bool(self.results or self.tables)

    def run(
        self, source: Callable[[str], str | None], query: Query, quote: Callable[[str], str], row_json: str
    ) -> None:
        """Run the table checks. ``source(table)`` is SQL selecting the table as it would be after the
        load (None: the table does not exist); ``row_json`` names the SQL function making a row JSON.
        A check that cannot run stops the others (on PostgreSQL the transaction is broken)."""
        for table, checks in self.tables.items():
            sql = source(table)
            total: int | None = None
            for check in checks:
                result = CheckResult.of(table, check)
                self.results.append(result)
                if sql is None:
                    _absent(check, result)
                    continue
                with_records = f"WITH records AS ({sql}) "
                try:
                    if total is None:
                        total = int(query(with_records + "SELECT count(*) FROM records")[0][0])
                    result.checked = total
                    _run_one(check, result, with_records, total, query, quote, row_json)
                except Exception as exc:
                    result.error = str(exc).splitlines()[0][:500]
                    return

    def verdict(self) -> None:
        """Raise :class:`QualityError` for failed ``fail`` checks and checks that could not run; log the
        failed ``warn`` checks."""
        failed = [r for r in self.results if not r.passed and (r.severity == "fail" or r.error is not None)]
        for r in self.results:
            if not r.passed and r not in failed and r.severity == "warn":
                log.warning("load %s: %s%s", self.load_id, r, _shown_samples(r))
        if failed:
            lines = "\n".join(f"  {r}{_shown_samples(r)}" for r in failed)
            raise QualityError(
                f"{len(failed)} data-quality check(s) failed, so nothing of load {self.load_id} was "
                f"committed:\n{lines}",
                hint="fix the data or the check; severity 'warn' loads and records failures, 'quarantine' sets "
                "failing rows aside and loads the rest",
                results=failed,
                load_id=self.load_id,
            )

    def unsupported(self, client: Any) -> None:
        """For a client that does not run checks: refuse table checks, judge the row checks."""
        if self.tables:
            tables = ", ".join(sorted(self.tables))
            raise ConfigError(
                f"table checks ({tables}) need a destination that runs them; {type(client).__name__} does not",
                hint="the built-in destinations (duckdb, postgres, files, iceberg, delta) run them; keep row checks "
                "(not_null, between...) for this one",
            )
        self.verdict()

    def rows(self) -> list[dict[str, Any]]:
        """The ``_hw_checks`` rows of this load."""
        now = dt.datetime.now(dt.UTC)
        return [
            {
                "load_id": self.load_id,
                "table_name": r.table,
                "check_name": r.check,
                "kind": r.kind,
                "severity": r.severity,
                "description": r.description,
                "checked_rows": r.checked,
                "failing_rows": r.failing,
                "passed": r.passed,
                "error": r.error,
                "samples": orjson.dumps(r.samples, default=str).decode(),
                "checked_at": now,
            }
            for r in self.results
        ]


def _absent(check: Check, result: CheckResult) -> None:
    """A check of a table that does not exist (nothing ever loaded into it): no rows."""
    if check.kind == "row_count" and check.min is not None and check.min > 0:
        result.failing, result.samples = 1, [{"row_count": 0}]
    elif check.kind == "freshness":
        result.failing, result.samples = 1, [{"newest": None}]


def _run_one(
    check: Check,
    result: CheckResult,
    records: str,
    total: int,
    query: Query,
    quote: Callable[[str], str],
    row_json: str,
) -> None:
    kind = check.kind
    if kind == "row_count":
        low, high = check.min, check.max
        if (low is not None and total < low) or (high is not None and total > high):
            result.failing, result.samples = 1, [{"row_count": total}]
    elif kind == "unique":
        cols = ", ".join(quote(c) for c in check.columns)
        present = " OR ".join(f"{quote(c)} IS NOT NULL" for c in check.columns)
        # one hash pass tells whether any key repeats (the usual answer: none); only then group to
        # count the rows of repeated keys and pick samples
        keys = f"SELECT count(*) FROM (SELECT DISTINCT {cols} FROM records WHERE {present}) k"
        counted = query(f"{records}SELECT count(*), ({keys}) FROM records WHERE {present}")[0]
        if int(counted[0]) == int(counted[1]):
            return
        groups = f"SELECT {cols}, count(*) AS hw_rows FROM records WHERE {present} GROUP BY {cols} HAVING count(*) > 1"
        found = query(f"{records}SELECT count(*), coalesce(sum(hw_rows), 0) FROM ({groups}) d")[0]
        result.failing = int(found[1])
        if result.failing:
            top = query(f"{records}{groups} ORDER BY count(*) DESC LIMIT {SAMPLES}")
            result.samples = [{**dict(zip(check.columns, row[:-1], strict=True)), "rows": row[-1]} for row in top]
    elif kind == "freshness":
        assert check.column is not None
        assert check.max_age is not None
        newest = query(f"{records}SELECT max({quote(check.column)}) FROM records")[0][0]
        age = _age_seconds(newest)
        if age is None or age > check.max_age:
            result.failing = 1
            result.samples = [{"newest": newest, "age_seconds": None if age is None else round(age)}]
    else:  # assertion
        rows = f"({check.sql}) AS hw_failing"
        result.failing = int(query(f"{records}SELECT count(*) FROM {rows}")[0][0])
        if result.failing:
            got = query(f"{records}SELECT CAST({row_json}(hw_failing) AS TEXT) FROM {rows} LIMIT {SAMPLES}")
            result.samples = [orjson.loads(r[0]) for r in got]


def _age_seconds(value: Any) -> float | None:
    """How old a newest value is (a timestamp, a date, or ISO text); None when it cannot tell."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return time.time() - value.timestamp()
    if isinstance(value, dt.date):
        return time.time() - dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC).timestamp()
    if isinstance(value, int | float) and not isinstance(value, bool):  # epoch seconds
        return time.time() - float(value)
    return None


def _shown_samples(result: CheckResult) -> str:
    if not result.samples:
        return ""
    text = "; ".join(orjson.dumps(s, default=str).decode() for s in result.samples[:3])
    return f"\n      e.g. {text[:600]}"
