"""One Airbyte connector spoken to through the protocol: ``spec``, ``check``, ``discover``, ``read``.

Each command is a process of its own (:class:`~headwater.sources.connector.process.ConnectorProcess`);
the config, catalog and state go to it as JSON files in a private temporary folder that is removed
when the command ends. ``TRACE`` messages of type ``ERROR`` become :class:`AirbyteError` with the
connector's message, its internal message and failure type; ``LOG`` messages go to logging.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from headwater.errors import ConfigError, SourceError
from headwater.redact import register, secrets_in
from headwater.sources.connector.process import ConnectorError, ConnectorProcess

_LEVELS = {
    "FATAL": logging.CRITICAL,
    "ERROR": logging.ERROR,
    "WARN": logging.WARNING,
    "WARNING": logging.WARNING,
    "INFO": logging.INFO,
    "DEBUG": logging.DEBUG,
    "TRACE": logging.DEBUG,
}


_SUMMARY = "During the sync, the following streams did not sync successfully"
_SHOWN = 1000


def _cut(text: str) -> str:
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


class AirbyteError(SourceError):
    """The connector reported an error (a ``TRACE`` message of type ``ERROR``, or a failed ``check``)."""


@dataclass(frozen=True)
class TraceError:
    """One ``TRACE`` error of the connector: its messages, failure type and the stream it names."""

    message: str
    internal_message: str
    failure_type: str
    stream: str | None

    @classmethod
    def of(cls, trace: Mapping[str, Any]) -> TraceError:
        """The error of a ``TRACE`` message's ``trace``."""
        error = trace.get("error") or {}
        descriptor = error.get("stream_descriptor") or {}
        return cls(
            message=str(error.get("message") or "(no message)"),
            internal_message=str(error.get("internal_message") or ""),
            failure_type=str(error.get("failure_type") or "system_error"),
            stream=descriptor.get("name"),
        )

    def __str__(self) -> str:
        text = self.message
        if self.internal_message and self.internal_message not in text:
            text += f" ({self.internal_message})"
        return f"{text} [failure_type={self.failure_type}]"


def spec_secrets(config: Any, schema: Any) -> list[str]:
    """The values of ``config`` its JSON Schema marks ``airbyte_secret`` (in nested objects and in
    ``oneOf``/``anyOf`` branches too)."""
    if not isinstance(config, Mapping) or not isinstance(schema, Mapping):
        return []
    properties: dict[str, Any] = {}
    for branch in [schema, *(schema.get("oneOf") or ()), *(schema.get("anyOf") or ())]:
        if isinstance(branch, Mapping) and isinstance(branch.get("properties"), Mapping):
            for key, prop in branch["properties"].items():
                properties.setdefault(key, prop)
    found: list[str] = []
    for key, value in config.items():
        prop = properties.get(key)
        if not isinstance(prop, Mapping):
            continue
        if prop.get("airbyte_secret") and isinstance(value, str):
            found.append(value)
        elif isinstance(value, Mapping):
            found.extend(spec_secrets(value, prop))
    return found


