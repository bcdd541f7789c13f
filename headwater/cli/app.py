"""The typer application behind the ``headwater`` command."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from headwater import __version__
from headwater.errors import StateError
from headwater.packages.package import list_packages
from headwater.pipeline_state import PipelineState, decode_value
from headwater.pipelines.workdir import WorkDir, default_pipelines_dir
from headwater.schema.model import Schema

PipelinesDir = Annotated[
    Path | None,
    typer.Option("--pipelines-dir", help="folder of pipeline working folders [default: ~/.headwater/pipelines]"),
]


def _workdir(name: str, pipelines_dir: Path | None) -> WorkDir:
    """The one working folder of pipeline ``name``, or of the folder named ``name`` (``crm@1a2b3c4d5e``)."""
    from headwater.pipelines.pipeline import only_workdir

    return only_workdir(pipelines_dir or default_pipelines_dir(), name)


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="headwater",
        help="Headwater: move data from where it lives into analytical stores, correctly and fast.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    pipeline_app = typer.Typer(help="Inspect pipelines (their working folders).", no_args_is_help=True)
    schema_app = typer.Typer(help="Inspect schemas.", no_args_is_help=True)
    app.add_typer(pipeline_app, name="pipeline")
    app.add_typer(schema_app, name="schema")

    @app.callback(invoke_without_command=True)
    def root(
        version: Annotated[bool, typer.Option("--version", help="show the version and exit")] = False,
    ) -> None:
        if version:
            typer.echo(f"headwater {__version__}")
            raise typer.Exit()

    @pipeline_app.command("list")
    def pipeline_list(pipelines_dir: PipelinesDir = None) -> None:
        """List the pipelines that have a working folder."""
        root = pipelines_dir or default_pipelines_dir()
        names = sorted(p.name for p in root.iterdir() if (p / "pipeline.json").exists()) if root.is_dir() else []
        if not names:
            typer.echo(f"no pipelines in {root}")
        for name in names:
            typer.echo(name)

    @pipeline_app.command("info")
    def pipeline_info(
        name: Annotated[str, typer.Argument(help="the pipeline name")],
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
        name: Annotated[str, typer.Argument(help="the pipeline name")],
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
        name: Annotated[str, typer.Argument(help="the pipeline name")],
        resource: Annotated[str | None, typer.Option("--resource", help="only this resource")] = None,
        yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
        pipelines_dir: PipelinesDir = None,
    ) -> None:
        """Forget cursors and resource state, so the next run starts over (data stays)."""
        from headwater.pipelines.pipeline import attach

        what = f"resource {resource!r}" if resource else "every resource"
        if not yes and not typer.confirm(f"Reset the state of {what} of pipeline {name!r}?"):
            raise typer.Abort()
        p = attach(name, pipelines_dir)
        done = p.reset_state(resource)
        typer.echo(f"reset: {', '.join(done)}" if done else "nothing to reset")

    @pipeline_app.command("drop")
    def pipeline_drop(
        name: Annotated[str, typer.Argument(help="the pipeline name")],
        yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
        pipelines_dir: PipelinesDir = None,
    ) -> None:
        """Drop the pipeline's tables and state in the destination, and its working folder."""
        from headwater.pipelines.pipeline import attach

        p = attach(name, pipelines_dir)
        tables = sorted({t for n in p.schema_names if (s := p.workdir.read_schema(n)) for t in s.tables})
        listing = ", ".join(tables) if tables else "no tables"
        prompt = f"Drop pipeline {name!r}: {listing} in {p.destination.describe()} dataset {p.dataset!r}?"
        if not yes and not typer.confirm(prompt):
            raise typer.Abort()
        dropped = p.drop()
        typer.echo(f"dropped {len(dropped)} table(s) and the state of pipeline {name!r}")

    @schema_app.command("show")
    def schema_show(
        name: Annotated[str, typer.Argument(help="the pipeline name")],
        schema: Annotated[str | None, typer.Option("--schema", help="schema name (default: all)")] = None,
        fmt: Annotated[str, typer.Option("--format", help="table or json")] = "table",
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

    return app


def describe_pipeline(workdir: WorkDir) -> dict[str, Any]:
    """Everything ``pipeline info`` shows, as data."""
    meta = workdir.read_meta()
    schemas = []
    for n in workdir.schema_names():
        s = workdir.read_schema(n)
        if s is not None:
            schemas.append({"name": s.name, "version": s.version, "tables": len(s.tables)})
    pending = [
        {"load_id": p.load_id, "status": p.status, "rows": p.manifest.total_rows, "error": p.manifest.error}
        for p in list_packages(workdir.packages)
    ]
    loads = [
        {
            "load_id": m.load_id,
            "schema": m.schema_name,
            "loaded_at": m.loaded_at,
            "rows": m.total_rows,
            "tables": {k: v.rows for k, v in m.tables.items()},
        }
        for m in workdir.completed_manifests()
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
        "loads": loads,
    }


def _print_info(info: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"[bold]pipeline[/bold] {info['pipeline']}")
    console.print(f"  working folder  {info['working_folder']}", highlight=False)
    console.print(f"  destination     {info['destination']}", highlight=False)
    console.print(f"  dataset         {info['dataset']}", highlight=False)
    console.print(f"  last run        {_when(info['last_run_at'])}", highlight=False)
    for s in info["schemas"]:
        console.print(f"  schema          {s['name']} v{s['version']} ({s['tables']} tables)", highlight=False)
    if info["pending_packages"]:
        console.print("[bold]packages waiting to be loaded[/bold]")
        for p in info["pending_packages"]:
            extra = f"  ({p['error']})" if p["error"] else ""
            console.print(f"  {p['load_id']}  {p['status']}  {p['rows']:,} rows{extra}", highlight=False)
    loads = info["loads"][-10:]
    if loads:
        table = Table(title=f"last {len(loads)} loads", title_justify="left")
        table.add_column("load id")
        table.add_column("loaded at")
        table.add_column("rows", justify="right")
        table.add_column("tables")
        for load in loads:
            tables = ", ".join(f"{k} {v:,}" for k, v in load["tables"].items())
            table.add_row(load["load_id"], _when(load["loaded_at"]), f"{load['rows']:,}", tables)
        console.print(table)
    else:
        console.print("  no loads yet")


def _print_state(name: str, state: PipelineState) -> None:
    from rich.console import Console
    from rich.table import Table

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
