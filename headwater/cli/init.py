"""``headwater init SOURCE DESTINATION``: a ``flows.toml`` to start from, and its ``secrets.toml``.

The source's options come from the registry (:mod:`headwater.sources.registry`), the destination's from
its class: required options are filled with placeholders (``"<url>"``), optional ones are written
commented out, with their default and description. Options that look secret (a token, a password,
credentials, a key) go to ``secrets.toml`` instead, under the same key path; the flows loader merges
the two files. Existing files are kept unless ``--force``.
"""

from __future__ import annotations

import json
import re
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from headwater.cli.sources import plain
from headwater.errors import ConfigError, did_you_mean
from headwater.sources import registry
from headwater.sources.signature import SourceOption, load_target, read_factory

#: name parts that make an option secret: its value goes to secrets.toml
SECRET_PARTS = frozenset({"token", "password", "secret", "credentials", "key", "apikey", "passwd"})
#: options secret although their names do not say so: a PostgreSQL URL carries the password
SECRET_OPTIONS = frozenset({("destination", "postgres", "url"), ("destination", "postgresql", "url")})
#: values that read better than a bare placeholder, for the options of the built-in sources...
SOURCE_EXAMPLES: dict[str, dict[str, Any]] = {
    "rest_api": {"client": {"base_url": "https://api.example.com/v1/"}, "resources": ["<endpoint>"]},
    "sql_database": {"credentials": "sqlite:///<file>.sqlite"},
    "filesystem": {"url": "data/"},
}
#: ... and of the destinations
DESTINATION_EXAMPLES: dict[str, dict[str, Any]] = {
    "duckdb": {"path": "warehouse.duckdb"},
    "postgres": {"url": "postgresql://<user>:<password>@localhost:5432/<database>"},
    "postgresql": {"url": "postgresql://<user>:<password>@localhost:5432/<database>"},
    "filesystem": {"url": "lake/"},
    "iceberg": {"warehouse": "lake/iceberg"},
    "delta": {"location": "lake/delta"},
}
#: destination options written as values (not commented out) although optional: where the data goes
DESTINATION_MAIN = {
    "duckdb": "path",
    "postgres": "url",
    "postgresql": "url",
    "filesystem": "url",
    "iceberg": "warehouse",
    "delta": "location",
}
DESTINATION_ID = "warehouse"
#: secrets nested in an option's value, shown commented out in secrets.toml
SECRET_EXAMPLES: dict[str, list[str]] = {
    "rest_api": [
        "# an API token: merged into client.auth of flows.toml",
        "# [sources.rest_api.config.client.auth]",
        '# type = "bearer"',
        '# token = "<your token>"',
    ]
}
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def is_secret(kind: str, owner: str, option: str) -> bool:
    """Whether an option's value belongs in secrets.toml (a token, a password, credentials, a key)."""
    parts = set(option.lower().split("_"))
    return bool(parts & SECRET_PARTS) or "api_key" in option.lower() or (kind, owner, option) in SECRET_OPTIONS


def toml_key(key: str) -> str:
    """A TOML key: bare when it can be, else quoted."""
    return key if _BARE_KEY.match(key) else json.dumps(key)


