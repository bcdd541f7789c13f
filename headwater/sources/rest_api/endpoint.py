"""One endpoint of a ``rest_api`` description: its request (path, params, body, headers), the parent
fields its placeholders and ``resolve`` parameters need, and its incremental cursor parameters.

:func:`parse_endpoint` checks an ``endpoint`` table and builds the :class:`Endpoint`;
:meth:`Endpoint.pages` sends its requests through a :class:`~headwater.sources.rest_api.client.RESTClient`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, get_args
from urllib.parse import quote

from headwater import redact
from headwater.cursors.cursor import Incremental
from headwater.errors import ConfigError, FatalSourceError, did_you_mean
from headwater.sources.rest_api.client import RESTClient
from headwater.sources.rest_api.config_types import HTTPMethod
from headwater.sources.rest_api.http import ResponseAction
from headwater.sources.rest_api.paginators import make_paginator
from headwater.sources.rest_api.selectors import find, path_of

HTTP_METHODS: Final[tuple[HTTPMethod, ...]] = get_args(HTTPMethod)
ENDPOINT_KEYS = (
    "path",
    "method",
    "params",
    "json",
    "headers",
    "data_selector",
    "paginator",
    "incremental",
    "response_actions",
)
INCREMENTAL_KEYS = (
    "cursor_path",
    "start_param",
    "end_param",
    "initial_value",
    "end_value",
    "lag",
    "last_value_func",
    "primary_key",
    "on_cursor_value_missing",
    "convert",
)

_PLACEHOLDER = re.compile(r"\{resources\.([A-Za-z_][\w\-]*)\.([^{}]+)\}")
_NAME_PLACEHOLDER = re.compile(r"\{[A-Za-z_][\w.\-]*\}")  # what a mistyped placeholder looks like


def check_keys(table: Mapping[str, Any], known: tuple[str, ...], where: str) -> None:
    """Raise a :class:`ConfigError` for the first key of ``table`` not in ``known`` (with a suggestion)."""
    for key in table:
        if key not in known:
            raise ConfigError(f"{where}: unknown key {key!r}", hint=did_you_mean(key, known, listing="known keys"))


def table_of(value: Any, where: str) -> Mapping[str, Any]:
    """``value`` if it is a table (a mapping); else a :class:`ConfigError` naming ``where``."""
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be a table (a dict), got {type(value).__name__}")
    return value


# -- incremental -------------------------------------------------------------------------------------
@dataclass
class CursorParams:
    """Where an incremental cursor goes in the request."""

    cursor: Incremental
    start_param: str | None
    end_param: str | None
    convert: Callable[[Any], Any]

    def apply(self, bound: Incremental | None, params: dict[str, Any]) -> None:
        """Put the cursor's start and end values (converted) into ``params`` (nothing without a cursor)."""
        if bound is None:
            return
        if self.start_param and bound.start_value is not None:
            params[self.start_param] = self.convert(bound.start_value)
        if self.end_param and bound.end_value is not None:
            params[self.end_param] = self.convert(bound.end_value)


