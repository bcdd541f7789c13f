"""``singer(tap, config)``: a Singer tap as a Headwater source.

::

    source = hw.sources.singer("tap-github==4.0.0", config={"token": "...", "repositories": ["a/b"]},
                               select=["issues", "pull_requests"], parallel=2)
    hw.pipeline("gh", destination="duckdb").run(source)

The tap is a path, a command on PATH or a pip requirement installed on first use into its own
environment (:mod:`headwater.sources.connector.env`). Its catalog is discovered once, when the source
is made (or given with ``catalog=``), so a misspelled stream fails before anything runs. Each run
passes the tap the last committed Singer state (``--state``); the state a tap writes is saved with
the rows before it and committed with them. See docs/connectors.md.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson

from headwater.errors import ConfigError
from headwater.names import snake_case
from headwater.observe.access import record_access
from headwater.schema.hints import build_hints
from headwater.schema.state import current, state
from headwater.sources.connector.env import Executable, resolve
from headwater.sources.connector.process import ConnectorError, ConnectorProcess
from headwater.sources.singer import catalog as cat
from headwater.sources.singer.messages import Messages, StreamTables, split_messages
from headwater.streams.hinted import Hinted
from headwater.streams.resource import Resource
from headwater.streams.source import Source

log = logging.getLogger("headwater.singer")

#: the key of the resource state that holds the tap's last Singer state
STATE_KEY = "singer_state"


@dataclass(frozen=True)
class Tap:
    """A tap ready to run: its executable, its config and the secrets in it."""

    executable: Executable
    name: str
    config: Mapping[str, Any]
    secrets: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    catalog_flag: str = "--catalog"

    def process(self, folder: Path, *args: str) -> ConnectorProcess:
        """The tap's process with ``args``, its config written into ``folder``."""
        config = folder / "config.json"
        _write_private(config, self.config)
        argv = [*self.executable.argv, "--config", str(config), *args]
        # the tap runs in the current folder: relative paths in its config mean what the user meant
        return ConnectorProcess(argv, name=self.name, env=self.env, secrets=self.secrets)

    def discover(self) -> dict[str, Any]:
        """The catalog the tap writes with ``--discover``."""
        with tempfile.TemporaryDirectory(prefix="headwater-singer-") as folder:
            out = self.process(Path(folder), "--discover").output()
        return cat.parse_discovered(out, self.name)

    def sync(self, catalog: Mapping[str, Any] | None, messages: Messages, saved: Any) -> Iterator[Hinted]:
        """Run the tap with ``catalog`` and the Singer state ``saved``; yield its records as items."""
        with tempfile.TemporaryDirectory(prefix="headwater-singer-") as name:
            folder = Path(name)
            args: list[str] = []
            if saved is not None:
                _write_private(folder / "state.json", saved)
                args += ["--state", str(folder / "state.json")]
            flag = self.catalog_flag
            if catalog is not None:
                _write_private(folder / "catalog.json", catalog)
            while True:
                given = [flag, str(folder / "catalog.json")] if catalog is not None else []
                proc = self.process(folder, *args, *given)
                try:
                    yield from messages.items(proc.messages(split_messages))
                    break
                except ConnectorError as exc:
                    if not (given and flag == "--catalog" and _refused_catalog(exc) and messages.records == 0):
                        raise
                    log.warning("%s does not take --catalog; running it again with --properties", self.name)
                    flag = "--properties"
            if proc.skipped:
                log.warning("%s: %d stdout line(s) were not JSON messages and were skipped", self.name, proc.skipped)


