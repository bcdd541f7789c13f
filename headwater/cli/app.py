"""The typer application behind the ``headwater`` command.

Help is click's plain layout (``rich_markup_mode=None``): typer's rich panels print a flag such as
``--json`` as ``--json <bool>``, as if it took a value.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from headwater import __version__
from headwater.errors import StateError, closest

if TYPE_CHECKING:
    from headwater.packages.package import LoadPackage
    from headwater.pipelines.workdir import WorkDir
    from headwater.schema.model import Schema
    from headwater.schema.state import PipelineState

# The commands import what they use when they run: ``headwater --help`` imports typer and this
# package only (tests/unit/test_cli_imports.py).

PipelinesDir = Annotated[
    Path | None,
    typer.Option(
        "--pipelines-dir",
        metavar="DIR",
        help="folder of pipeline working folders [default: ~/.headwater/pipelines]",
    ),
]
Name = Annotated[
    str, typer.Argument(metavar="NAME", help="the pipeline name (or its working folder's name, e.g. name@1a2b3c4d5e)")
]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")]


def _workdir(name: str, pipelines_dir: Path | None) -> WorkDir:
    from headwater.pipelines.pipeline import only_workdir
    from headwater.pipelines.workdir import default_pipelines_dir

    root = pipelines_dir or default_pipelines_dir()
    try:
        return only_workdir(root, name)
    except StateError as exc:
        known = sorted(p.name for p in root.iterdir() if (p / "pipeline.json").exists()) if root.is_dir() else []
        close = closest(name, known)
        if not close or exc.message.startswith(f"pipeline {name!r} has"):
            raise
        raise StateError(f"{exc.message}; did you mean {close!r}?", hint=exc.hint, **exc.where) from exc


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def build_app() -> typer.Typer:
    """The ``headwater`` command-line app: the top-level commands and the ``pipeline`` group."""
    app = typer.Typer(
        name="headwater",
        help="Headwater: move data from where it lives into analytical stores, correctly and fast.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )
    pipeline_app = typer.Typer(
        help="Inspect and repair pipelines (their working folders).", no_args_is_help=True, rich_markup_mode=None
    )
    schema_app = typer.Typer(help="Inspect schemas.", no_args_is_help=True, rich_markup_mode=None)
    app.add_typer(pipeline_app, name="pipeline")
    app.add_typer(schema_app, name="schema")

    @app.callback(invoke_without_command=True)
    def root(
        ctx: typer.Context,
        version: Annotated[bool, typer.Option("--version", help="show the version and exit")] = False,
        log_format: Annotated[
            str, typer.Option("--log-format", metavar="text|json", help="logs on stderr as text or JSON lines")
        ] = "text",
        log_level: Annotated[
            str | None,
            typer.Option(
                "--log-level",
                metavar="LEVEL",
                help="debug, info, warning, error [default: warning on a terminal (the live progress shows), "
                "else info (a line per table, an access record per read)]",
            ),
        ] = None,
    ) -> None:
        if version:
            typer.echo(f"headwater {__version__}")
            raise typer.Exit()
        from headwater.pipelines.logsetup import logging_configured

        level = log_level if log_level is not None else ("WARNING" if sys.stderr.isatty() else "INFO")
        ctx.with_resource(logging_configured(level, log_format))

    @pipeline_app.command("list")
    def pipeline_list(pipelines_dir: PipelinesDir = None) -> None:
        """List the pipelines that have a working folder."""
        from headwater.pipelines.workdir import default_pipelines_dir

        root = pipelines_dir or default_pipelines_dir()
        names = sorted(p.name for p in root.iterdir() if (p / "pipeline.json").exists()) if root.is_dir() else []
        if not names:
            typer.echo(f"no pipelines in {root}")
        for name in names:
            typer.echo(name)

    @pipeline_app.command("info")
    def pipeline_info(
        name: Name,
        pipelines_dir: PipelinesDir = None,
        as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of text")] = False,
    ) -> None:
        """Show a pipeline: destination, dataset, schemas, pending packages and recent loads."""
        workdir = _workdir(name, pipelines_dir)
        info = describe_pipeline(workdir)
        if as_json:
            typer.echo(json.dumps(info, indent=2, default=str))
            return
        _print_info(info)

    @pipeline_app.command("state")
    def pipeline_state(
        name: Name,
        pipelines_dir: PipelinesDir = None,
        as_json: Annotated[bool, typer.Option("--json", help="print the whole state as JSON")] = False,
    ) -> None:
        """Show the pipeline's state: cursors and what resources remember."""
        workdir = _workdir(name, pipelines_dir)
        state = workdir.read_state()
        if state is None:
            typer.echo(f"pipeline {name!r} has no state yet")
            return
        if as_json:
            typer.echo(state.to_json().decode())
            return
        _print_state(name, state)

    @pipeline_app.command("reset")
    def pipeline_reset(
        name: Name,
        resource: Annotated[
            str | None, typer.Option("--resource", metavar="RESOURCE", help="only this resource")
        ] = None,
        yes: Yes = False,
        pipelines_dir: PipelinesDir = None,
    ) -> None:
        """Forget cursors and resource state, so the next run starts over (data stays)."""
        from headwater.pipelines.pipeline import attach
        from headwater.schema.state import PipelineState

        workdir = _workdir(name, pipelines_dir)
        if resource is not None:  # an unknown name fails before the question (reset_state checks again)
            seen: dict[str, set[str]] = {}
            for m in workdir.completed_manifests():
                seen.setdefault(m.schema_name, set()).update(m.resources)
            (workdir.read_state() or PipelineState()).check_names(None, resource, also=seen, pipeline=name)
        what = f"resource {resource!r}" if resource else "every resource"
        if not yes and not typer.confirm(f"Reset the state of {what} of pipeline {name!r}?"):
            raise typer.Abort()
        p = attach(workdir.root.name, workdir.root.parent)
        done = p.reset_state(resource)
        if done:
            typer.echo(f"reset: {', '.join(done)}")
        else:
            typer.echo(f"nothing to reset: resource {resource!r} has no state" if resource else "nothing to reset")

    @pipeline_app.command("drop-pending")
    def pipeline_drop_pending(
        name: Name,
        load_ids: Annotated[
            list[str] | None,
            typer.Option(
                "--load-id",
                metavar="LOAD_ID",
                help="drop this package (repeat for several); default: every package waiting",
            ),
        ] = None,
        yes: Yes = False,
        pipelines_dir: PipelinesDir = None,
    ) -> None:
        """Drop packages waiting to be loaded (partial ones from failed runs, damaged ones, ones the
        destination refuses). The destination is not touched; the next run extracts their rows again
        from the last committed state."""
        from headwater.packages.package import package_folders
        from headwater.pipelines.pending import drop_pending

        workdir = _workdir(name, pipelines_dir)
        waiting = [f.name for f in package_folders(workdir.packages)]
        chosen = sorted(set(load_ids)) if load_ids else waiting
        if not waiting and not load_ids:
            typer.echo(f"pipeline {name!r} has no packages waiting")
            return
        if any(i not in waiting for i in chosen):  # refused (with a "did you mean") before the question
            with workdir.lock(name):
                drop_pending(workdir, chosen)
        if not yes and not typer.confirm(
            f"Drop {len(chosen)} package(s) of pipeline {name!r} ({', '.join(chosen)})? Their rows are not loaded"
        ):
            raise typer.Abort()
        with workdir.lock(name):
            dropped = drop_pending(workdir, list(load_ids) if load_ids else None)
        for load_id in dropped:
            typer.echo(f"dropped {load_id}")

    @pipeline_app.command("drop")
    def pipeline_drop(
        name: Name,
        yes: Yes = False,
        pipelines_dir: PipelinesDir = None,
    ) -> None:
        """Drop the pipeline's tables and state in the destination, and its working folder."""
        from headwater.pipelines.pipeline import attach

        workdir = _workdir(name, pipelines_dir)
        p = attach(workdir.root.name, workdir.root.parent)
        tables = sorted({t for n in p.schema_names if (s := p.workdir.read_schema(n)) for t in s.tables})
        listing = ", ".join(tables) if tables else "no tables"
        prompt = f"Drop pipeline {name!r}: {listing} in {p.destination.describe()} dataset {p.dataset_name!r}?"
        if not yes and not typer.confirm(prompt):
            raise typer.Abort()
        dropped = p.drop()
        typer.echo(f"dropped {len(dropped)} table(s) and the state of pipeline {name!r}")

    @schema_app.command("show")
    def schema_show(
        name: Name,
        schema: Annotated[
            str | None, typer.Option("--schema", metavar="SCHEMA", help="schema name (default: all)")
        ] = None,
        fmt: Annotated[str, typer.Option("--format", metavar="table|json", help="table or json")] = "table",
        pipelines_dir: PipelinesDir = None,
        system: Annotated[bool, typer.Option("--system", help="also show _hw_ system columns")] = False,
    ) -> None:
        """Show the tables and columns of a pipeline's schema(s)."""
        workdir = _workdir(name, pipelines_dir)
        names = [schema] if schema else workdir.schema_names()
        if not names:
            typer.echo(f"pipeline {name!r} has no schema yet")
            return
        schemas = []
        for n in names:
            s = workdir.read_schema(n)
            if s is None:
                raise StateError(
                    f"pipeline {name!r} has no schema {n!r}", hint=f"schemas: {', '.join(workdir.schema_names())}"
                )
            schemas.append(s)
        if fmt == "json":
            typer.echo(json.dumps([s.to_dict() for s in schemas], indent=2))
            return
        if fmt != "table":
            raise typer.BadParameter("--format must be 'table' or 'json'")
        for s in schemas:
            _print_schema(s, system=system)

    from headwater.cli import dashboard, init, runs, singer_target, sources
    from headwater.cli import flows as flows_cli

    flows_cli.register(app)
    dashboard.register(app)
    singer_target.register(app)
    sources.register(app)
    init.register(app)
    runs.register(app)
    return app


