"""Every name a user (or the data) gives Headwater is checked here, once, at the edge.

Names reach three kinds of sinks: file paths (working folders, package folders ``data/<table>/``,
files/Delta/Iceberg locations), SQL identifiers and SQL string literals. The rules:

=================  ==================================================================================
name               rule
=================  ==================================================================================
pipeline           ASCII letters, digits, ``_``, ``-``, ``.``; starts with a letter, digit or ``_``
                   (so never ``.`` or ``..``); at most 200 bytes. It names a folder and a file.
source / schema    any characters but control characters, ``/`` and ``\\``; not ``.``/``..``, no
                   leading ``.`` or surrounding spaces; Unicode NFC; at most 200 bytes. It names
                   ``schemas/<name>.json``.
dataset            letters and digits of any script, ``_`` and ``-`` (one SQL identifier, one
                   folder: no dots, slashes, quotes or spaces); Unicode NFC; at most 200 bytes, or
                   the destination's identifier limit (63 on PostgreSQL).
table (declared)   ``table_name=`` and resource names follow the naming convention (``snake_case``);
                   a name that would start with ``_hw_`` (reserved for Headwater's tables) or
                   exceed 200 bytes is refused with a :class:`~headwater.errors.ConfigError`.
table (from data)  a ``table_name`` function's result and child tables follow the naming convention
                   too, but are never refused: ``_hw_x`` becomes ``hw_x`` and a name over 200
                   bytes is shortened deterministically (its first bytes, ``_`` and 8 hex digits of
                   its SHA-1), so the same data always lands in the same table.
layout             (files destination) a relative path: no ``..`` or ``.`` segments, no empty
                   segments, no backslashes, no control characters.
=================  ==================================================================================

Everything downstream builds paths and SQL only from names that went through these functions, and
still quotes every identifier (:func:`quote_identifier`) and escapes every string literal
(:func:`quote_literal`): a name is safe because it was validated *and* because it is escaped.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Final

from headwater.errors import ConfigError, StateError
from headwater.schema.naming import PATH_SEPARATOR, SYSTEM_PREFIX, join_path, snake_case

log = logging.getLogger("headwater")

#: the longest name (in UTF-8 bytes) that becomes a file or folder name: file systems allow 255
#: bytes per component, and a files layout may add a load id and an extension to a table name
MAX_NAME_BYTES: Final = 200

_PIPELINE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")
_DATASET = re.compile(r"[\w\-]+")


# -- helpers ---------------------------------------------------------------------------------------


def _text(value: object, what: str, hint: str, **where: str | None) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{what} must be a non-empty string, got {value!r}", hint=hint, **where)
    return value


def _control(value: str) -> str | None:
    """The first control character (NUL, newline, tab...) in ``value``, or None."""
    return next((c for c in value if unicodedata.category(c) in ("Cc", "Cf", "Cs")), None)


def _too_long(value: str, limit: int) -> bool:
    return len(value.encode("utf-8", "surrogatepass")) > limit


def shorten(name: str, limit: int = MAX_NAME_BYTES) -> str:
    """``name``, or a deterministic shortening of it that fits in ``limit`` bytes (UTF-8): its
    first bytes (whole characters), ``_`` and 8 hex digits of the SHA-1 of the whole name."""
    raw = name.encode("utf-8", "surrogatepass")
    if len(raw) <= limit:
        return name
    digest = hashlib.sha1(raw).hexdigest()[:8]
    head = raw[: limit - 9].decode("utf-8", errors="ignore")  # whole characters only
    return f"{head}_{digest}"


# -- names of things -------------------------------------------------------------------------------


def pipeline_name(value: object) -> str:
    """A valid pipeline name, or a ConfigError saying why not (it names a folder and a file)."""
    hint = "use ASCII letters, digits, '_', '-' and '.', starting with a letter, digit or '_' (e.g. 'github_events')"
    name = _text(value, "a pipeline name", hint)
    if not _PIPELINE.fullmatch(name):
        raise ConfigError(f"invalid pipeline name {name!r}: it names a folder and a file", hint=hint)
    if _too_long(name, MAX_NAME_BYTES):
        raise ConfigError(f"the pipeline name is longer than {MAX_NAME_BYTES} bytes", hint=hint, pipeline=name[:40])
    return name


def source_name(value: object, *, what: str = "source") -> str:
    """A valid source (schema) name in NFC, or a ConfigError (it names ``schemas/<name>.json``)."""
    hint = f"give the {what} a plain name such as 'github' (@hw.source(name=...) or run(schema_name=...))"
    name = unicodedata.normalize("NFC", _text(value, f"a {what} name", hint))
    bad = _control(name)
    problem = None
    if bad is not None:
        problem = f"it holds the control character {bad!r}"
    elif "/" in name or "\\" in name:
        problem = "it holds a path separator"
    elif name.startswith(".") or name != name.strip():
        problem = "it starts with '.' or has surrounding spaces"
    elif _too_long(name, MAX_NAME_BYTES):
        problem = f"it is longer than {MAX_NAME_BYTES} bytes"
    if problem is not None:
        raise ConfigError(f"invalid {what} name {name[:80]!r}: {problem}", hint=hint)
    return name


def resource_name(value: object) -> str:
    """A valid resource name: a non-empty string without control characters."""
    hint = "name the resource with @hw.resource(name=...)"
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"a resource needs a non-empty name, got {value!r}", hint=hint)
    bad = _control(value)
    if bad is not None:
        raise ConfigError(f"invalid resource name {value[:80]!r}: it holds the control character {bad!r}", hint=hint)
    return value


def dataset_name(value: object, *, max_bytes: int | None = None, what: str = "dataset") -> str:
    """A valid dataset name in NFC, or a ConfigError. A dataset is one SQL identifier (a schema,
    an Iceberg namespace) and one folder (files, Delta), so it is one plain word."""
    limit = min(MAX_NAME_BYTES, max_bytes) if max_bytes else MAX_NAME_BYTES
    hint = f"use letters, digits, '_' and '-' (e.g. 'raw'), at most {limit} bytes"
    name = unicodedata.normalize("NFC", _text(value, f"a {what} name", hint))
    if not _DATASET.fullmatch(name):
        raise ConfigError(
            f"invalid {what} name {name[:80]!r}: it names a schema and a folder, so it cannot hold dots, "
            "slashes, quotes, spaces or control characters",
            hint=hint,
        )
    if _too_long(name, limit):
        raise ConfigError(f"the {what} name {name[:40]!r}... is longer than {limit} bytes", hint=hint)
    return name


def default_dataset(pipeline: str, reserved: Iterable[str] = ()) -> str:
    """The dataset of a pipeline that names none: ``<pipeline>_dataset``, never equal (ignoring
    case) to a name in ``reserved`` (a DuckDB file's catalog name, which would make ``name.table``
    ambiguous in SQL): then ``<pipeline>_dataset_2``..."""
    base = shorten(snake_case(pipeline), MAX_NAME_BYTES - 12) + "_dataset"
    taken = {r.casefold() for r in reserved}
    candidate, n = base, 2
    while candidate.casefold() in taken:
        candidate, n = f"{base}_{n}", n + 1
    return candidate


def table_name(raw: object, *, resource: str | None = None) -> str:
    """A declared table name (``table_name=``, or a resource's name) as the naming convention
    makes it; a ConfigError if it would take the reserved ``_hw_`` prefix or exceed the limit."""
    if not isinstance(raw, str) or not raw.strip():
        raise ConfigError(f"table_name must not be empty (got {raw!r})", resource=resource)
    bad = _control(raw)
    if bad is not None:
        raise ConfigError(
            f"the table name {raw[:80]!r} holds the control character {bad!r}",
            hint="name the table with letters, digits and '_'",
            resource=resource,
        )
    name = snake_case(raw)
    if name.startswith(SYSTEM_PREFIX):
        raise ConfigError(
            f"the table name {raw!r} starts with {SYSTEM_PREFIX!r}, which is reserved for Headwater's own tables",
            hint=f"name the table otherwise, e.g. table_name={'hw_' + name[len(SYSTEM_PREFIX) :]!r} (or leave "
            "the resource out: source.with_resources(...))",
            resource=resource,
        )
    if _too_long(name, MAX_NAME_BYTES):
        raise ConfigError(
            f"the table name {name[:40]!r}... is longer than {MAX_NAME_BYTES} bytes (it names folders and files)",
            hint="give the table a shorter name with table_name=",
            resource=resource,
        )
    return name


def data_table_name(raw: str) -> str:
    """A table name that came from the data (a ``table_name`` function's result): the naming
    convention, then the reserved prefix taken off (``_hw_x`` -> ``hw_x``) and the length capped,
    deterministically, so that the same value always names the same table."""
    name = snake_case(raw)
    if name.startswith(SYSTEM_PREFIX):
        renamed = name[1:]
        log.warning("table name %r from the data takes the reserved prefix %r; using %r", raw, SYSTEM_PREFIX, renamed)
        name = renamed
    return _capped(name)


def child_table_name(parent: str, path: Iterable[str], taken: Collection[str]) -> str:
    """The name of the child table of ``parent`` for the list at ``path``: ``parent__a__b``,
    capped in length, made distinct from ``taken`` with ``_2``, ``_3``..."""
    candidate = _capped(parent + PATH_SEPARATOR + join_path(snake_case(p) for p in path))
    if candidate.startswith(SYSTEM_PREFIX):  # only under a system parent, which has no children
        candidate = candidate[1:]
    if candidate not in taken:
        return candidate
    n = 2
    while _capped(f"{candidate}_{n}") in taken:
        n += 1
    return _capped(f"{candidate}_{n}")


def _capped(name: str) -> str:
    short = shorten(name, MAX_NAME_BYTES)
    if short != name:
        log.warning("table name %s... is longer than %d bytes; using %r", name[:40], MAX_NAME_BYTES, short)
    return short


def layout(value: object) -> str:
    """A files-destination layout: a relative path below the dataset folder, or a ConfigError."""
    hint = "e.g. '{table}/{load_id}.{file_id}.{ext}' (relative, '/' between folders)"
    text = _text(value, "a layout", hint)
    bad = _control(text)
    problem = None
    if bad is not None:
        problem = f"it holds the control character {bad!r}"
    elif "\\" in text:
        problem = "it holds a backslash (use '/')"
    elif text.startswith("/") or re.match(r"^[A-Za-z]:", text) or "://" in text:
        problem = "it is absolute"
    elif any(part in ("", ".", "..") for part in text.split("/")):
        problem = "it has an empty, '.' or '..' segment"
    if problem is not None:
        raise ConfigError(f"invalid layout {text!r}: {problem}", hint=hint)
    return text


def schema_file_name(name: str, existing: Iterable[str]) -> str:
    """The file name of schema ``name`` in a working folder, refused when another schema there
    differs from it only in case (a case-insensitive file system would make them one file)."""
    checked = source_name(name, what="schema")
    for other in existing:
        if other != checked and other.casefold() == checked.casefold():
            raise ConfigError(
                f"schema {checked!r} differs only in case from schema {other!r} of the same pipeline",
                hint="rename one of the sources: their schema files would be one file on case-insensitive disks",
            )
    return f"{checked}.json"


# -- SQL -------------------------------------------------------------------------------------------


def quote_identifier(name: str) -> str:
    """``name`` as a double-quoted SQL identifier (embedded quotes doubled)."""
    if "\x00" in name:
        raise ConfigError(f"an SQL identifier cannot hold a NUL character: {name!r}")
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """``text`` as a single-quoted SQL string literal (embedded quotes doubled)."""
    if "\x00" in text:
        raise ConfigError(f"an SQL string cannot hold a NUL character: {text!r}")
    return "'" + text.replace("'", "''") + "'"


# -- paths -----------------------------------------------------------------------------------------


def inside(root: Path, *parts: str) -> Path:
    """``root / parts...``, refused (StateError) if it would leave ``root``: the last line of
    defence behind the name rules above."""
    base = root.resolve()
    target = base.joinpath(*parts).resolve()
    if target != base and base not in target.parents:
        raise StateError(
            f"refusing to use {target}: it is outside {base}",
            hint="a name holds a path (an absolute path or '..'); rename it",
        )
    return target
