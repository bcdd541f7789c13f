"""``airbyte(name, config)``: an Airbyte connector as a source, run without Docker.

::

    source = hw.sources.airbyte("source-faker", config={"count": 1000, "seed": 1})
    source = hw.sources.airbyte("airbyte-source-file==0.6.0", executable="source-file", config={...})
    source = hw.sources.airbyte("my_api", manifest="manifest.yaml", config={"api_key": "..."})

The connector is a pip requirement installed on first use into an environment of its own (see
:mod:`headwater.sources.connector.env`), a command on PATH, or a path; a declarative (low-code)
connector is a manifest YAML run by the Airbyte CDK's ``source-declarative-manifest``. When the
source is made, the config is checked against the connector's ``spec``, ``check`` runs (its message
is the error) and ``discover`` gives the streams; one resource then runs ``read`` and feeds one table
per stream. See docs/connectors.md.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from headwater.errors import ConfigError
from headwater.optional import require
from headwater.schema.hints import build_hints
from headwater.sources.airbyte.catalog import StreamPlan, check_config, plan, select
from headwater.sources.airbyte.protocol import Connector, check_config_type
from headwater.sources.airbyte.reading import read
from headwater.sources.connector.env import resolve
from headwater.streams.hinted import Hinted
from headwater.streams.resource import Resource
from headwater.streams.source import Source

#: the requirement that brings ``source-declarative-manifest`` when ``cdk`` is not given
DEFAULT_CDK = "airbyte-cdk"
MANIFEST_KEY = "__injected_declarative_manifest"
_PYPI_NAME = re.compile(r"^(source-[a-z0-9-]+)\s*(?:[=<>!~].*)?$")
#: where a requirement's name ends (its version, extras, URL or marker begin)
_REQ_CUT = re.compile(r"[\[=<>!~@; ]")


def airbyte(
    name: str,
    config: Mapping[str, Any] | None = None,
    streams: Sequence[str] | None = None,
    *,
    executable: str | None = None,
    manifest: str | os.PathLike[str] | None = None,
    cdk: str = DEFAULT_CDK,
    python: str | None = None,
    source_name: str | None = None,
    full_refresh: bool = False,
    check: bool = True,
) -> Source:
    """A source reading the streams of an Airbyte connector, one table per stream.

    Args:
        name: the connector: ``"source-faker"`` (the pip package ``airbyte-source-faker``, command
            ``source-faker``), a pip requirement (``"airbyte-source-faker==7.2.1"``), a command on
            PATH or a path. With ``manifest``, a name for the source (its tables' schema).
        config: the connector's config (the keys of its spec's ``connectionSpecification``).
        streams: the streams to read (default: every stream the connector discovers).
        executable: the command a requirement installs, when not ``source-<name>``.
        manifest: a declarative (low-code) connector's manifest YAML, run by the CDK's
            ``source-declarative-manifest`` (the manifest goes into the config as
            ``__injected_declarative_manifest``).
        cdk: for ``manifest``: the requirement, command or path of ``source-declarative-manifest``.
        python: the interpreter of a new connector environment (default: the one running Headwater).
        source_name: the source's name (default: from ``name``: ``source-faker`` gives ``faker``).
        full_refresh: read every stream in full (replace its table) even where it supports incremental.
        check: run the connector's ``check`` before reading (default true).

    Raises:
        ConfigError: a wrong argument, a config key missing or misspelled, an unknown stream.
        AirbyteError: ``check`` failed (with the connector's message).
    """
    where = f"hw.sources.airbyte({name!r})"
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"airbyte: name must be a connector name such as 'source-faker', got {name!r}")
    config = check_config_type({} if config is None else config, where)
    if manifest is not None:
        spec_of_manifest, parsed = _manifest(manifest, where)
        config[MANIFEST_KEY] = parsed
        exe = resolve(cdk, executable=executable or "source-declarative-manifest", python=python, what="Airbyte CDK")
        label = source_name or _plain(name)
    else:
        spec_of_manifest = None
        exe = _resolve(name, executable, python)
        label = source_name or _plain(os.path.basename(_REQ_CUT.split(name.strip())[0]).removeprefix("airbyte-"))
    connector = Connector(exe.argv, name=label, config=config)
    user_config = {k: v for k, v in config.items() if k != MANIFEST_KEY}
    spec = spec_of_manifest if spec_of_manifest is not None else _spec(connector)
    connector.add_secrets(spec)  # before check and discover, whose messages may show them
    check_config(user_config, spec, where)
    discovered = _check_and_discover(connector, check)
    plans = [plan(s, resource=label, full_refresh=full_refresh) for s in select(discovered, streams, where)]
    return Source(label, [_resource(connector, plans, label)])


#: specs by command and its modification time: a spec does not depend on the config
_SPECS: dict[tuple[tuple[str, ...], float], dict[str, Any]] = {}


def _spec(connector: Connector) -> dict[str, Any]:
    try:
        stamp = os.stat(connector.argv[0]).st_mtime
    except OSError:
        stamp = 0.0
    key = (tuple(connector.argv), stamp)
    if key not in _SPECS:
        _SPECS[key] = connector.spec()
    return _SPECS[key]


def _check_and_discover(connector: Connector, check: bool) -> list[dict[str, Any]]:
    if not check:
        return connector.discover()
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="headwater-airbyte") as pool:
        checked = pool.submit(connector.check)
        found = pool.submit(connector.discover)
        checked.result()
        return found.result()


def _resource(connector: Connector, plans: list[StreamPlan], label: str) -> Resource:
    def read_streams() -> Iterator[Hinted]:
        yield from read(connector, plans, label)

    read_streams.__name__ = read_streams.__qualname__ = label
    return Resource(read_streams, name=label, hints=build_hints(resource=label))


def _resolve(name: str, executable: str | None, python: str | None) -> Any:
    spec = name.strip()
    short = _PYPI_NAME.match(spec)
    if short and executable is None and shutil.which(spec) is None:
        # "source-faker" ("source-faker==7.2.1"): the package airbyte-source-faker, its command source-faker
        return resolve(f"airbyte-{spec}", executable=short.group(1), python=python, what="Airbyte connector")
    if executable is None:
        match = re.match(r"^\s*airbyte-(source-[A-Za-z0-9._-]+)", spec)
        if match and os.sep not in spec:
            executable = _REQ_CUT.split(match.group(1))[0]
    return resolve(spec, executable=executable, python=python, what="Airbyte connector")


def _manifest(manifest: str | os.PathLike[str], where: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The manifest's spec (``connection_specification``) and the parsed manifest."""
    yaml = require("yaml", "a declarative Airbyte manifest", extra="flows", package="pyyaml")
    path = Path(manifest).expanduser()
    if not path.is_file():
        raise ConfigError(f"{where}: manifest {str(path)!r} is not a file", hint="give the path of the manifest YAML")
    try:
        parsed = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: manifest {str(path)!r} is not valid YAML: {exc}", path=str(path)) from exc
    if not isinstance(parsed, dict) or ("streams" not in parsed and "dynamic_streams" not in parsed):
        raise ConfigError(
            f"{where}: manifest {str(path)!r} is not a declarative manifest (no 'streams')",
            hint="a manifest has version, type: DeclarativeSource, check, streams and spec",
            path=str(path),
        )
    spec = parsed.get("spec") or {}
    return {"connectionSpecification": spec.get("connection_specification") or {}}, parsed


def _plain(text: str) -> str:
    """A plain source name from a connector's name: ``source-faker`` gives ``faker``."""
    stem = text.removeprefix("source-")
    return re.sub(r"[^A-Za-z0-9_]+", "_", stem).strip("_") or "airbyte"
