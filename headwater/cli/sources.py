"""``headwater sources list`` and ``headwater sources show NAME``: the registry of sources on the command line.

::

    $ headwater sources list
    filesystem    built-in  A source that reads the files under ``url`` matching ``glob``, ...
    github        headwater-github 0.1.0  GitHub issues and pull requests of one repository, ...
    $ headwater sources show sql_database
    sql_database (built-in, headwater.sources.sql_database.source:sql_database)
      ...
      credentials  Any  required
          a SQLAlchemy URL ...
"""

from __future__ import annotations

import json
import re
import sys
from typing import Annotated, Any

import typer

from headwater.errors import ConfigError
from headwater.sources import registry
from headwater.sources.signature import SourceOption

AsJson = Annotated[bool, typer.Option("--json", help="print JSON instead of text")]


def plain(text: str) -> str:
    """Docstring markup made plain for a terminal: ``code`` and :func:`name` lose their quotes."""
    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"\1", text)
    return text.replace("``", "")


def usage_error(exc: ConfigError) -> typer.Exit:
    """Print a configuration error as a usage error and return the exit (code 2) to raise."""
    print(f"error: {exc}", file=sys.stderr)
    return typer.Exit(2)


def option_lines(opt: SourceOption) -> list[str]:
    """The lines ``sources show`` prints for one option: name, type, default; the description below."""
    name = f"**{opt.name}" if opt.variadic else opt.name
    default = "required" if opt.required else ("any other keyword" if opt.variadic else f"default {opt.default}")
    head = "  ".join(part for part in (f"  {name}", opt.type, default) if part)
    return [head, f"      {plain(opt.description)}"] if opt.description else [head]


def describe_source(name: str) -> dict[str, Any]:
    """What ``sources show NAME --json`` prints: name, factory, provider, summary, doc and options.

    Raises:
        ConfigError: an unknown source, or one whose factory cannot be imported.
    """
    info = registry.describe(name)
    return {
        "name": name,
        "factory": registry.available()[name],
        "provider": registry.provider(name),
        "summary": info.summary,
        "doc": info.doc,
        "options": [o.to_dict() for o in info.options],
    }


def register(app: typer.Typer) -> None:
    """Add the ``sources`` group (``list``, ``show``) to the ``headwater`` app."""
    sources_app = typer.Typer(
        help="The sources Headwater knows: built-in ones and those plugins add.",
        no_args_is_help=True,
        rich_markup_mode=None,
    )
    app.add_typer(sources_app, name="sources")

    @sources_app.command("list")
    def sources_list(as_json: AsJson = False) -> None:
        """List the sources: built-in ones, then those of installed plugins (entry points)."""
        rows = [
            {
                "name": name,
                "factory": target,
                "provider": registry.provider(name),
                "summary": plain(registry.summary(name)),
            }
            for name, target in sorted(registry.available().items())
        ]
        if as_json:
            typer.echo(json.dumps(rows, indent=2))
            return
        width = max(len(r["name"]) for r in rows)
        origin = max(len(r["provider"]) for r in rows)
        for r in rows:
            typer.echo(f"{r['name']:<{width}}  {r['provider']:<{origin}}  {r['summary']}".rstrip())

    @sources_app.command("show")
    def sources_show(
        name: Annotated[str, typer.Argument(metavar="NAME", help="the source's name (see: headwater sources list)")],
        as_json: AsJson = False,
    ) -> None:
        """Show a source's options: type, default (or required) and description of each."""
        try:
            info = describe_source(name)
        except ConfigError as exc:
            raise usage_error(exc) from None
        if as_json:
            typer.echo(json.dumps(info, indent=2))
            return
        typer.echo(f"{name} ({info['provider']}, {info['factory']})")
        if info["summary"]:
            typer.echo(f"  {plain(info['summary'])}")
        typer.echo("options:")
        for opt in info["options"]:
            for line in option_lines(SourceOption(**opt)):
                typer.echo(line)
        typer.echo(f"make one: headwater init {name} duckdb   (writes flows.toml with these options)")