def _default_convert(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
            return value.isoformat().replace("+00:00", "Z")
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _incremental(config: Mapping[str, Any], start_param: str | None, where: str) -> CursorParams:
    check_keys(config, INCREMENTAL_KEYS, where)
    if "cursor_path" not in config:
        raise ConfigError(f"{where}: incremental needs cursor_path (the field of each record holding the cursor)")
    func = config.get("last_value_func", "max")
    funcs: dict[Any, Callable[..., Any]] = {"max": max, "min": min, max: max, min: min}
    if func not in funcs:
        raise ConfigError(f"{where}: last_value_func must be 'max' or 'min', got {func!r}")
    lag = config.get("lag")
    if isinstance(lag, Mapping):
        lag = dt.timedelta(**lag)
    cursor = Incremental(
        config["cursor_path"],
        initial_value=config.get("initial_value"),
        end_value=config.get("end_value"),
        last_value_func=funcs[func],
        primary_key=config.get("primary_key"),
        lag=lag,
        on_cursor_value_missing=config.get("on_cursor_value_missing", "raise"),
    )
    convert = config.get("convert", _default_convert)
    if not callable(convert):
        raise ConfigError(f"{where}: incremental.convert must be a function")
    return CursorParams(cursor, config.get("start_param", start_param), config.get("end_param"), convert)


# -- one endpoint ------------------------------------------------------------------------------------
@dataclass
class Endpoint:
    """A resource's request, with the parent fields it needs resolved per parent record."""

    name: str
    path: str
    method: str = "GET"
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    data_selector: str | None = None
    paginator: Any = None
    response_actions: tuple[ResponseAction, ...] = ()
    cursor: CursorParams | None = None
    parent: str | None = None
    resolves: dict[str, str] = field(default_factory=dict)  # param name -> parent field
    include_from_parent: tuple[str, ...] = ()

    def resolved(self, row: Mapping[str, Any] | None) -> tuple[str, dict[str, Any], Any]:
        """Path, params and body for one parent record (or for a root resource)."""
        if row is None:
            return self.path, dict(self.params), self.json

        def value(field_path: str) -> Any:
            found = path_of(field_path)(row)
            if not found or found[0] is None:
                raise FatalSourceError(
                    f"resource {self.name!r} needs field {field_path!r} of its parent {self.parent!r}, "
                    f"but a parent record has none: {str(dict(row))[:200]}",
                    hint=f"check the placeholder {{resources.{self.parent}.{field_path}}}",
                    resource=self.name,
                )
            return found[0]

        def substitute(text: str, encode: bool) -> str:
            def one(match: re.Match[str]) -> str:
                v = str(value(match.group(2)))
                return quote(v, safe="/:@") if encode else v

            return _PLACEHOLDER.sub(one, text)

        path = substitute(self.path, encode=True)
        params = {k: substitute(v, False) if isinstance(v, str) else v for k, v in self.params.items()}
        for param, field_path in self.resolves.items():
            params[param] = value(field_path)
        body = _substitute_body(self.json, lambda s: substitute(s, False))
        return path, params, body

    def pages(
        self, client: RESTClient, row: Mapping[str, Any] | None, cursor: Incremental | None, http: Any = None
    ) -> AsyncIterator[list[Any]]:
        """The pages of this endpoint (for one parent record, if a dependent resource)."""
        path, params, body = self.resolved(row)
        if self.cursor is not None:
            self.cursor.apply(cursor, params)
        return client.paginate(
            path,
            method=self.method,
            params=params,
            json=body,
            paginator=self.paginator,
            data_selector=self.data_selector,
            response_actions=self.response_actions,
            resource=self.name,
            client=http,
            headers=self.headers,
        )

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if k not in ("cursor", "response_actions"))
        return redact.redact(f"Endpoint({fields})")  # params, headers and body may hold credentials

    def parent_fields(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The parent fields of ``include_from_parent`` for ``row``, named ``_<parent>_<field>``."""
        return {f"_{self.parent}_{f.replace('.', '_')}": find(row, f) for f in self.include_from_parent}


def _substitute_body(body: Any, fn: Callable[[str], str]) -> Any:
    if isinstance(body, str):
        return fn(body)
    if isinstance(body, Mapping):
        return {k: _substitute_body(v, fn) for k, v in body.items()}
    if isinstance(body, list):
        return [_substitute_body(v, fn) for v in body]
    return body


def _parents_in(text: str, where: str, strict: bool = True) -> set[str]:
    """Parents named by ``{resources.<parent>.<field>}``; with ``strict``, other ``{name}`` is an error
    (a JSON body keeps its other braces: GraphQL queries are full of them)."""
    parents = {m.group(1) for m in _PLACEHOLDER.finditer(text)}
    for match in _NAME_PLACEHOLDER.finditer(text) if strict else ():
        inner = _PLACEHOLDER.fullmatch(match.group(0))
        if inner is None:
            raise ConfigError(
                f"{where}: unknown placeholder {match.group(0)!r}",
                hint="placeholders name a parent resource's field: {resources.<parent>.<field>}",
            )
    return parents


def _strings_in(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for v in value.values() for s in _strings_in(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings_in(v)]
    return []


def parse_endpoint(name: str, config: Any, where: str) -> Endpoint:
    """The :class:`Endpoint` of resource ``name`` from its ``endpoint`` entry (a path, a table or None).

    Raises:
        ConfigError: an unknown key, a bad method, placeholder, parameter, selector or paginator.
    """
    if config is None:
        config = {"path": name}
    if isinstance(config, str):
        config = {"path": config}
    config = table_of(config, where)
    check_keys(config, ENDPOINT_KEYS, where)
    path = config.get("path", name)
    if not isinstance(path, str) or not path:
        raise ConfigError(f"{where}.path must be a non-empty string, got {path!r}")
    method = str(config.get("method", "GET")).upper()
    if method not in HTTP_METHODS:
        raise ConfigError(f"{where}.method: unknown HTTP method {method!r}")
    params = dict(table_of(config.get("params") or {}, f"{where}.params"))
    parents = _parents_in(path, f"{where}.path")
    resolves: dict[str, str] = {}
    cursor: CursorParams | None = None
    for key, value in list(params.items()):
        if isinstance(value, Mapping) and value.get("type") == "resolve":
            check_keys(value, ("type", "resource", "field"), f"{where}.params.{key}")
            if "resource" not in value or "field" not in value:
                raise ConfigError(f"{where}.params.{key}: a resolve parameter needs resource and field")
            parents.add(value["resource"])
            resolves[key] = value["field"]
            del params[key]
        elif isinstance(value, Mapping) and value.get("type") == "incremental":
            if cursor is not None:
                raise ConfigError(f"{where}: only one incremental parameter per resource")
            cursor = _incremental({k: v for k, v in value.items() if k != "type"}, key, f"{where}.params.{key}")
            del params[key]
        elif isinstance(value, Mapping):
            raise ConfigError(
                f"{where}.params.{key}: a table parameter needs type 'resolve' or 'incremental', got {dict(value)!r}"
            )
        else:
            parents |= set().union(*(_parents_in(s, f"{where}.params.{key}") for s in _strings_in(value)))
    for s in _strings_in(config.get("json")):
        parents |= _parents_in(s, f"{where}.json", strict=False)
    if "incremental" in config:
        if cursor is not None:
            raise ConfigError(f"{where}: incremental is given both in params and as endpoint.incremental")
        cursor = _incremental(table_of(config["incremental"], f"{where}.incremental"), None, f"{where}.incremental")
    if len(parents) > 1:
        raise ConfigError(f"{where}: a resource can depend on one parent resource, this one names {sorted(parents)}")
    selector = config.get("data_selector")
    if selector is not None:
        path_of(selector)
    actions = tuple(
        ResponseAction.from_config(a, f"{where}.response_actions") for a in config.get("response_actions") or ()
    )
    headers = dict(table_of(config.get("headers") or {}, f"{where}.headers"))
    paginator = config.get("paginator")
    if paginator is not None:
        make_paginator(paginator, f"{where}.paginator")
    return Endpoint(
        name=name,
        path=path,
        method=method,
        params=params,
        json=config.get("json"),
        headers=headers,
        data_selector=selector,
        paginator=paginator,
        response_actions=actions,
        cursor=cursor,
        parent=next(iter(parents), None),
        resolves=resolves,
    )