def singer(
    tap: str | None = None,
    config: Mapping[str, Any] | None = None,
    *,
    select: cat.Selection | None = None,
    catalog: Mapping[str, Any] | str | os.PathLike[str] | None = None,
    discover: bool = True,
    parallel: int = 1,
    state: Mapping[str, Any] | None = None,
    executable: str | None = None,
    name: str | None = None,
    env: Mapping[str, str] | None = None,
    catalog_flag: Literal["--catalog", "--properties"] = "--catalog",
    tap_name: str | None = None,
    tap_config: Mapping[str, Any] | None = None,
    tap_auto_discover_schema: bool | None = None,
) -> Source:
    """A source that runs a Singer tap and loads each of its streams into a table of its own.

    Args:
        tap: the tap: a path, a command on PATH, or a pip requirement (``"tap-jsonl==0.3.1"``)
            installed on first use into an environment of its own.
        config: the tap's config, written to a private file passed with ``--config``; its string
            values are kept out of logs and errors.
        select: the streams to extract (default: all): names, ``"stream.property"`` for some
            properties only, or ``{stream: [properties] or None}``.
        catalog: a catalog (a dict or the path of a JSON file) instead of discovering one; its
            metadata (``replication-method``, ``replication-key``) is passed to the tap as it is.
        discover: discover the catalog with ``--discover`` when none is given (False: run the tap
            without a catalog, for taps that cannot discover).
        parallel: with more than 1, one tap process per selected stream, this many at a time (each
            stream then keeps a Singer state of its own).
        state: the Singer state of the first run, when no state was committed yet (a bookmark
            carried over from another tool); later runs use the state committed with the data.
        executable: the command a requirement installs, when it is not the requirement's name.
        name: the source's name (the schema of its tables); default: the tap's name.
        env: environment variables for the tap.
        catalog_flag: ``--properties`` for old taps that do not take ``--catalog``.
        tap_name: VDK's name for ``tap``.
        tap_config: VDK's name for ``config``.
        tap_auto_discover_schema: VDK's name for ``discover``.

    Raises:
        ConfigError: a bad argument, a tap that cannot be found, an unknown stream or property.
        ConnectorError: the tap failed to discover its catalog (exit code and stderr in the message).
    """
    tap = _alias("tap", tap, "tap_name", tap_name)
    config = _alias("config", config, "tap_config", tap_config)
    if tap_auto_discover_schema is not None:
        discover = bool(tap_auto_discover_schema)
    if not isinstance(tap, str) or not tap.strip():
        raise ConfigError("singer: give the tap (a path, a command or a pip requirement) as tap=")
    config = dict(config or {})
    try:
        orjson.dumps(config)
    except TypeError as exc:
        raise ConfigError(f"singer: the tap config cannot be written as JSON: {exc}", hint="use JSON values") from exc
    if state is not None and not isinstance(state, Mapping):
        raise ConfigError(f"singer: state must be a dict (a Singer state), got {type(state).__name__}")
    if not isinstance(parallel, int) or isinstance(parallel, bool) or parallel < 1:
        raise ConfigError(f"singer: parallel must be a positive integer, got {parallel!r}")
    if catalog_flag not in ("--catalog", "--properties"):
        raise ConfigError(f"singer: catalog_flag must be '--catalog' or '--properties', got {catalog_flag!r}")
    tap_label = _tap_label(tap, executable)
    runner = Tap(
        resolve(tap, executable=executable, what=f"Singer tap {tap_label}"),
        tap_label,
        config,
        tuple(_secrets(config)),
        dict(env or {}),
        catalog_flag,
    )
    source_name = snake_case(name or tap_label)
    if catalog is None and not discover:
        if select is not None or parallel > 1:
            raise ConfigError("singer: select= and parallel= need a catalog: pass catalog= or discover=True")
        return Source(source_name, [_resource(runner, source_name, None, {}, None, None, state)])
    full = cat.load(catalog) if catalog is not None else runner.discover()
    chosen = cat.check_selection(select, full)
    infos = cat.streams(full)
    if parallel == 1:
        selected = cat.select(full, chosen)
        only = frozenset(chosen)
        return Source(source_name, [_resource(runner, source_name, selected, infos, only, None, state)])
    gate = threading.BoundedSemaphore(parallel)
    resources = [
        _resource(runner, stream, cat.select(full, {stream: props}), infos, frozenset([stream]), gate, state)
        for stream, props in chosen.items()
    ]
    return Source(source_name, resources)


