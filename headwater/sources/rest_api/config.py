"""``rest_api(config)``: a source with one stream per endpoint, described as plain data.

The description is a dict (or a TOML table: every value can be plain data)::

    {
        "client": {"base_url": "https://api.example.com/v1/", "auth": {"type": "bearer", "token": "..."},
                   "paginator": "header_link", "rate_limit": 10, "concurrency": 8},
        "resource_defaults": {"primary_key": "id", "write_disposition": "merge",
                              "endpoint": {"params": {"per_page": 100}}},
        "resources": [
            "users",                                   # GET users, records auto-detected
            {"name": "repos", "endpoint": {"path": "orgs/acme/repos", "data_selector": "$"}},
            {"name": "issues",                         # one call per repo: a dependent resource
             "endpoint": {"path": "repos/{resources.repos.full_name}/issues",
                          "incremental": {"cursor_path": "updated_at", "start_param": "since",
                                          "initial_value": "2024-01-01T00:00:00Z"}},
             "include_from_parent": ["id"]},
        ],
    }

See docs/rest-api.md for every key.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from headwater import redact
from headwater.cursors.cursor import Incremental
from headwater.errors import ConfigError, FatalSourceError, did_you_mean
from headwater.schema.hints import HintArgs
from headwater.sources.rest_api.client import RESTClient, StopStream
from headwater.sources.rest_api.http import ResponseAction
from headwater.sources.rest_api.paginators import make_paginator
from headwater.sources.rest_api.selectors import find, path_of
from headwater.streams.resource import Resource, make_resource
from headwater.streams.source import Source

TOP_KEYS = ("name", "client", "resources", "resource_defaults", "max_nesting")
CLIENT_KEYS = ("base_url", "headers", "auth", "paginator", "timeout", "retries", "rate_limit", "concurrency")
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
HINT_KEYS = tuple(HintArgs.__annotations__)
RESOURCE_KEYS = ("name", "endpoint", "selected", "include_from_parent", *HINT_KEYS)
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


def _check_keys(table: Mapping[str, Any], known: tuple[str, ...], where: str) -> None:
    for key in table:
        if key not in known:
            raise ConfigError(f"{where}: unknown key {key!r}", hint=did_you_mean(key, known, listing="known keys"))


def _table(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be a table (a dict), got {type(value).__name__}")
    return value


def _merge(defaults: Mapping[str, Any], table: Mapping[str, Any]) -> dict[str, Any]:
    """``table`` over ``defaults``; nested tables (endpoint, params, headers) are merged key by key."""
    out = dict(defaults)
    for key, value in table.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping) and key != "incremental":
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


# -- incremental -------------------------------------------------------------------------------------
@dataclass
class CursorParams:
    """Where an incremental cursor goes in the request."""

    cursor: Incremental
    start_param: str | None
    end_param: str | None
    convert: Callable[[Any], Any]

    def apply(self, bound: Incremental | None, params: dict[str, Any]) -> None:
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
    _check_keys(config, INCREMENTAL_KEYS, where)
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


def _endpoint(name: str, config: Any, where: str) -> Endpoint:
    if config is None:
        config = {"path": name}
    if isinstance(config, str):
        config = {"path": config}
    config = _table(config, where)
    _check_keys(config, ENDPOINT_KEYS, where)
    path = config.get("path", name)
    if not isinstance(path, str) or not path:
        raise ConfigError(f"{where}.path must be a non-empty string, got {path!r}")
    method = str(config.get("method", "GET")).upper()
    if method not in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"):
        raise ConfigError(f"{where}.method: unknown HTTP method {method!r}")
    params = dict(_table(config.get("params") or {}, f"{where}.params"))
    parents = _parents_in(path, f"{where}.path")
    resolves: dict[str, str] = {}
    cursor: CursorParams | None = None
    for key, value in list(params.items()):
        if isinstance(value, Mapping) and value.get("type") == "resolve":
            _check_keys(value, ("type", "resource", "field"), f"{where}.params.{key}")
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
        cursor = _incremental(_table(config["incremental"], f"{where}.incremental"), None, f"{where}.incremental")
    if len(parents) > 1:
        raise ConfigError(f"{where}: a resource can depend on one parent resource, this one names {sorted(parents)}")
    selector = config.get("data_selector")
    if selector is not None:
        path_of(selector)
    actions = tuple(
        ResponseAction.from_config(a, f"{where}.response_actions") for a in config.get("response_actions") or ()
    )
    headers = dict(_table(config.get("headers") or {}, f"{where}.headers"))
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


# -- resource functions ------------------------------------------------------------------------------
def _root_function(client: RESTClient, ep: Endpoint) -> Callable[..., AsyncIterator[list[Any]]]:
    async def fetch(incremental: Incremental | None = ep.cursor.cursor if ep.cursor else None) -> AsyncIterator[Any]:
        try:
            async for page in ep.pages(client, None, incremental):
                yield page
        except StopStream:
            return

    fetch.__name__ = fetch.__qualname__ = ep.name
    return fetch


def _rows_of(item: Any) -> list[Mapping[str, Any]]:
    if isinstance(item, Mapping):
        return [item]
    if isinstance(item, list | tuple):
        return [r for r in item if isinstance(r, Mapping)]
    to_pylist = getattr(item, "to_pylist", None)  # an Arrow table made by a map step
    if to_pylist is not None:
        return list(to_pylist())
    return []


def _child_function(client: RESTClient, ep: Endpoint) -> Callable[..., AsyncIterator[list[Any]]]:
    async def fetch_children(
        parent_item: Any, incremental: Incremental | None = ep.cursor.cursor if ep.cursor else None
    ) -> AsyncIterator[Any]:
        rows = _rows_of(parent_item)

        async def one(row: Mapping[str, Any], http: Any) -> tuple[list[list[Any]], bool]:
            extra = ep.parent_fields(row)
            pages: list[list[Any]] = []
            try:
                async for page in ep.pages(client, row, incremental, http):
                    if extra:
                        page = [{**r, **extra} if isinstance(r, Mapping) else {"value": r, **extra} for r in page]
                    pages.append(page)
            except StopStream:
                return pages, True
            return pages, False

        async with client.open() as http:
            tasks: list[asyncio.Task[tuple[list[list[Any]], bool]]] = []
            try:
                queued = iter(rows)
                for row in queued:
                    tasks.append(asyncio.ensure_future(one(row, http)))
                    if len(tasks) >= client.concurrency:
                        break
                done = 0
                while done < len(tasks):
                    pages, stop = await tasks[done]
                    done += 1
                    following = next(queued, None)
                    if following is not None:
                        tasks.append(asyncio.ensure_future(one(following, http)))
                    for page in pages:
                        yield page
                    if stop:
                        return
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    fetch_children.__name__ = fetch_children.__qualname__ = ep.name
    return fetch_children


# -- the source --------------------------------------------------------------------------------------
def make_client(config: Any) -> RESTClient:
    if isinstance(config, RESTClient):
        return config
    table = _table(config or {}, "client")
    _check_keys(table, CLIENT_KEYS, "client")
    return RESTClient(**table)


def rest_api(config: Mapping[str, Any]) -> RESTSource:
    """A source with one stream per resource of ``config`` (see the module docstring and docs/rest-api.md).

    Every problem in the description is a :class:`~headwater.errors.ConfigError` raised here, before
    any request is sent.
    """
    config = _table(config, "the rest_api config")
    _check_keys(config, TOP_KEYS, "the rest_api config")
    client = make_client(config.get("client"))
    defaults = _table(config.get("resource_defaults") or {}, "resource_defaults")
    _check_keys(defaults, RESOURCE_KEYS, "resource_defaults")
    if "name" in defaults:
        raise ConfigError("resource_defaults: name belongs to each resource, not to the defaults")
    entries = config.get("resources")
    if not isinstance(entries, list) or not entries:
        raise ConfigError("the rest_api config needs resources: a non-empty list of names or tables")

    specs: dict[str, tuple[dict[str, Any], Endpoint]] = {}
    for i, entry in enumerate(entries):
        where = f"resources[{i}]"
        if isinstance(entry, str):
            entry = {"name": entry}
        entry = _table(entry, where)
        _check_keys(entry, RESOURCE_KEYS, where)
        if isinstance(entry.get("endpoint"), str):
            entry = {**entry, "endpoint": {"path": entry["endpoint"]}}
        merged = _merge(defaults, entry)
        name = merged.get("name")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where} needs a name")
        where = f"resources[{i}] ({name!r})"
        if name in specs:
            raise ConfigError(f"{where}: two resources are named {name!r}")
        endpoint = merged.get("endpoint")
        if isinstance(endpoint, Mapping) and "path" not in endpoint:
            endpoint = {**endpoint, "path": name}
        ep = _endpoint(name, endpoint, f"{where}.endpoint")
        include = merged.get("include_from_parent") or ()
        if isinstance(include, str):
            include = (include,)
        if include and ep.parent is None:
            raise ConfigError(f"{where}: include_from_parent needs a parent resource (a {{resources...}} placeholder)")
        ep.include_from_parent = tuple(include)
        specs[name] = (merged, ep)

    built: dict[str, Resource] = {}

    def build(name: str, chain: tuple[str, ...] = ()) -> Resource:
        if name in built:
            return built[name]
        if name in chain:
            raise ConfigError(f"resources depend on each other in a cycle: {' -> '.join((*chain, name))}")
        merged, ep = specs[name]
        hints: dict[str, Any] = {k: merged[k] for k in HINT_KEYS if k in merged}
        selected = merged.get("selected", True)
        if ep.parent is None:
            resource = make_resource(_root_function(client, ep), name=name, selected=selected, **hints)
        else:
            if ep.parent not in specs:
                raise ConfigError(
                    f"resource {name!r} depends on {ep.parent!r}, which is not among the resources",
                    hint=f"resources: {', '.join(specs)}",
                )
            parent = build(ep.parent, (*chain, name))
            resource = make_resource(
                _child_function(client, ep), name=name, selected=selected, parent=parent, transformer=True, **hints
            )
        built[name] = resource
        return resource

    for name in specs:
        build(name)
    return RESTSource(
        str(config.get("name", "rest_api")), built.values(), client, max_nesting=config.get("max_nesting")
    )


class RESTSource(Source):
    """A source made by :func:`rest_api`; :attr:`client` serves hand-written resources of a plugin too."""

    def __init__(
        self, name: str, resources: Iterable[Resource], client: RESTClient, *, max_nesting: int | None = None
    ) -> None:
        super().__init__(name, resources, max_nesting=max_nesting)
        self.client = client

    def with_resources(self, *names: str) -> Source:
        picked = super().with_resources(*names)
        return RESTSource(picked.name, picked.resources.values(), self.client, max_nesting=self.max_nesting)
