"""``headwater runs NAME`` and ``headwater runs show NAME RUN_ID``: the run history of a pipeline.

The records are the working folder's ``runs/<run_id>.json`` (:mod:`headwater.observe.history`): every
run, load and extract, failed ones included. Plain lines, never a table that could cut a run id.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer

ShowUsage = "headwater runs show NAME RUN_ID"


def register(app: typer.Typer) -> None:
    """Add ``runs`` to the ``headwater`` app."""

    @app.command("runs")
    def runs(
        words: Annotated[
            list[str],
            typer.Argument(
                metavar="NAME | show NAME RUN_ID",
                help="a pipeline (its last runs), or `show`, a pipeline and a run id (that run in full)",
                show_default=False,
            ),
        ],
        limit: Annotated[int, typer.Option("--limit", "-n", metavar="N", min=1, help="show the last N runs")] = 20,
        as_json: Annotated[bool, typer.Option("--json", help="print the records as JSON")] = False,
        pipelines_dir: Annotated[
            Path | None,
            typer.Option(
                "--pipelines-dir",
                metavar="DIR",
                help="folder of pipeline working folders [default: ~/.headwater/pipelines]",
            ),
        ] = None,
    ) -> None:
        """List a pipeline's last runs (id, kind, status, start, seconds, rows, error), newest first; with
        `show NAME RUN_ID`, one run with its metrics per resource and table and its full error."""
        from headwater.cli.app import _workdir
        from headwater.observe import history

        if words[0] == "show" and len(words) == 3:
            record = history.read_run(_workdir(words[1], pipelines_dir), words[2])
            if as_json:
                typer.echo(json.dumps(record, indent=2, default=str))
            else:
                print_run(record)
            return
        if words[0] == "show" and len(words) != 1:
            raise typer.BadParameter(f"give a pipeline and a run id: {ShowUsage}", param_hint="NAME RUN_ID")
        if len(words) != 1:
            raise typer.BadParameter(
                f"give one pipeline name, or: {ShowUsage} (got {' '.join(words)!r})", param_hint="NAME"
            )
        workdir = _workdir(words[0], pipelines_dir)
        records = history.list_runs(workdir, limit=limit)
        if as_json:
            typer.echo(json.dumps(records, indent=2, default=str))
            return
        print_runs(workdir.root.name, records)


def _when(iso: Any) -> str:
    if not isinstance(iso, str) or not iso:
        return "-"
    try:
        return dt.datetime.fromisoformat(iso).astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return iso


def _number(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int | float) and not isinstance(value, bool) else "-"


def print_runs(name: str, records: list[dict[str, Any]]) -> None:
    """The run list: one line per run, newest first."""
    from headwater.observe.history import error_summary

    echo = typer.echo
    if not records:
        echo(f"pipeline {name!r} has no runs recorded yet")
        return
    echo(f"last {len(records)} run(s) of pipeline {name}, newest first")
    echo(f"  {'RUN ID':<23}  {'KIND':<7}  {'STATUS':<9}  {'STARTED (UTC)':<19}  {'SECONDS':>9}  {'ROWS':>12}  ERROR")
    for r in records:
        seconds = r.get("seconds")
        shown = f"{seconds:.2f}" if isinstance(seconds, int | float) else "-"
        echo(
            f"  {r.get('run_id', '?'):<23}  {r.get('kind') or '-':<7}  {r.get('status') or '-':<9}  "
            f"{_when(r.get('started_at')):<19}  {shown:>9}  {_number(r.get('rows')):>12}  {error_summary(r)}".rstrip()
        )


def print_run(r: dict[str, Any]) -> None:
    """One run in full: what it did, its metrics per stage, resource, table and cursor, its error."""
    echo = typer.echo
    echo(f"run {r.get('run_id')} of pipeline {r.get('pipeline')}")
    schema = r.get("schema") if isinstance(r.get("schema"), dict) else None
    seconds = r.get("seconds")
    for label, value in (
        ("kind", r.get("kind")),
        ("status", r.get("status")),
        ("started", f"{_when(r.get('started_at'))} UTC"),
        ("ended", f"{_when(r.get('ended_at'))} UTC"),
        ("seconds", f"{seconds:.3f}" if isinstance(seconds, int | float) else "-"),
        ("rows", _number(r.get("rows"))),
        ("load ids", ", ".join(r.get("load_ids") or []) or "-"),
        ("schema", f"{schema.get('name')} v{schema.get('version')}" if schema else "-"),
        ("destination", f"{r.get('destination')}, dataset {r.get('dataset')!r}"),
    ):
        echo(f"  {label:<12} {value if value is not None else '-'}")
    found = r.get("metrics")
    metrics: dict[str, Any] = found if isinstance(found, dict) else {}
    _stages(metrics.get("stages") or {})
    _resources(metrics.get("resources") or {})
    _tables(metrics.get("tables") or {}, r.get("tables") or {})
    _cursors(metrics.get("cursors") or {})
    error = r.get("error")
    if isinstance(error, dict):
        echo("error")
        echo(f"  {error.get('type') or 'Error'}: {error.get('message') or ''}")
        if error.get("hint"):
            echo(f"  hint: {error['hint']}")
        if error.get("traceback"):
            echo("  traceback:")
            for line in str(error["traceback"]).rstrip().splitlines():
                echo(f"    {line}")


def _stages(stages: dict[str, Any]) -> None:
    if stages:
        typer.echo("stages")
    for name, s in stages.items():
        typer.echo(f"  {name:<12} {float(s.get('seconds') or 0):.3f} s")


def _resources(resources: dict[str, Any]) -> None:
    if resources:
        typer.echo("resources")
    width = max((len(n) for n in resources), default=0)
    for name, m in resources.items():
        rows, seconds = m.get("rows") or 0, float(m.get("seconds") or 0)
        parts = [f"rows {rows:,}", f"bytes {m.get('bytes') or 0:,}", f"{seconds:.3f} s"]
        if seconds > 0 and rows:
            parts.append(f"{rows / seconds:,.0f} rows/s")
        for key, label in (("requests", "requests"), ("queries", "queries"), ("files", "files")):
            if m.get(key):
                parts.append(f"{label} {m[key]:,}")
        if m.get("retries"):
            reasons = ", ".join(f"{k}: {v}" for k, v in (m.get("retry_reasons") or {}).items())
            parts.append(f"retries {m['retries']} ({reasons})")
        if m.get("rate_limit_wait_seconds"):
            parts.append(f"rate-limit wait {float(m['rate_limit_wait_seconds']):.2f} s")
        if m.get("errors"):
            parts.append(f"errors {m['errors']}")
        typer.echo(f"  {name:<{width}}  {'  '.join(parts)}")
        custom = m.get("custom") or {}
        if custom:
            typer.echo(f"  {'':<{width}}  custom: {', '.join(f'{k}={v:g}' for k, v in custom.items())}")


def _tables(tables: dict[str, Any], loaded: dict[str, Any]) -> None:
    names = list(dict.fromkeys([*tables, *loaded]))
    if names:
        typer.echo("tables")
    width = max((len(n) for n in names), default=0)
    for name in names:
        m = tables.get(name) or {}
        parts = [f"rows {(loaded.get(name) or {}).get('rows', m.get('rows', 0)):,}", f"bytes {m.get('bytes') or 0:,}"]
        parts.append(f"files {m.get('files') or 0}")
        if m.get("quarantined"):
            parts.append(f"quarantined {m['quarantined']:,}")
        if m.get("checks_failed"):
            parts.append(f"checks failed {m['checks_failed']}")
        typer.echo(f"  {name:<{width}}  {'  '.join(parts)}")


def _cursors(cursors: dict[str, Any]) -> None:
    if cursors:
        typer.echo("cursors")
    for name, c in cursors.items():
        lag = c.get("lag_seconds")
        behind = f" ({_duration(float(lag))} behind now)" if isinstance(lag, int | float) else ""
        typer.echo(f"  {name}: {c.get('column')} = {c.get('value')}{behind}")


def _duration(seconds: float) -> str:
    sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{sign}{days}d {hours}h"
    if hours:
        return f"{sign}{hours}h {minutes}m"
    return f"{sign}{minutes}m {secs}s" if minutes else f"{sign}{secs}s"
