"""A Singer catalog: discovered (``--discover``) or given, its streams, and the streams selected.

A catalog is ``{"streams": [{"tap_stream_id", "stream", "schema", "key_properties", "metadata"}...]}``.
Selection is written the way both generations of taps read it: ``selected: true`` in the metadata
of the stream's breadcrumb ``[]`` (and of each property chosen, ``false`` for the others), and the
legacy ``"selected": true`` on the stream's schema. :func:`select` never changes the catalog it is
given; it returns a copy.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from headwater.errors import ConfigError, SourceError, did_you_mean

#: ``select=``: stream names (``"orders"``, ``"orders.id"`` for one property), or {stream: [properties]}
Selection = Sequence[str] | Mapping[str, Sequence[str] | None]


@dataclass(frozen=True)
class StreamInfo:
    """What the catalog says of one stream."""

    id: str
    schema: Mapping[str, Any]
    key_properties: tuple[str, ...]
    replication_key: str | None
    replication_method: str | None


def load(catalog: Mapping[str, Any] | str | os.PathLike[str]) -> dict[str, Any]:
    """A catalog given as a dict or as the path of a JSON file, checked to hold a list of streams.

    Raises:
        ConfigError: the file is missing or not JSON, or there is no ``streams`` list.
    """
    if isinstance(catalog, str | os.PathLike):
        path = Path(catalog).expanduser()
        try:
            data = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise ConfigError(
                f"singer: could not read the catalog {str(path)!r}: {exc}",
                hint="give the path of a JSON catalog (what the tap writes with --discover) or a dict",
            ) from exc
        where = str(path)
    elif isinstance(catalog, Mapping):
        data, where = copy.deepcopy(dict(catalog)), "catalog="
    else:
        raise ConfigError(f"singer: catalog must be a dict or a path, got {type(catalog).__name__}")
    return checked(data, where)


def checked(data: Any, where: str) -> dict[str, Any]:
    """``data`` if it is a catalog (a dict with a list of stream dicts that have an id)."""
    streams = data.get("streams") if isinstance(data, dict) else None
    if not isinstance(streams, list) or not all(isinstance(s, dict) and stream_id(s) for s in streams):
        raise ConfigError(
            f"singer: {where} is not a Singer catalog (a 'streams' list whose streams have a 'tap_stream_id')",
            hint="run the tap with --discover to see what a catalog looks like",
        )
    return data


def parse_discovered(output: bytes, tap: str) -> dict[str, Any]:
    """The catalog a tap wrote with ``--discover`` (one JSON document, often on many lines)."""
    try:
        data = orjson.loads(output)
    except orjson.JSONDecodeError:
        data = _last_json_document(output)
    if data is None:
        raise SourceError(
            f"{tap} --discover wrote no JSON catalog on stdout ({len(output)} bytes)",
            hint="check the tap's config, or pass catalog= with a catalog written by hand",
        )
    return checked(data, f"the catalog {tap} discovered")


def _last_json_document(output: bytes) -> Any:
    """Some taps print log lines on stdout before the catalog: the JSON document that starts at the
    first line beginning with ``{``."""
    text = output.decode("utf-8", "replace")
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("{"):
            try:
                return json.loads("\n".join(lines[i:]))
            except json.JSONDecodeError:
                continue
    return None


def stream_id(stream: Mapping[str, Any]) -> str:
    """A catalog stream's id (``tap_stream_id``, else ``stream``)."""
    return str(stream.get("tap_stream_id") or stream.get("stream") or "")


def streams(catalog: Mapping[str, Any]) -> dict[str, StreamInfo]:
    """The catalog's streams by id."""
    out = {}
    for s in catalog["streams"]:
        meta = _root_metadata(s)
        key = meta.get("table-key-properties", s.get("key_properties")) or ()
        rkey = meta.get("replication-key", s.get("replication_key"))
        out[stream_id(s)] = StreamInfo(
            id=stream_id(s),
            schema=s.get("schema") or {},
            key_properties=tuple(str(k) for k in key),
            replication_key=str(rkey) if rkey else None,
            replication_method=meta.get("replication-method", s.get("replication_method")),
        )
    return out


def check_selection(select: Selection | None, catalog: Mapping[str, Any]) -> dict[str, list[str] | None]:
    """``select=`` as {stream: properties or None (all)}, every stream and property checked.

    Raises:
        ConfigError: an unknown stream or property (with the closest name), or a malformed selection.
    """
    known = {stream_id(s): s for s in catalog["streams"]}
    if select is None:
        return dict.fromkeys(known)
    wanted: dict[str, list[str] | None] = {}
    if isinstance(select, str):
        select = [select]
    if isinstance(select, Mapping):
        for name, props in select.items():
            if props is not None and (isinstance(props, str) or not isinstance(props, Sequence)):
                raise ConfigError(f"singer: select[{name!r}] must be a list of property names or None")
            wanted[str(name)] = None if props is None else [str(p) for p in props]
    elif isinstance(select, Sequence):
        for item in select:
            if not isinstance(item, str) or not item:
                raise ConfigError(f"singer: select holds {item!r}; give stream names (or 'stream.property')")
            name, dot, prop = item.partition(".") if item not in known else (item, "", "")
            if not dot:
                wanted[name] = None
            elif wanted.get(name, []) is not None:
                wanted.setdefault(name, []).append(prop)  # type: ignore[union-attr]
    else:
        raise ConfigError(f"singer: select must be a list of stream names or a dict, got {type(select).__name__}")
    for name, props in wanted.items():
        if name not in known:
            raise ConfigError(
                f"singer: the tap has no stream {name!r}",
                hint=did_you_mean(name, known, listing="its streams"),
                resource=name,
            )
        available = (known[name].get("schema") or {}).get("properties") or {}
        for prop in props or ():
            if prop not in available:
                raise ConfigError(
                    f"singer: stream {name!r} has no property {prop!r}",
                    hint=did_you_mean(prop, available, listing="its properties"),
                    resource=name,
                )
    if not wanted:
        raise ConfigError("singer: select= selects no stream", hint=f"its streams: {', '.join(known)}")
    return wanted


def select(catalog: Mapping[str, Any], chosen: Mapping[str, list[str] | None]) -> dict[str, Any]:
    """A copy of ``catalog`` with the streams (and properties) of ``chosen`` marked selected, the
    others not."""
    out = copy.deepcopy(dict(catalog))
    for s in out["streams"]:
        sid = stream_id(s)
        on = sid in chosen
        props = chosen.get(sid)
        metadata = s.setdefault("metadata", [])
        _entry(metadata, [])["selected"] = on
        if isinstance(s.get("schema"), dict):
            s["schema"]["selected"] = on
        if on and props is not None:
            for name in (s.get("schema") or {}).get("properties") or {}:
                entry = _entry(metadata, ["properties", name])
                if entry.get("inclusion") != "automatic":
                    entry["selected"] = name in props
    return out


def _entry(metadata: list[dict[str, Any]], breadcrumb: list[str]) -> dict[str, Any]:
    for m in metadata:
        if isinstance(m, dict) and list(m.get("breadcrumb", ())) == breadcrumb:
            inner = m.setdefault("metadata", {})
            assert isinstance(inner, dict)
            return inner
    inner = {}
    metadata.append({"breadcrumb": breadcrumb, "metadata": inner})
    return inner


def _root_metadata(stream: Mapping[str, Any]) -> dict[str, Any]:
    for m in stream.get("metadata") or ():
        if isinstance(m, dict) and list(m.get("breadcrumb", ())) == [] and isinstance(m.get("metadata"), dict):
            return m["metadata"]
    return {}
