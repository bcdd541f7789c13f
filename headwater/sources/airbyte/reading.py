"""``read``: the connector's messages turned into rows per table, state and errors.

RECORD messages are grouped per stream into lists of their ``data`` and yielded as
:class:`~headwater.streams.hinted.Hinted` items (one list per stream per batch of stdout). A STATE
message first yields the rows before it, then becomes the resource's state (``hw.state()``): the state
is saved with the package that carries those rows, and a run that fails keeps its rows in a partial
package that is not loaded, so the state never gets ahead of data that landed. The next run passes the
saved state back with ``--state`` (the list of state messages the protocol expects).

State is kept as the protocol has it: per stream (``STREAM``), one ``GLOBAL`` message, or the
``LEGACY`` blob, under ``hw.state()["airbyte"]``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from headwater.observe.access import record_access
from headwater.schema.hints import TableHints, build_hints
from headwater.schema.state import current, state
from headwater.sources.airbyte.catalog import StreamPlan, configured_catalog, stream_key
from headwater.sources.airbyte.protocol import Connector, TraceError
from headwater.sources.connector.process import ConnectorError
from headwater.streams.hinted import Hinted

STATE_KEY = "airbyte"


def saved_state(plans: Sequence[StreamPlan]) -> tuple[dict[str, Any], Any]:
    """The resource's saved Airbyte state (changed in place while reading) and what to pass with
    ``--state``: the state messages of the streams read incrementally now and the global one; a
    connector that only ever sent ``LEGACY`` state gets its blob back as it sent it (a dict: what the
    old CDKs that send it read)."""
    if current() is None:  # outside a pipeline: no state, every run reads from the start
        return {}, None
    saved = state().setdefault(STATE_KEY, {})
    incremental = {p.key for p in plans if p.incremental}
    messages: list[dict[str, Any]] = []
    for key, message in (saved.get("streams") or {}).items():
        if key in incremental:
            messages.append(copy.deepcopy(message))
    if saved.get("global") is not None:
        messages.append(copy.deepcopy(saved["global"]))
    if not messages and saved.get("legacy") is not None:
        return saved, copy.deepcopy(saved["legacy"])
    return saved, (messages or None)


def keep_state(saved: dict[str, Any], message: Mapping[str, Any]) -> None:
    """Keep a STATE message in ``saved``: per stream, global, or legacy."""
    body = message.get("state") or {}
    kind = str(body.get("type") or ("LEGACY" if "data" in body else "STREAM")).upper()
    clean = {k: v for k, v in body.items() if k not in ("sourceStats", "destinationStats", "id")}
    if kind == "STREAM":
        descriptor = (body.get("stream") or {}).get("stream_descriptor") or {}
        key = stream_key(descriptor.get("namespace"), str(descriptor.get("name")))
        saved.setdefault("streams", {})[key] = clean
    elif kind == "GLOBAL":
        saved["global"] = clean
    else:
        saved["legacy"] = body.get("data")


def read(connector: Connector, plans: Sequence[StreamPlan], resource: str) -> Iterator[Hinted]:
    """Run ``read`` and yield its records per stream with their hints, keeping its state as it goes.

    Raises:
        AirbyteError: the connector reported errors (TRACE ERROR): raised after every row it sent.
        ConnectorError: it exited with an error without reporting one.
    """
    tables = {(p.namespace, p.name): (p.name, p.hints) for p in plans}
    counts = dict.fromkeys(tables, 0)
    try:
        yield from _read(connector, plans, resource, tables, counts)
    finally:
        for (namespace, stream), n in counts.items():
            shown = f"{namespace}.{stream}" if namespace else stream
            record_access(
                "airbyte",
                url=connector.argv[0],
                rows=n,
                resource=resource,
                what=f"stream {shown!r} of {connector.name}",
                host="localhost",
            )


def _read(
    connector: Connector,
    plans: Sequence[StreamPlan],
    resource: str,
    tables: dict[tuple[str | None, str], tuple[str, TableHints]],
    counts: dict[tuple[str | None, str], int],
) -> Iterator[Hinted]:
    saved, given = saved_state(plans)
    errors: list[TraceError] = []
    rows: dict[tuple[str | None, str], list[dict[str, Any]]] = {}
    for p in plans:  # a stream read in full replaces its table even when it brings no rows
        if not p.incremental:
            yield Hinted([], p.name, p.hints)
    try:
        for batch in connector.read(configured_catalog(plans), given):
            for message in batch:
                kind = message.get("type")
                if kind == "RECORD":
                    record = message.get("record") or {}
                    data = record.get("data")
                    if isinstance(data, dict):
                        key = (record.get("namespace"), str(record.get("stream")))
                        bucket = rows.get(key)
                        if bucket is None:
                            bucket = rows[key] = []
                        bucket.append(data)
                        counts[key] = counts.get(key, 0) + 1
                elif kind == "STATE":
                    yield from _flush(rows, tables, resource)
                    keep_state(saved, message)
                elif kind == "LOG":
                    connector.log_message(message)
                elif kind == "CONTROL":
                    connector.update_config(message)
                elif kind == "TRACE":
                    trace = message.get("trace") or {}
                    if trace.get("type") == "ERROR":
                        errors.append(TraceError.of(trace))
            yield from _flush(rows, tables, resource)
    except ConnectorError as exc:
        yield from _flush(rows, tables, resource)
        if errors:
            raise connector.failed("read", errors) from exc
        raise
    if errors:
        raise connector.failed("read", errors)


def _flush(
    rows: dict[tuple[str | None, str], list[dict[str, Any]]],
    tables: dict[tuple[str | None, str], tuple[str, TableHints]],
    resource: str,
) -> Iterator[Hinted]:
    """The rows gathered so far, one item per stream, each with its table's hints."""
    for key, data in rows.items():
        found = tables.get(key)
        if found is None:  # a stream the catalog did not name: appended to a table of its name
            found = tables[key] = (key[1], build_hints(resource=resource, table_name=key[1]))
        yield Hinted(data, found[0], found[1])
    rows.clear()