def describe_pipeline(workdir: WorkDir) -> dict[str, Any]:
    """Everything ``pipeline info`` shows, as data.

    A file that cannot be read (a package, a schema, the state) is listed under ``problems`` with its
    error and the command that recovers, rather than failing the command: ``info`` is where a user
    looks when something is wrong.
    """
    from headwater.packages.files import drop_pending_command
    from headwater.packages.package import PARTIAL, LoadPackage, package_folders
    from headwater.pipelines.pending import stale_reason

    problems: list[dict[str, Any]] = []

    def problem(exc: StateError) -> None:
        problems.append({"path": exc.where.get("path"), "error": exc.message, "hint": exc.hint})

    try:
        meta = workdir.read_meta()
    except StateError as exc:
        problem(exc)
        meta = {}
    schemas = []
    for n in workdir.schema_names():
        try:
            s = workdir.read_schema(n)
        except StateError as exc:
            problem(exc)
            continue
        if s is not None:
            schemas.append({"name": s.name, "version": s.version, "tables": len(s.tables)})
    history = workdir.completed_manifests()
    packages: list[LoadPackage | StateError] = []
    for folder in package_folders(workdir.packages):
        try:
            opened = LoadPackage.open(folder)
        except StateError as exc:
            problem(exc)
            packages.append(exc)
            continue
        packages.append(opened)
        try:
            opened.verify(checksums=False)  # what is cheap to check: no data file is read
        except StateError as exc:
            problem(exc)
    readable = [p for p in packages if isinstance(p, LoadPackage)]
    try:
        local_state = workdir.read_state()
    except StateError as exc:
        problem(exc)
        local_state = None
    pending: list[dict[str, Any]] = []
    for folder, package in zip(package_folders(workdir.packages), packages, strict=True):
        if isinstance(package, StateError):
            pending.append(
                {"load_id": folder.name, "status": "unreadable", "rows": None, "error": package.message, "stale": None}
            )
            continue
        stale = None
        if package.status == PARTIAL:
            stale = stale_reason(package, history + [p.manifest for p in readable], [local_state])
        pending.append(
            {
                "load_id": package.load_id,
                "status": package.status,
                "rows": package.manifest.total_rows,
                "resources": package.manifest.resources,
                "error": package.manifest.error,
                "stale": stale,
            }
        )
    loads = [
        {
            "load_id": m.load_id,
            "schema": m.schema_name,
            "loaded_at": m.loaded_at,
            "rows": m.total_rows,
            "tables": {k: v.rows for k, v in m.tables.items()},
        }
        for m in history
    ]
    return {
        "pipeline": meta.get("pipeline", workdir.root.name),
        "working_folder": str(workdir.root),
        "destination": meta.get("destination"),
        "dataset": meta.get("dataset"),
        "created_at": meta.get("created_at"),
        "last_run_at": meta.get("last_run_at"),
        "schemas": schemas,
        "pending_packages": pending,
        "drop_pending_command": drop_pending_command(workdir.root).strip("`"),
        "problems": problems,
        "loads": loads,
    }


