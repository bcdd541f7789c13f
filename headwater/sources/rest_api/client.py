"""``RESTClient``: one API's base URL, headers, auth, paginator and transport, and page iteration.

Plugin developers can use it directly in a resource of their own::

    client = RESTClient("https://api.example.com/v1", auth=BearerToken(token), paginator="header_link")

    @hw.resource(primary_key="id")
    async def users():
        async for page in client.paginate("users", params={"per_page": 100}):
            yield page
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson

from headwater import redact
from headwater.errors import ConfigError, FatalSourceError, HeadwaterError, did_you_mean
from headwater.observe import metrics
from headwater.observe.access import record_access
from headwater.optional import require
from headwater.sources.collector import fewer_collections
from headwater.sources.rest_api.auth import make_auth
from headwater.sources.rest_api.http import (
    Gate,
    RateLimiter,
    ResponseAction,
    RetryPolicy,
    Transport,
    excerpt,
)
from headwater.sources.rest_api.paginators import PageRequest, PaginationLoop, Paginator, RepeatedPage, make_paginator
from headwater.sources.rest_api.selectors import select_records

log = logging.getLogger("headwater.rest_api")

#: pages of one stream fetched ahead of the consumer, in multiples of ``concurrency`` (in flight and done)
READ_AHEAD = 2


class StopStream(Exception):
    """A response action asked to end the stream (what was read is kept)."""


@dataclass
class Page:
    """The records of one response."""

    records: list[Any]
    stop: bool = False
    error: PaginationLoop | None = None  # raised after the page's records are handed over


class Connections:
    """Keep-alive connections, one ``httpx.AsyncClient`` each, handed to one request at a time.

    One client with a pool of N connections costs O(N) bookkeeping per request in httpcore (it checks
    every connection's expiry whenever a request starts or ends); N clients of one connection do not.
    How many requests run at once is bounded by the transport's gate, not here.

    Args:
        make: makes a client (with one connection).
    """

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make
        self._free: list[Any] = []
        self._all: list[Any] = []

    def _take(self) -> Any:
        if self._free:
            return self._free.pop()
        client = self._make()
        self._all.append(client)
        return client

    def build_request(self, *args: Any, **kwargs: Any) -> Any:
        """Build a request with one of the pool's clients (see ``httpx.AsyncClient.build_request``)."""
        client = self._take()
        try:
            return client.build_request(*args, **kwargs)
        finally:
            self._free.append(client)

    async def send(self, request: Any) -> Any:
        """Send ``request`` on a free client of the pool (a new one when all are busy)."""
        client = self._take()
        try:
            return await client.send(request)
        finally:
            self._free.append(client)

    async def aclose(self) -> None:
        """Close every client of the pool."""
        for client in self._all:
            await client.aclose()
        self._all.clear()
        self._free.clear()

    async def __aenter__(self) -> Connections:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _limit_identity(base_url: str) -> str:
    """What a rate limit applies to: the base URL without credentials, query or fragment (workers of a
    run that limit the same API at the same rate share one limit)."""
    if not base_url:
        return ""
    parts = urlsplit(base_url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2].lower()}{parts.path}"


