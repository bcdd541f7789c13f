"""The config checked against the connector's spec, and the configured catalog made from discovery.

Each discovered stream that is selected becomes a :class:`StreamPlan`: how it is read (incremental
where the connector supports it, with its cursor and primary key; full refresh otherwise) and how its
table is loaded (the hints built once: ``merge`` on the primary key, ``append`` without one,
``replace`` for a full refresh; column types from the stream's JSON Schema).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from headwater.errors import ConfigError, closest, did_you_mean
from headwater.schema.hints import TableHints, build_hints
from headwater.schema.naming import join_path
from headwater.sources.connector.jsonschema import column_hints

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (Mapping,),
    "array": (list, tuple),
}


def check_config(config: Mapping[str, Any], spec: Mapping[str, Any], where: str) -> None:
    """Check ``config`` against the spec's ``connectionSpecification``: required keys present, no
    misspelled keys, top-level values of the declared JSON type.

    Raises:
        ConfigError: naming the key, what is wrong and the closest known key.
    """
    schema = spec.get("connectionSpecification") or spec.get("connection_specification") or {}
    properties = schema.get("properties") if isinstance(schema, Mapping) else None
    if not isinstance(properties, Mapping):
        return
    known = [str(k) for k in properties]
    for key in config:
        if key in properties or key.startswith("__"):
            continue
        near = closest(key, known)
        if near is not None or schema.get("additionalProperties") is False:
            raise ConfigError(
                f"{where}: unknown config key {key!r}",
                hint=did_you_mean(key, known, listing="the connector's config keys"),
            )
    missing = [k for k in schema.get("required") or () if k not in config]
    if missing:
        raise ConfigError(
            f"{where}: the config lacks the required key(s) {', '.join(map(repr, missing))}",
            hint=f"the connector's config keys: {', '.join(known)}",
        )
    for key, value in config.items():
        prop = properties.get(key)
        if not isinstance(prop, Mapping) or value is None:
            continue
        declared = prop.get("type")
        types = [declared] if isinstance(declared, str) else list(declared or [])
        allowed = [t for t in types if t in _JSON_TYPES]
        if not allowed or len(allowed) != len([t for t in types if t != "null"]):
            continue
        ok = any(isinstance(value, _JSON_TYPES[t]) for t in allowed)
        if isinstance(value, bool) and "boolean" not in allowed:
            ok = False
        if not ok:
            raise ConfigError(
                f"{where}: config key {key!r} must be {' or '.join(allowed)}, got {type(value).__name__} {value!r}",
                hint=str(prop.get("description") or prop.get("title") or "see the connector's spec"),
            )


def stream_key(namespace: str | None, name: str) -> str:
    """How state and messages name a stream: ``name``, or ``namespace.name``."""
    return f"{namespace}.{name}" if namespace else name


@dataclass(frozen=True)
class StreamPlan:
    """One selected stream: its entry of the configured catalog and its table's hints."""

    name: str
    namespace: str | None
    incremental: bool
    cursor: tuple[str, ...]
    primary_key: tuple[tuple[str, ...], ...]
    hints: TableHints
    configured: dict[str, Any]

    @property
    def key(self) -> str:
        """How state and messages name the stream."""
        return stream_key(self.namespace, self.name)


def select(
    discovered: Sequence[Mapping[str, Any]], streams: Sequence[str] | None, where: str
) -> list[Mapping[str, Any]]:
    """The discovered streams that ``streams`` names (all of them when None), in the order asked.

    Raises:
        ConfigError: a stream the connector does not have (with the closest one).
    """
    by_name = {str(s.get("name")): s for s in discovered}
    if streams is None:
        return list(discovered)
    if isinstance(streams, str) or not isinstance(streams, Sequence) or not streams:
        raise ConfigError(
            f"{where}: streams must be a non-empty list of stream names, got {streams!r}",
            hint=f"the connector's streams: {', '.join(by_name)}",
        )
    chosen = []
    for name in streams:
        if name not in by_name:
            raise ConfigError(
                f"{where}: the connector has no stream {name!r}",
                hint=did_you_mean(str(name), list(by_name), listing="its streams"),
            )
        chosen.append(by_name[name])
    return chosen


def plan(stream: Mapping[str, Any], *, resource: str, full_refresh: bool = False) -> StreamPlan:
    """How ``stream`` (a discovered ``AirbyteStream``) is read and loaded."""
    name = str(stream["name"])
    modes = stream.get("supported_sync_modes") or ["full_refresh"]
    cursor = tuple(stream.get("default_cursor_field") or ())
    incremental = (
        "incremental" in modes and not full_refresh and (bool(cursor) or bool(stream.get("source_defined_cursor")))
    )
    if not incremental and "full_refresh" not in modes:
        incremental = "incremental" in modes  # a stream that can only be read incrementally
    pk = tuple(tuple(str(p) for p in path) for path in stream.get("source_defined_primary_key") or () if path)
    columns: dict[str, Any] = dict(column_hints(stream.get("json_schema") or {}))
    pk_columns = [join_path(path) for path in pk]
    if incremental:
        disposition = "merge" if pk else "append"
        sync = "append_dedup" if pk else "append"
    else:
        disposition, sync = "replace", "overwrite"
    hints = build_hints(
        resource=resource,
        table_name=name,
        write_disposition=disposition,
        primary_key=pk_columns or None,
        dedup_sort={join_path(cursor): "desc"} if pk and cursor and incremental else None,
        columns=columns or None,
    )
    configured: dict[str, Any] = {
        "stream": dict(stream),
        "sync_mode": "incremental" if incremental else "full_refresh",
        "destination_sync_mode": sync,
    }
    if incremental and cursor:
        configured["cursor_field"] = list(cursor)
    if pk:
        configured["primary_key"] = [list(p) for p in pk]
    return StreamPlan(name, stream.get("namespace"), incremental, cursor, pk, hints, configured)


def configured_catalog(plans: Sequence[StreamPlan]) -> dict[str, Any]:
    """The ``ConfiguredAirbyteCatalog`` of the plans."""
    return {"streams": [p.configured for p in plans]}