def _print_info(info: dict[str, Any]) -> None:
    """Plain lines, never a table that could cut a load id: ids are what users copy into commands."""
    echo = typer.echo
    echo(f"pipeline {info['pipeline']}")
    echo(f"  working folder  {info['working_folder']}")
    echo(f"  destination     {info['destination']}")
    echo(f"  dataset         {info['dataset']}")
    echo(f"  last run        {_when(info['last_run_at'])}")
    for s in info["schemas"]:
        echo(f"  schema          {s['name']} v{s['version']} ({s['tables']} tables)")
    for trouble in info["problems"]:
        echo(f"problem: {trouble['error']}")
        echo(f"  path: {trouble['path']}")
        if trouble["hint"]:
            echo(f"  hint: {trouble['hint']}")
    if info["pending_packages"]:
        echo(f"packages waiting to be loaded ({len(info['pending_packages'])})")
        for p in info["pending_packages"]:
            rows = f"{p['rows']:,} rows" if p["rows"] is not None else "rows unknown"
            echo(f"  {p['load_id']}  {p['status']}  {rows}")
            if p["error"]:
                echo(f"      error: {p['error'].splitlines()[0]}")
            if p["stale"]:
                echo(f"      stale, do not load it: {p['stale']}")
        echo(f"  drop them with: {info['drop_pending_command']} [--load-id LOAD_ID ...]")
    loads = info["loads"][-10:]
    if not loads:
        echo("  no loads yet")
        return
    echo(f"last {len(loads)} loads")
    for load in loads:
        tables = ", ".join(f"{k} {v:,}" for k, v in load["tables"].items()) or "-"
        echo(f"  {load['load_id']}  {_when(load['loaded_at'])}  {load['rows']:>12,} rows  {tables}")