class RESTClient:
    """An API's connection settings, shared by every stream of a source.

    Args:
        base_url: prefix for relative paths.
        headers: sent with every request.
        auth: an auth table (``{"type": "bearer", "token": ...}``) or an ``httpx.Auth``.
        paginator: the default paginator (a name, a table or a :class:`Paginator`); default ``auto``.
        timeout: seconds a request may take in all: connecting, the headers and the whole body (a
            total deadline per attempt, also when the body trickles in a byte at a time), or a table
            ``{"connect": 5, "read": 30, "total": 120}`` (``connect`` and ``read`` bound each step).
        retries: attempts per request, or a table (see :class:`~headwater.sources.rest_api.http.RetryPolicy`).
        rate_limit: at most this many requests per second, across all streams of the source.
        concurrency: at most this many requests in flight at once (pages of one stream whose total
            is known, streams running side by side, calls for different parent records).
    """

    def __init__(
        self,
        base_url: str = "",
        *,
        headers: Mapping[str, str] | None = None,
        auth: Any = None,
        paginator: Any = None,
        timeout: float | Mapping[str, float] = 30.0,
        retries: Any = None,
        rate_limit: float | None = None,
        concurrency: int = 8,
    ) -> None:
        require("httpx", "the rest_api source", extra="rest")
        if not isinstance(base_url, str):
            raise ConfigError(f"client.base_url must be a string, got {base_url!r}")
        if base_url and not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"client.base_url must start with http:// or https://, got {base_url!r}")
        self.timeout, self.deadline = _timeouts(timeout)
        self.base_url = base_url.rstrip("/") + "/" if base_url else ""
        self.headers = dict(headers or {})
        self.auth = make_auth(auth)
        self.paginator = paginator
        make_paginator(paginator, "client")  # validate now, not at the first request
        self.concurrency = concurrency
        self._tls: Any = None
        secret_params: frozenset[str] = getattr(self.auth, "secret_params", frozenset())
        secrets = getattr(self.auth, "secrets", None)
        held = (
            *(secrets() if callable(secrets) else ()),
            *secret_headers(self.headers),
            *redact.url_secrets(self.base_url),
        )
        redact.register(*held)
        self.transport = Transport(
            retry=RetryPolicy.from_config(retries),
            limiter=RateLimiter(rate_limit, _limit_identity(self.base_url)),
            gate=Gate(concurrency),
            secret_params=frozenset(secret_params),
            secrets=held,
            deadline=self.deadline,
        )

    def __repr__(self) -> str:
        return f"RESTClient({redact.redact_url(self.base_url)!r}, auth={self.auth!r})"

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without its TLS context (a worker process makes its own at its first request)."""
        return {**self.__dict__, "_tls": None}

    def url(self, path: str) -> str:
        """The absolute URL of ``path``: as it is when absolute, else after the ``base_url``.

        Raises:
            ConfigError: ``path`` is relative and the client has no ``base_url``.
        """
        if path.startswith(("http://", "https://")):
            return path
        if not self.base_url:
            raise ConfigError(f"the path {path!r} is relative but the client has no base_url")
        return self.base_url + path.lstrip("/")

    def open(self) -> Connections:
        """Connections with this API's headers, auth and timeout (close them after use)."""
        httpx = require("httpx", "the rest_api source", extra="rest")
        if self._tls is None:
            self._tls = httpx.create_ssl_context()  # ~30 ms each: made once, shared by every connection

        def one() -> Any:
            limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
            return httpx.AsyncClient(
                headers=self.headers,
                auth=self.auth,
                timeout=self.timeout,
                limits=limits,
                follow_redirects=True,
                verify=self._tls,
            )

        return Connections(one)

    # -- pages -----------------------------------------------------------------------------------
    async def paginate(
        self,
        path: str,
        *,
        method: str = "GET",
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        paginator: Any = None,
        data_selector: str | None = None,
        response_actions: Iterable[ResponseAction] = (),
        resource: str = "",
        client: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[list[Any]]:
        """The records of every page, one list per page (empty pages are skipped), with the garbage
        collector held back while they stream in (:func:`~headwater.sources.collector.fewer_collections`).

        Raises :class:`StopStream` when a response action says ``stop``.
        """
        # credentials given as parameters, headers or body fields are hidden like the auth's own
        redact.register(*redact.secrets_in({"params": dict(params or {}), "headers": dict(headers or {})}))
        redact.register(*redact.secrets_in(json))
        own = client is None
        http = client if client is not None else self.open()
        try:
            with fewer_collections():  # pages stream in: see headwater.sources.collector
                request = PageRequest(method.upper(), self.url(path), dict(params or {}), json, dict(headers or {}))
                pager: Paginator = make_paginator(paginator if paginator is not None else self.paginator, resource)
                pager.init_request(request)
                actions = tuple(response_actions)
                while True:
                    page = await self.fetch(http, request, pager, data_selector, actions, resource)
                    if page.stop:
                        raise StopStream
                    if page.records:
                        yield page.records
                    if page.error is not None:
                        raise page.error
                    if not pager.has_next_page:
                        return
                    rest = pager.remaining(request) if self.concurrency > 1 else None
                    if rest and pager.pages_left() is not None:
                        rest = rest[: pager.pages_left()]
                    if rest:
                        async for records in self._fetch_all(http, rest, data_selector, actions, resource):
                            yield records
                        return
                    pager.update_request(request)
        except HeadwaterError as exc:
            if "resource" in exc.where or not resource:
                raise
            raise type(exc)(exc.message, hint=exc.hint, **exc.where, resource=resource) from exc
        finally:
            if own:
                await http.aclose()

    async def fetch(
        self,
        http: Any,
        request: PageRequest,
        pager: Paginator | None,
        data_selector: str | None,
        actions: tuple[ResponseAction, ...],
        resource: str,
    ) -> Page:
        """Send one page's request; parse, select, and let the paginator read the response."""
        built = http.build_request(
            request.method,
            request.url,
            params={k: _param(v) for k, v in request.params.items() if v is not None} or None,
            json=request.json,
            headers=request.headers or None,
        )
        outcome = await self.transport.send(http, built, resource=resource, actions=actions)
        response = outcome.response
        if response is None:
            if pager is not None:
                pager.has_next_page = False
            return Page([], stop=outcome.stop)
        figures = metrics.current()
        if figures is not None:
            figures.read(nbytes=len(response.content))
        body = self._parse(response, resource)
        records = select_records(body, data_selector)
        record_access(
            "rest_api",
            url=str(built.url),
            rows=len(records),
            resource=resource,
            method=built.method,
            secret_params=self.transport.secret_params,
        )
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s: HTTP %d, %d records", self.transport.describe(built), response.status_code, len(records))
        if pager is not None:
            response.extensions["headwater_body"] = body  # the paginators read totals, cursors and links from it
            try:
                pager.update_state(response, records)
            except RepeatedPage:
                raise
            except PaginationLoop as exc:  # the records are new; the pointer to the next page is not
                return Page(records, error=exc)
            finally:
                # an httpx response sits in reference cycles (only the cyclic collector frees it): holding
                # the parsed body, it would keep every page's records alive until the next collection
                del response.extensions["headwater_body"]
            pager.count_page(records, self.transport.describe(built))
        return Page(records)

    def _parse(self, response: Any, resource: str) -> Any:
        content = response.content
        if not content.strip():
            return None
        try:
            return orjson.loads(content)
        except orjson.JSONDecodeError as exc:
            kind = response.headers.get("content-type", "no content type")
            raise FatalSourceError(
                f"{self.transport.describe(response.request)} returned HTTP {response.status_code} with a body "
                f"that is not valid JSON ({exc}; {kind}, {len(content):,} bytes): "
                f"{excerpt(content.decode('utf-8', 'replace'), secrets=self.transport.secrets)}",
                hint="the pages read before this one are kept; check the endpoint, or retry later if the body "
                "was cut short",
                resource=resource,
            ) from exc

    async def _fetch_all(
        self,
        http: Any,
        requests: list[PageRequest],
        data_selector: str | None,
        actions: tuple[ResponseAction, ...],
        resource: str,
    ) -> AsyncIterator[list[Any]]:
        """Fetch known pages with up to ``concurrency`` in flight; yield them in order.

        Each finished request starts the next one at once (from its done callback), so ``concurrency``
        requests stay in flight whatever order the pages come back in and while the consumer is busy;
        pages that are done wait their turn, up to :data:`READ_AHEAD` times ``concurrency`` pages in all.
        """
        todo = iter(requests)
        pending: deque[asyncio.Task[Page]] = deque()
        window = self.concurrency * READ_AHEAD
        flying = 0
        closing = False

        def start() -> None:
            nonlocal flying
            while not closing and flying < self.concurrency and len(pending) < window:
                request = next(todo, None)
                if request is None:
                    return
                task = asyncio.ensure_future(self.fetch(http, request, None, data_selector, actions, resource))
                flying += 1
                task.add_done_callback(landed)
                pending.append(task)

        def landed(_: asyncio.Task[Page]) -> None:
            nonlocal flying
            flying -= 1
            start()

        try:
            start()
            while pending:
                page = await pending[0]
                pending.popleft()
                start()  # the window moved on
                if page.stop:
                    raise StopStream
                if page.records:
                    yield page.records
        finally:
            closing = True
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)