class Connector:
    """An Airbyte connector: its command (``argv``), a name for messages and its config.

    Args:
        argv: the command (``[".../bin/source-faker"]``).
        name: how messages and the logger call it.
        config: the connector's config (written to ``config.json`` for every command but ``spec``).
    """

    def __init__(self, argv: Sequence[str], *, name: str, config: Mapping[str, Any]) -> None:
        self.argv = list(argv)
        self.name = name
        self.config = dict(config)
        self.secrets = secrets_in(self.config)
        register(*self.secrets)
        self.log = logging.getLogger(f"headwater.connector.{name}")

    def add_secrets(self, spec: Mapping[str, Any]) -> None:
        """Hide the config values the spec marks ``airbyte_secret`` from logs and errors too."""
        schema = spec.get("connectionSpecification") or spec.get("connection_specification")
        found = [s for s in spec_secrets(self.config, schema) if s not in self.secrets]
        self.secrets.extend(found)
        register(*found)

    def update_config(self, message: Mapping[str, Any]) -> None:
        """A ``CONTROL`` message of type ``CONNECTOR_CONFIG`` (a connector that rotated a refresh token):
        later commands of this process use the new config; the user is told to store it."""
        control = message.get("control") or {}
        config = (control.get("connectorConfig") or {}).get("config")
        if control.get("type") != "CONNECTOR_CONFIG" or not isinstance(config, Mapping):
            return
        found = [s for s in secrets_in(dict(config)) if s not in self.secrets]
        self.secrets.extend(found)
        register(*found)
        self.config = {**self.config, **config}
        self.log.warning(
            "%s updated its config (keys %s); later runs of this process use it; update the config you "
            "keep (secrets.toml, the flows file) too, or the next process starts from the old one",
            self.name,
            ", ".join(sorted(str(k) for k in config)),
        )

    # -- the short commands --------------------------------------------------------------------
    def spec(self) -> dict[str, Any]:
        """The connector's specification (``connectionSpecification`` is the config's JSON Schema)."""
        return self._one("spec", "SPEC", with_config=False)

    def check(self) -> None:
        """Run ``check``; raise :class:`AirbyteError` with the connector's message when it fails."""
        status = self._one("check", "CONNECTION_STATUS")
        if str(status.get("status", "")).upper() != "SUCCEEDED":
            raise AirbyteError(
                f"{self.name}: check failed: {status.get('message') or '(no message)'}",
                hint="fix the connector's config (see its spec: the connectionSpecification) and run again",
                resource=self.name,
            )

    def discover(self) -> list[dict[str, Any]]:
        """The streams of the catalog ``discover`` returns."""
        catalog = self._one("discover", "CATALOG")
        streams = catalog.get("streams")
        if not isinstance(streams, list):
            raise SourceError(f"{self.name}: discover returned a catalog without streams", resource=self.name)
        return streams

    # -- read ----------------------------------------------------------------------------------
    def read(self, catalog: Mapping[str, Any], state: Any) -> Iterator[list[dict[str, Any]]]:
        """``read`` with ``catalog`` (and ``state``, when there is one): batches of its messages, in order."""
        with tempfile.TemporaryDirectory(prefix="headwater-airbyte-") as folder:
            files = {"catalog": catalog} if state is None else {"catalog": catalog, "state": state}
            args = self._files(Path(folder), files)
            proc = self._process("read", Path(folder), args)
            yield from proc.messages()

    # -- internals -------------------------------------------------------------------------------
    def _files(self, folder: Path, files: Mapping[str, Any], with_config: bool = True) -> list[str]:
        args: list[str] = []
        everything = {"config": self.config, **files} if with_config else dict(files)
        for key, value in everything.items():
            path = folder / f"{key}.json"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # the config holds secrets
            with os.fdopen(fd, "w") as handle:
                json.dump(value, handle, default=str)
            args += [f"--{key}", str(path)]
        return args

    def _process(self, command: str, folder: Path, args: list[str]) -> ConnectorProcess:
        return ConnectorProcess([*self.argv, command, *args], name=self.name, cwd=folder, secrets=self.secrets)

    def _one(self, command: str, kind: str, with_config: bool = True) -> dict[str, Any]:
        """Run a short command and return the payload of its one message of ``kind``."""
        errors: list[TraceError] = []
        found: dict[str, Any] | None = None
        key = {"SPEC": "spec", "CONNECTION_STATUS": "connectionStatus", "CATALOG": "catalog"}[kind]
        with tempfile.TemporaryDirectory(prefix="headwater-airbyte-") as folder:
            args = self._files(Path(folder), {}, with_config)
            failure: ConnectorError | None = None
            try:
                for batch in self._process(command, Path(folder), args).messages():
                    for message in batch:
                        kind_of = message.get("type")
                        if kind_of == kind and isinstance(message.get(key), dict):
                            found = message[key]
                        elif kind_of == "LOG":
                            self.log_message(message)
                        elif kind_of == "TRACE" and (message.get("trace") or {}).get("type") == "ERROR":
                            errors.append(TraceError.of(message["trace"]))
            except ConnectorError as exc:  # what it said before exiting says more than its exit code
                failure = exc
        if errors and (found is None or kind == "CONNECTION_STATUS"):
            raise self.failed(command, errors) from failure
        if failure is not None and not (kind == "CONNECTION_STATUS" and found is not None):
            raise failure
        if found is None:
            raise SourceError(
                f"{self.name}: {command} wrote no {kind} message",
                hint="is this an Airbyte connector? run it with 'spec' by hand to see what it writes",
                resource=self.name,
            )
        return found

    def failed(self, command: str, errors: Sequence[TraceError]) -> AirbyteError:
        """The error for ``errors`` the connector reported during ``command`` (the CDK's closing summary,
        "the following streams did not sync successfully", left out when the errors it sums up are there)."""
        real = [e for e in errors if not e.message.startswith(_SUMMARY)] or list(errors)
        config_error = all(e.failure_type == "config_error" for e in real)
        shown = "; ".join(_cut(str(e)) for e in real)
        streams = sorted({e.stream for e in errors if e.stream})
        where = ""
        if streams:
            where = f" (stream{'s' if len(streams) > 1 else ''} {', '.join(map(repr, streams))})"
        return AirbyteError(
            f"{self.name}: {command} failed{where}: {shown}",
            hint=(
                "fix the connector's config and run again"
                if config_error
                else "fix the cause the connector gives and run again"
            ),
            resource=self.name,
            stream=streams[0] if len(streams) == 1 else None,
        )

    def log_message(self, message: Mapping[str, Any]) -> None:
        """A ``LOG`` message to the connector's logger, at its level."""
        log = message.get("log") or {}
        level = _LEVELS.get(str(log.get("level", "INFO")).upper(), logging.INFO)
        self.log.log(level, "%s", log.get("message", ""))


def check_config_type(config: Any, where: str) -> dict[str, Any]:
    """``config`` as a dict (a connector's config is a JSON object), or a ConfigError."""
    if not isinstance(config, Mapping):
        raise ConfigError(
            f"{where}: config must be a dict (the connector's JSON config), got {type(config).__name__}",
            hint="pass config={...} with the keys of the connector's spec",
        )
    return dict(config)