def toml_value(value: Any) -> str:
    """A Python value (str, bool, int, float, list, tuple, dict) as a TOML value (inline tables for dicts).

    Raises:
        TypeError: a value TOML cannot hold (``None``, an object).
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{toml_key(str(k))} = {toml_value(v)}" for k, v in value.items())
        return "{ " + inner + " }" if inner else "{}"
    raise TypeError(f"TOML cannot hold {value!r}")


def placeholder(examples: Mapping[str, Any], opt: SourceOption) -> Any:
    """A value for an option: its example in ``examples``, else a placeholder shaped by its type."""
    if opt.name in examples:
        return examples[opt.name]
    kind = opt.type.replace(" ", "")
    if kind.startswith(("bool", "Optional[bool]")):
        return False
    if kind.startswith("int"):
        return 0
    if kind.startswith("float"):
        return 0.0
    if kind.startswith(("list", "Sequence", "tuple", "Iterable")):
        return [f"<{opt.name}>"]
    if kind.startswith(("dict", "Mapping")):
        return {}
    return f"<{opt.name}>"


def example_value(examples: Mapping[str, Any], opt: SourceOption) -> Any:
    """The value an optional option is shown with (commented out): its default when TOML can hold it."""
    try:
        value = opt.default_value()
    except (ValueError, SyntaxError):
        value = None
    if value is None:
        return placeholder(examples, opt)
    try:
        toml_value(value)
    except TypeError:
        return placeholder(examples, opt)
    return value


def _comment(text: str) -> list[str]:
    return [f"# {line}" for line in textwrap.wrap(plain(text), 100)] if text else []


def config_lines(kind: str, owner: str, options: list[SourceOption]) -> tuple[list[str], list[str]]:
    """The lines of a ``config`` table in flows.toml and in secrets.toml for these options."""
    examples = (DESTINATION_EXAMPLES if kind == "destination" else SOURCE_EXAMPLES).get(owner, {})
    flows: list[str] = []
    secrets: list[str] = []
    for opt in options:
        if opt.variadic:
            flows += _comment(f"{opt.name}: and any other keyword: {opt.description}".rstrip(": "))
            continue
        if flows:
            flows.append("")
        main = kind == "destination" and DESTINATION_MAIN.get(owner) == opt.name
        about = opt.description or opt.name
        details = "required" if opt.required else f"default {opt.default}"
        if opt.type:
            details = f"{opt.type}; {details}"
        if is_secret(kind, owner, opt.name):
            flows += _comment(f"{opt.name}: in secrets.toml ({details})")
            secrets += _comment(f"{about} ({details})")
            value = examples.get(opt.name, f"<your {opt.name}>")
            line = f"{toml_key(opt.name)} = {toml_value(value)}"
            secrets.append(line if opt.required or main else f"# {line}")
            continue
        flows += _comment(f"{about} ({details})")
        if opt.required or main:
            flows.append(f"{toml_key(opt.name)} = {toml_value(placeholder(examples, opt))}")
        else:
            flows.append(f"# {toml_key(opt.name)} = {toml_value(example_value(examples, opt))}")
    return flows, secrets


def _destination_options(name: str) -> list[SourceOption]:
    from headwater import destinations

    known = destinations.available()
    if name not in known:
        raise ConfigError(f"unknown destination {name!r}", hint=did_you_mean(name, known, listing="known destinations"))
    target = known[name]
    info = read_factory(target, lambda: load_target(target))
    return info.options if info is not None else []


def render(source: str, destination: str) -> tuple[str, str]:
    """The texts of flows.toml and secrets.toml for ``source`` into ``destination``.

    Raises:
        ConfigError: an unknown source or destination (with the closest known name).
    """
    source_options = registry.options(source)
    destination_options = _destination_options(destination)
    sid, did = toml_key(source), DESTINATION_ID
    src_flows, src_secrets = config_lines("source", source, source_options)
    dst_flows, dst_secrets = config_lines("destination", destination, destination_options)
    flows = [
        f"# Headwater flows: {source} into {destination}. Run them with: headwater run flows.toml",
        "# Secrets are in secrets.toml beside this file (same keys); keep that file out of version control.",
        f"# Every option of the source: headwater sources show {source}",
        "",
        f"[sources.{sid}]",
        f"type = {toml_value(source)}",
        "",
        f"[sources.{sid}.config]",
        *src_flows,
        "",
        f"[destinations.{did}]",
        f"type = {toml_value(destination)}",
        "",
        f"[destinations.{did}.config]",
        *dst_flows,
        "",
        "[[flows]]",
        f"name = {toml_value(f'{source}_raw')}",
        f"from = {toml_value(source)}",
        f"to = {toml_value(did)}",
        'dataset = "raw"',
        '# resources = ["<resource>"]     # only these resources of the source (default: all)',
        '# write_disposition = "merge"    # any resource hint, for every resource of the flow',
        "",
    ]
    secrets = [
        "# Secrets of flows.toml: merged into it by key path. Keep this file out of version control.",
        "",
        f"[sources.{sid}.config]",
        *src_secrets,
        *SECRET_EXAMPLES.get(source, []),
        "",
        f"[destinations.{did}.config]",
        *dst_secrets,
        "",
    ]
    return "\n".join(flows), "\n".join(secrets)


def _append_once(path: Path, line: str) -> None:
    """Add ``line`` at the end of a text file (made if missing) unless the file already has it."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if line in text.splitlines():
        return
    path.write_text(text + ("" if not text or text.endswith("\n") else "\n") + line + "\n", encoding="utf-8")


def register(app: typer.Typer) -> None:
    """Add ``headwater init SOURCE DESTINATION`` to the ``headwater`` app."""

    @app.command("init")
    def init(
        source: Annotated[str, typer.Argument(metavar="SOURCE", help="a source name (headwater sources list)")],
        destination: Annotated[str, typer.Argument(metavar="DESTINATION", help="a destination name (duckdb...)")],
        folder: Annotated[
            Path | None, typer.Option("--dir", metavar="DIR", help="where to write the files [default: .]")
        ] = None,
        force: Annotated[bool, typer.Option("--force", help="overwrite existing files")] = False,
    ) -> None:
        """Write flows.toml (SOURCE into DESTINATION, every option described) and a secrets.toml template."""
        try:
            flows, secrets = render(source, destination)
        except ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise typer.Exit(2) from None
        root = folder or Path.cwd()
        targets = {root / "flows.toml": flows, root / "secrets.toml": secrets}
        present = [p.name for p in targets if p.exists()]
        if present and not force:
            verb = "exists" if len(present) == 1 else "exist"
            message = f"{' and '.join(present)} already {verb} in {root}; pass --force to overwrite"
            print(f"error: {message}", file=sys.stderr)
            raise typer.Exit(2)
        root.mkdir(parents=True, exist_ok=True)
        for path, text in targets.items():
            path.write_text(text, encoding="utf-8")
        flows_path = root / "flows.toml"
        shown = flows_path if folder is not None else Path("flows.toml")
        _append_once(
            root / "README.md",
            f"Run the Headwater flows ({source} into {destination}): `headwater run flows.toml` "
            "(fill in flows.toml and secrets.toml first; `headwater run flows.toml --dry-run` shows what it would do).",
        )
        _append_once(root / ".gitignore", "secrets.toml")  # as dlt init does: secrets stay out of version control
        typer.echo(f"wrote {shown} and secrets.toml: {source} into {destination}")
        typer.echo("fill in the <placeholders> (secrets go in secrets.toml), then run:")
        typer.echo(f"  headwater run {shown}")