def secret_headers(headers: Mapping[str, str]) -> list[str]:
    """Values of headers that look like credentials (``Authorization: token ...``, ``X-Api-Key``):
    scrubbed from messages like the auth's own secrets."""
    out = []
    for name, value in headers.items():
        if isinstance(value, str) and (redact.is_secret_name(name) or "auth" in name.lower()):
            out.append(value)
            out.extend(part for part in value.split()[1:] if len(part) >= 4)  # the token without its scheme
    return out


_TIMEOUT_KEYS = ("connect", "read", "total")


def _seconds(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigError(f"{where} must be a positive number of seconds, got {value!r}")
    return float(value)


def _timeouts(config: Any) -> tuple[Any, float]:
    """httpx's per-step timeouts and the total deadline of one attempt, from ``client.timeout``."""
    httpx = require("httpx", "the rest_api source", extra="rest")
    if not isinstance(config, Mapping):
        seconds = _seconds(config, "client.timeout")
        return httpx.Timeout(seconds), seconds
    for key in config:
        if key not in _TIMEOUT_KEYS:
            raise ConfigError(
                f"client.timeout: unknown key {key!r}", hint=did_you_mean(key, _TIMEOUT_KEYS, listing="known keys")
            )
    steps = {k: _seconds(config[k], f"client.timeout.{k}") for k in ("connect", "read") if k in config}
    if "total" in config:
        total = _seconds(config["total"], "client.timeout.total")
    else:
        total = max(steps.values(), default=30.0)
    connect, read = steps.get("connect", min(total, 30.0)), steps.get("read", total)
    return httpx.Timeout(read, connect=connect), total


def _param(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return [_param(v) for v in value]
    return value
