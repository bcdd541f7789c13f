"""The shape of a ``rest_api`` description, as ``TypedDict`` types.

:func:`~headwater.sources.rest_api.rest_api` takes any mapping (a TOML table, JSON) and checks every
key and value when called. Annotating a description written in Python as :class:`RESTAPIConfig`
lets mypy check it before that, misspelled dispositions and merge strategies included::

    config: RESTAPIConfig = {
        "client": {"base_url": "https://api.example.com/v1/"},
        "resources": [{"name": "users", "primary_key": "id", "write_disposition": "merge"}],
    }
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from headwater.sources.hints import ResourceHints

if TYPE_CHECKING:
    from headwater.sources.rest_api.client import RESTClient

HTTPMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


class ClientConfig(TypedDict, total=False):
    """The ``client`` table: how to reach the API (see :class:`~headwater.sources.rest_api.RESTClient`).

    Attributes:
        base_url: the prefix of relative paths (``http://`` or ``https://``).
        headers: sent with every request.
        auth: a table with ``type`` (``bearer``, ``api_key``, ``http_basic``, ``oauth2_client_credentials``)
            and its fields, or an auth object.
        paginator: the default paginator: a name, a table with ``type``, or a Paginator.
        timeout: seconds one attempt may take, or ``{connect, read, total}``.
        retries: a number of attempts, or ``{attempts, backoff, max_backoff, max_retry_after, statuses}``.
        rate_limit: at most this many requests per second, shared by the whole source.
        concurrency: requests in flight at once, across the source.
    """

    base_url: str
    headers: Mapping[str, str]
    auth: Any
    paginator: Any
    timeout: float | Mapping[str, float]
    retries: int | Mapping[str, Any]
    rate_limit: float | None
    concurrency: int


class IncrementalConfig(TypedDict, total=False):
    """An endpoint's ``incremental`` table: the cursor and the request parameters that carry it.

    Attributes:
        cursor_path: the field of each record holding the cursor (required).
        start_param: the query parameter that gets the cursor's start value.
        end_param: the query parameter that gets the cursor's end value.
        initial_value: the start value of the first run.
        end_value: read up to this value (a backfill).
        lag: how far back each run starts (seconds, or ``timedelta`` keyword arguments).
        last_value_func: ``"max"`` (default) or ``"min"``.
        primary_key: the key that tells records with the same cursor value apart.
        on_cursor_value_missing: what a record without the cursor does (``"raise"`` by default).
        convert: turns a cursor value into the parameter's value (default: ISO 8601 for dates).
    """

    cursor_path: str
    start_param: str
    end_param: str
    initial_value: Any
    end_value: Any
    lag: float | dt.timedelta | Mapping[str, float]
    last_value_func: Literal["max", "min"] | Callable[..., Any]
    primary_key: str | Sequence[str]
    on_cursor_value_missing: Literal["raise", "include", "exclude"]
    convert: Callable[[Any], Any]


class EndpointConfig(TypedDict, total=False):
    """A resource's ``endpoint`` table: its request.

    Attributes:
        path: the path after the client's ``base_url`` (placeholders name a parent's fields).
        method: the HTTP method (``GET`` by default).
        params: query parameters; a table value is a ``resolve`` or an ``incremental`` parameter.
        json: the JSON body.
        headers: headers of this endpoint's requests.
        data_selector: the JSONPath of the records in a response.
        paginator: this endpoint's paginator (default: the client's).
        incremental: the cursor (see :class:`IncrementalConfig`).
        response_actions: what to do with some responses (``{status_code, content, action}``).
    """

    path: str
    method: HTTPMethod
    params: Mapping[str, Any]
    json: Any
    headers: Mapping[str, str]
    data_selector: str
    paginator: Any
    incremental: IncrementalConfig
    response_actions: Sequence[Mapping[str, Any]]


class ResourceConfig(ResourceHints, total=False):
    """A resource of the description (and ``resource_defaults``): its endpoint and its hints.

    Attributes:
        name: the resource's (and table's) name.
        endpoint: a path or an :class:`EndpointConfig` (default: the name as the path).
        selected: whether it is loaded (a parent can be read only for its children).
        include_from_parent: fields of the parent record added to each record (``_<parent>_<field>``).
        partitions: date ranges read as partitions (``start``, ``end``, ``every``, ``start_param``,
            ``end_param``; see :mod:`headwater.sources.rest_api.partitions`).
    """

    name: str
    endpoint: str | EndpointConfig
    selected: bool
    include_from_parent: str | Sequence[str]
    partitions: Mapping[str, Any]


class RESTAPIConfig(TypedDict, total=False):
    """A whole ``rest_api`` description.

    Attributes:
        name: the source's name (its schema); default ``rest_api``.
        client: how to reach the API (a :class:`ClientConfig` or a RESTClient).
        resources: names (``"users"``: ``GET users``) or :class:`ResourceConfig` tables (required).
        resource_defaults: keys every resource gets unless it sets them.
        max_nesting: levels of nesting unpacked before values are stored as JSON.
    """

    name: str
    client: ClientConfig | RESTClient
    resources: list[str | ResourceConfig]
    resource_defaults: ResourceConfig
    max_nesting: int | None