def _resource(
    tap: Tap,
    name: str,
    catalog: dict[str, Any] | None,
    infos: Mapping[str, cat.StreamInfo],
    streams: frozenset[str] | None,
    gate: threading.BoundedSemaphore | None,
    initial: Mapping[str, Any] | None,
) -> Resource:
    def run_tap() -> Iterator[Hinted]:
        st: dict[str, Any] = state() if current() is not None else {}
        tables = StreamTables(infos)

        def keep(value: Any) -> None:
            st[STATE_KEY] = value

        messages = Messages(tables, keep, streams)
        try:
            with gate if gate is not None else contextlib.nullcontext():
                yield from tap.sync(catalog, messages, st.get(STATE_KEY, initial))
        finally:  # one access record per stream read (the streams it was asked for, even without rows)
            read: list[str | None] = [*sorted(set(streams or ()) | set(messages.per_stream))]
            for stream in read or [None]:
                record_access(
                    "singer",
                    url=tap.executable.argv[0],
                    rows=messages.per_stream.get(stream, 0) if stream is not None else 0,
                    resource=resource_name,
                    what=f"stream {stream!r} of {tap.name}" if stream is not None else f"tap {tap.name}",
                    host="localhost",
                )
        if tables.bookmarks:
            st["bookmark_properties"] = tables.bookmarks
        replication = {s: i.replication_key for s, i in infos.items() if i.replication_key and s in (streams or ())}
        if replication:
            st["replication_keys"] = replication
        log.info(
            "%s: %d record(s), %d state message(s)%s",
            tap.name,
            messages.records,
            messages.states,
            f", ignored {messages.ignored}" if messages.ignored else "",
        )
        if messages.dropped:
            log.warning("%s wrote records of streams that were not selected; dropped: %s", tap.name, messages.dropped)

    resource_name = snake_case(name)
    run_tap.__name__ = run_tap.__qualname__ = resource_name
    return Resource(run_tap, name=resource_name, hints=build_hints(resource=resource_name))


def _refused_catalog(exc: ConnectorError) -> bool:
    """Whether a tap failed because it does not know ``--catalog`` (argparse: "unrecognized arguments")."""
    return any("unrecognized arguments" in line and "--catalog" in line for line in exc.stderr)


def _alias(own: str, value: Any, vdk: str, vdk_value: Any) -> Any:
    if vdk_value is None:
        return value
    if value is not None:
        raise ConfigError(f"singer: give {own}= or {vdk}= (VDK's name for it), not both")
    return vdk_value


def _tap_label(tap: str, executable: str | None) -> str:
    if executable:
        return executable
    base = Path(tap.strip()).name if (os.sep in tap or tap.startswith(".")) else tap.strip()
    for sep in ("==", ">=", "<=", "~=", "[", "@", ";", " "):
        base = base.split(sep)[0]
    return base or "tap"


def _secrets(value: Any) -> Iterator[str]:
    """The string values of a config, at any depth (short ones, like ``"a"``, would hide too much)."""
    if isinstance(value, str):
        if len(value) >= 4:
            yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _secrets(v)
    elif isinstance(value, Sequence):
        for v in value:
            yield from _secrets(v)


def _write_private(path: Path, value: Any) -> None:
    """``value`` as JSON in a file only its owner can read (a config holds credentials)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(orjson.dumps(value))


def discover(tap: str, config: Mapping[str, Any] | None = None, *, executable: str | None = None) -> dict[str, Any]:
    """The catalog ``tap`` discovers with ``config`` (to edit, e.g. to set a stream's
    ``replication-method`` and ``replication-key``, and pass back as ``catalog=``)."""
    label = _tap_label(tap, executable)
    config = dict(config or {})
    found = resolve(tap, executable=executable, what=f"Singer tap {label}")
    return Tap(found, label, config, tuple(_secrets(config))).discover()