def _print_state(name: str, state: PipelineState) -> None:
    from rich.console import Console
    from rich.table import Table

    from headwater.schema.state import decode_value

    console = Console()
    console.print(
        f"[bold]state[/bold] of {name}: version {state.version} (load {state.load_id or '-'})", highlight=False
    )
    table = Table(title="cursors", title_justify="left")
    for col in ("source", "resource", "cursor", "last value", "rows on it"):
        table.add_column(col)
    for source, src in state.data.get("sources", {}).items():
        for resource, cursors in src.get("incremental", {}).items():
            for path, slot in cursors.items():
                last = decode_value(slot.get("last_value"))
                table.add_row(source, resource, path, repr(last), str(len(slot.get("boundary", []))))
    console.print(table)
    for source, src in state.data.get("sources", {}).items():
        for resource, values in src.get("resources", {}).items():
            if values:
                console.print(f"{source}.{resource}: {values}", highlight=False, markup=False)


def _print_schema(schema: Schema, *, system: bool) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    console.print(f"[bold]schema[/bold] {schema.name} v{schema.version} ({schema.version_hash})", highlight=False)
    for t in schema.tables.values():
        title = t.name if not t.parent else f"{t.name} (child of {t.parent})"
        table = Table(title=escape(f"{title} [{t.write_disposition}]"), title_justify="left")
        table.add_column("column")
        table.add_column("type")
        table.add_column("notes")
        for c in t.columns.values():
            if c.system and not system:
                continue
            notes = []
            if c.primary_key:
                notes.append("primary key")
            if not c.nullable:
                notes.append("not null")
            if c.variant_of:
                notes.append(f"variant of {c.variant_of}")
            if c.hinted:
                notes.append("hinted")
            if c.path and ".".join(c.path) != c.name:
                notes.append("from " + ".".join(c.path))
            table.add_row(c.name, str(c.type), ", ".join(notes))
        console.print(table)
