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
import dataclasses
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any

from headwater.cursors.cursor import Incremental
from headwater.errors import ConfigError
from headwater.schema.hints import HintArgs
from headwater.sources.rest_api.client import RESTClient, StopStream
from headwater.sources.rest_api.config_types import RESTAPIConfig
from headwater.sources.rest_api.endpoint import Endpoint, check_keys, parse_endpoint, table_of
from headwater.sources.rest_api.partitions import DateRanges, parse_partitions
from headwater.streams.resource import Resource, make_resource
from headwater.streams.source import Source

TOP_KEYS = ("name", "client", "resources", "resource_defaults", "max_nesting")
CLIENT_KEYS = ("base_url", "headers", "auth", "paginator", "timeout", "retries", "rate_limit", "concurrency")
HINT_KEYS = tuple(HintArgs.__annotations__)
RESOURCE_KEYS = ("name", "endpoint", "selected", "include_from_parent", "partitions", *HINT_KEYS)


def _merge(defaults: Mapping[str, Any], table: Mapping[str, Any]) -> dict[str, Any]:
    """``table`` over ``defaults``; nested tables (endpoint, params, headers) are merged key by key."""
    out = dict(defaults)
    for key, value in table.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping) and key != "incremental":
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


# -- resource functions ------------------------------------------------------------------------------
def _root_function(
    client: RESTClient, ep: Endpoint, ranges: DateRanges | None = None
) -> Callable[..., AsyncIterator[list[Any]]]:
    async def fetch(
        partition: Mapping[str, str] | None = None,
        incremental: Incremental | None = ep.cursor.cursor if ep.cursor else None,
    ) -> AsyncIterator[Any]:
        endpoint = ep
        if ranges is not None and partition is not None:  # one date range: its bounds join the parameters
            endpoint = dataclasses.replace(ep, params={**ep.params, **ranges.params(partition)})
        try:
            async for page in endpoint.pages(client, None, incremental):
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
    """The client of the description: a :class:`RESTClient` as it is, or one made from the ``client`` table.

    Raises:
        ConfigError: an unknown key or a bad value in the table.
    """
    if isinstance(config, RESTClient):
        return config
    table = table_of(config or {}, "client")
    check_keys(table, CLIENT_KEYS, "client")
    return RESTClient(**table)


def rest_api(config: RESTAPIConfig | Mapping[str, Any]) -> RESTSource:
    """A source with one stream per resource of ``config`` (see the module docstring and docs/rest-api.md).

    Args:
        config: the description: plain data (a dict, a TOML table). Annotated as
            :class:`~headwater.sources.rest_api.config_types.RESTAPIConfig`, mypy checks it too.

    Raises:
        ConfigError: any problem in the description, raised here, before any request is sent.
    """
    config = table_of(config, "the rest_api config")
    check_keys(config, TOP_KEYS, "the rest_api config")
    client = make_client(config.get("client"))
    defaults = table_of(config.get("resource_defaults") or {}, "resource_defaults")
    check_keys(defaults, RESOURCE_KEYS, "resource_defaults")
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
        entry = table_of(entry, where)
        check_keys(entry, RESOURCE_KEYS, where)
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
        ep = parse_endpoint(name, endpoint, f"{where}.endpoint")
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
        ranges = parse_partitions(merged["partitions"], f"{name}.partitions") if "partitions" in merged else None
        if ep.parent is None:
            resource = make_resource(_root_function(client, ep, ranges), name=name, selected=selected, **hints)
            if ranges is not None:
                resource.partitions = list(ranges.ranges)
        else:
            if ep.parent not in specs:
                raise ConfigError(
                    f"resource {name!r} depends on {ep.parent!r}, which is not among the resources",
                    hint=f"resources: {', '.join(specs)}",
                )
            if ranges is not None:
                raise ConfigError(f"resource {name!r}: partitions are for resources without a parent")
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


def rest_api_source(
    client: Mapping[str, Any] | RESTClient,
    resources: list[str | Mapping[str, Any]],
    resource_defaults: Mapping[str, Any] | None = None,
    *,
    name: str = "rest_api",
    max_nesting: int | None = None,
) -> RESTSource:
    """A source with one stream per endpoint of a paginated JSON API (the rest_api description as keywords).

    This is the form the source registry calls (``headwater.sources.make("rest_api", config)``) and
    flows files use: ``[sources.ID.config]`` holds ``client``, ``resources``... as tables.

    Args:
        client: the HTTP client: ``base_url`` (required), ``headers``, ``auth`` (``{type = "bearer",
            token = "..."}``...), ``paginator``, ``timeout``, ``retries``, ``rate_limit``, ``concurrency``.
        resources: the endpoints, one stream each: names (``"users"``, GET ``users``) or tables with
            ``name``, ``endpoint`` (``path``, ``params``, ``data_selector``, ``incremental``...) and hints.
        resource_defaults: keys every resource starts from (``primary_key``, ``write_disposition``,
            ``endpoint.params``...); a resource's own keys win.
        name: the source's name (the schema of its tables).
        max_nesting: levels of nesting unpacked into child tables before values are stored as JSON.

    Raises:
        ConfigError: any problem in the description, raised before any request is sent.
    """
    config: dict[str, Any] = {"name": name, "client": client, "resources": resources}
    if resource_defaults is not None:
        config["resource_defaults"] = resource_defaults
    if max_nesting is not None:
        config["max_nesting"] = max_nesting
    return rest_api(config)


class RESTSource(Source):
    """A source made by :func:`rest_api`; :attr:`client` serves hand-written resources of a plugin too.

    Args:
        name: the source's name (the schema of its tables).
        resources: its resources, one per endpoint.
        client: the client every resource sends its requests with.
        max_nesting: levels of nesting unpacked before values are stored as JSON.
    """

    def __init__(
        self, name: str, resources: Iterable[Resource], client: RESTClient, *, max_nesting: int | None = None
    ) -> None:
        super().__init__(name, resources, max_nesting=max_nesting)
        self.client = client

    def with_resources(self, *names: str) -> Source:
        """A copy of the source that extracts only the resources ``names``, sharing the client."""
        picked = super().with_resources(*names)
        return RESTSource(picked.name, picked.resources.values(), self.client, max_nesting=self.max_nesting)
