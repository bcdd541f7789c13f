"""``headwater run`` and ``headwater flows list|validate|show|convert``.

Exit codes: 0 when everything ran; 2 for a mistake in the flows file (every mistake is printed with
its location, before anything runs); 1 when a flow failed (a summary of every flow is printed).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from headwater.errors import ConfigError

FlowsFile = Annotated[Path, typer.Argument(metavar="FLOWS_FILE", help="a flows file: *.toml, *.yaml or config.py")]
PipelinesDir = Annotated[
    Path | None,
    typer.Option(
        "--pipelines-dir", metavar="DIR", help="folder of pipeline working folders [default: ~/.headwater/pipelines]"
    ),
]
Json = Annotated[bool, typer.Option("--json", help="print JSON")]


def _load(path: Path) -> Any:
    """The flows of a file, or exit 2 with every mistake printed."""
    from headwater.flows import load

    try:
        return load(path)
    except ConfigError as exc:
        _config_error(exc)


def _config_error(exc: ConfigError) -> Any:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(2)


def register(app: typer.Typer) -> None:
    """Add ``run`` and the ``flows`` group to the ``headwater`` app."""
    flows_app = typer.Typer(help="Inspect and convert flows files.", no_args_is_help=True, rich_markup_mode=None)
    app.add_typer(flows_app, name="flows")

    @app.command("run")
    def run(
        path: FlowsFile,
        flow: Annotated[
            list[str] | None,
            typer.Option("--flow", metavar="NAME", help="run this flow (repeat for more; default: all)"),
        ] = None,
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="extract and normalize, report what a run would do, write nothing")
        ] = False,
        limit: Annotated[
            int | None, typer.Option("--limit", metavar="N", help="with --dry-run: at most N items per resource")
        ] = None,
        parallel: Annotated[int, typer.Option("--parallel", metavar="N", help="flows run at once [default: 1]")] = 1,
        as_json: Json = False,
        pipelines_dir: PipelinesDir = None,
    ) -> None:
        """Run the flows of a flows file (all, or those named with --flow)."""
        from headwater.flows import FlowsFailed

        flows = _load(path)
        if limit is not None and not dry_run:
            _config_error(ConfigError("--limit goes with --dry-run", hint="add --dry-run, or drop --limit"))
        try:
            if dry_run:
                plans = flows.plan(flow or None, limit=limit, pipelines_dir=pipelines_dir)
                if as_json:
                    typer.echo(json.dumps([p.to_dict() for p in plans], indent=2, default=str))
                else:
                    for p in plans:
                        typer.echo(p.render() if hasattr(p, "render") else str(p))
                return
            infos = flows.run(flow or None, parallel=parallel, pipelines_dir=pipelines_dir)
        except FlowsFailed as exc:
            _summary(exc.results, as_json)
            raise typer.Exit(1) from None
        except ConfigError as exc:
            _config_error(exc)
        if as_json:
            typer.echo(json.dumps([_info_dict(i) for i in infos], indent=2, default=str))
        else:
            for info in infos:
                typer.echo(str(info))

    @flows_app.command("list")
    def flows_list(path: FlowsFile, as_json: Json = False) -> None:
        """List the flows of a file: name, source, destination, dataset, resources."""
        flows = _load(path)
        rows = []
        for f in flows:
            source = f.source or _class_name(f.extractor)
            destination = f.destination or _class_name(f.loader)
            rows.append(
                {
                    "name": f.name,
                    "from": source,
                    "to": destination,
                    "dataset": f.dataset,
                    "resources": list(f.resources) if f.resources is not None else None,
                }
            )
        if as_json:
            typer.echo(json.dumps(rows, indent=2))
            return
        for r in rows:
            picked = ", ".join(r["resources"]) if r["resources"] is not None else "all resources"
            dataset = f" dataset {r['dataset']}" if r["dataset"] else ""
            typer.echo(f"{r['name']}: {r['from']} -> {r['to']}{dataset} ({picked})")

    @flows_app.command("validate")
    def flows_validate(path: FlowsFile) -> None:
        """Check a flows file (shape, names, references, secrets) without running anything."""
        flows = _load(path)
        try:
            flows.check()
        except ConfigError as exc:
            _config_error(exc)
        typer.echo(f"ok: {len(flows)} flow(s) in {path}")

    @flows_app.command("show")
    def flows_show(
        path: FlowsFile,
        fmt: Annotated[str, typer.Option("--format", metavar="json|toml|yaml", help="output format")] = "json",
    ) -> None:
        """Print the flows with secrets.toml merged in and every secret masked."""
        from headwater.flows.files import dumps

        flows = _load(path)
        shown = flows.show()
        if fmt == "json":
            typer.echo(json.dumps(shown, indent=2, default=repr))
            return
        try:
            typer.echo(dumps(shown, fmt), nl=False)
        except ConfigError as exc:
            _config_error(exc)

    @flows_app.command("convert")
    def flows_convert(
        path: FlowsFile,
        to: Annotated[str, typer.Option("--to", metavar="toml|yaml", help="the format to write")] = "yaml",
        output: Annotated[
            Path | None, typer.Option("--output", "-o", metavar="PATH", help="write here [default: stdout]")
        ] = None,
    ) -> None:
        """Write a flows file in another format (placeholders kept; secrets.toml is not merged in)."""
        from headwater.flows.files import dumps

        flows = _load(path)
        try:
            text = dumps(flows.to_dict(), to)
        except ConfigError as exc:
            _config_error(exc)
        if output is None:
            typer.echo(text, nl=False)
        else:
            output.write_text(text, encoding="utf-8")
            typer.echo(f"wrote {output}")


def _class_name(table: Any) -> str:
    if not isinstance(table, dict):
        return "?"
    value = table.get("class", table.get("destination", "?"))
    return getattr(value, "__name__", None) or str(value)


def _info_dict(info: Any) -> Any:
    to_dict = getattr(info, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    import dataclasses

    return dataclasses.asdict(info) if dataclasses.is_dataclass(info) and not isinstance(info, type) else str(info)


def _summary(results: list[Any], as_json: bool) -> None:
    if as_json:
        rows = [
            {
                "flow": r.name,
                "ok": r.ok,
                "error": None if r.ok else str(r.error),
                "info": _info_dict(r.info) if r.ok else None,
            }
            for r in results
        ]
        typer.echo(json.dumps(rows, indent=2, default=str))
    failed = sum(not r.ok for r in results)
    typer.echo(f"{failed} of {len(results)} flow(s) failed:", err=True)
    for r in results:
        if r.ok:
            typer.echo(f"  {r.name}: ok ({_rows(r.info)} rows)", err=True)
        else:
            typer.echo(f"  {r.name}: FAILED: {r.error}", err=True)


def _rows(info: Any) -> int:
    return sum(t.rows for load in getattr(info, "loads", []) for t in load.tables.values())
