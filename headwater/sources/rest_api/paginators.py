"""Paginators: how to get from one page of an API to the next.

A paginator sees each response (and the records selected from it), decides whether there is a next
page, and changes the request to ask for it. A custom paginator is a small subclass of
:class:`Paginator` with :meth:`~Paginator.update_state` and :meth:`~Paginator.update_request`.

Paginators that know the total (a page count or a record count in the first response) can also say
which requests remain (:meth:`~Paginator.remaining`); those pages are then fetched concurrently.

Every paginator refuses to loop: a next-page token, URL or page body seen twice in one stream stops
the stream with a :class:`~headwater.errors.FatalSourceError` instead of fetching forever. And every
paginator stops at the first page without records (``stop_after_empty_page=False`` for an API that
returns empty pages mid-stream) and after ``max_pages`` pages, if given: an API that keeps sending
empty pages with ever-new next links cannot keep a stream going.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import httpx

from headwater.errors import ConfigError, FatalSourceError, did_you_mean
from headwater.sources.rest_api.selectors import find, path_of

log = logging.getLogger("headwater.rest_api")


@dataclass
class PageRequest:
    """The request for one page: what a paginator reads and changes."""

    method: str
    url: str
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def copy(self) -> PageRequest:
        body = dict(self.json) if isinstance(self.json, dict) else self.json
        return PageRequest(self.method, self.url, dict(self.params), body, dict(self.headers))


class PaginationLoop(FatalSourceError):
    """The API sent the same page (or the same next-page pointer) twice."""


class RepeatedPage(PaginationLoop):
    """The API sent the same page body twice in a row: its records are not new and are dropped."""


class Paginator:
    """Base class: a single page unless a subclass says otherwise.

    Args:
        max_pages: stop after this many pages of one stream (of one parent record, for a dependent
            resource), even if the API has more.
        stop_after_empty_page: stop at the first page without records (the default). Turn it off for
            an API that legitimately returns empty pages mid-stream (pages filtered after paging);
            the stream then ends when the paginator's own condition says so, or at ``max_pages``.
    """

    def __init__(self, *, max_pages: int | None = None, stop_after_empty_page: bool = True) -> None:
        if max_pages is not None and (isinstance(max_pages, bool) or not isinstance(max_pages, int) or max_pages < 1):
            raise ConfigError(f"{type(self).__name__}: max_pages must be a positive integer, got {max_pages!r}")
        if not isinstance(stop_after_empty_page, bool):
            raise ConfigError(
                f"{type(self).__name__}: stop_after_empty_page must be true or false, got {stop_after_empty_page!r}"
            )
        self.max_pages = max_pages
        self.stop_after_empty_page = stop_after_empty_page
        self._start()

    def _start(self) -> None:
        self.has_next_page = True
        self._seen_tokens: set[str] = set()
        self._last_body: bytes | None = None
        self._pages = 0

    # -- the protocol --------------------------------------------------------------------------
    def init_request(self, request: PageRequest) -> None:
        """Set up the first request (e.g. ``page=1``)."""

    def update_state(self, response: httpx.Response, records: list[Any]) -> None:
        """Read the response: set :attr:`has_next_page` and remember what the next request needs."""
        self.has_next_page = False

    def update_request(self, request: PageRequest) -> None:
        """Change ``request`` into the request for the next page."""

    def remaining(self, request: PageRequest) -> list[PageRequest] | None:
        """After the first page: every remaining request, when the total is known (else None)."""
        return None

    def fresh(self) -> Paginator:
        """A new paginator with this one's settings (one per stream, per parent record)."""
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        Paginator._start(clone)
        clone.reset()
        return clone

    # -- limits every paginator has ------------------------------------------------------------
    def count_page(self, records: list[Any], where: str = "") -> None:
        """Called after :meth:`update_state` for each page: ends the stream at an empty page (unless
        ``stop_after_empty_page`` is off) and after ``max_pages`` pages."""
        self._pages = getattr(self, "_pages", 0) + 1
        if not self.has_next_page:
            return
        if not records and getattr(self, "stop_after_empty_page", True):
            self.has_next_page = False
            log.info(
                "%s: an empty page ends the stream (set stop_after_empty_page=false on the paginator if "
                "this API returns empty pages before its last one)",
                where or type(self).__name__,
            )
        elif self.pages_left() == 0:
            self.has_next_page = False
            log.info("%s: max_pages (%d) reached, the stream ends here", where or type(self).__name__, self.max_pages)

    def pages_left(self) -> int | None:
        """How many more pages ``max_pages`` allows (None: no limit)."""
        limit = getattr(self, "max_pages", None)
        return None if limit is None else max(0, limit - getattr(self, "_pages", 0))

    def reset(self) -> None:
        """Clear per-stream state (subclasses with state override it)."""

    # -- loop protection -----------------------------------------------------------------------
    def check_token(self, token: Any, what: str) -> None:
        key = repr(token)
        if key in self._seen_tokens:
            raise PaginationLoop(
                f"pagination loop: the API returned the {what} {token!r} a second time",
                hint="the API pages do not advance; check the paginator settings (e.g. the cursor path)",
            )
        self._seen_tokens.add(key)

    def check_body(self, response: httpx.Response, records: list[Any]) -> None:
        """A non-empty page identical to the previous one means the API ignores the paging parameter."""
        if not records:
            return
        digest = hashlib.blake2b(response.content, digest_size=16).digest()
        if digest == self._last_body:
            raise RepeatedPage(
                f"pagination loop: {response.request.url.copy_with(query=None)} returned the same page twice in a row",
                hint="the API ignores the paging parameter; check the paginator's parameter names",
            )
        self._last_body = digest

    def __repr__(self) -> str:
        defaults = {"max_pages": None, "stop_after_empty_page": True}
        settings = {
            k: v
            for k, v in vars(self).items()
            if not k.startswith("_") and k != "has_next_page" and (k not in defaults or v != defaults[k])
        }
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in settings.items())})"


class SinglePage(Paginator):
    """One request, no pagination."""


def _int_at(body: Any, path: str | None, what: str) -> int | None:
    if path is None:
        return None
    value = find(body, path)
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise FatalSourceError(f"the {what} at {path!r} is not a number: {value!r}") from exc


def _json(response: httpx.Response) -> Any:
    return response.extensions.get("headwater_body")


class PageNumber(Paginator):
    """``?page=1``, ``?page=2``... until an empty page, the total number of pages, or ``maximum_page``.

    Args:
        base_page: the number of the first page (0 or 1).
        page_param: the query parameter (or, with ``page_body_path``, the JSON body field).
        total_path: where the response says how many pages there are (enables concurrent fetching).
        maximum_page: stop after this page even if the API has more.
        stop_after_empty_page: stop at the first page without records (default).
        max_pages: stop after this many pages.
    """

    def __init__(
        self,
        base_page: int = 1,
        page_param: str = "page",
        total_path: str | None = None,
        maximum_page: int | None = None,
        stop_after_empty_page: bool = True,
        page_body_path: str | None = None,
        *,
        max_pages: int | None = None,
    ) -> None:
        super().__init__(max_pages=max_pages, stop_after_empty_page=stop_after_empty_page)
        if total_path is None and maximum_page is None and max_pages is None and not stop_after_empty_page:
            raise ConfigError(
                "page_number paginator: give total_path, maximum_page or max_pages, or keep stop_after_empty_page"
            )
        self.base_page = base_page
        self.page_param = page_param
        self.total_path = total_path
        self.maximum_page = maximum_page
        self.page_body_path = page_body_path
        self.reset()

    def reset(self) -> None:
        self.page = self.base_page
        self.total_pages: int | None = None

    def _set(self, request: PageRequest, page: int) -> None:
        if self.page_body_path:
            body = request.json if isinstance(request.json, dict) else {}
            request.json = {**body, self.page_body_path: page}
        else:
            request.params[self.page_param] = page

    def init_request(self, request: PageRequest) -> None:
        self._set(request, self.page)

    def _last_page(self) -> int | None:
        last = None
        if self.total_pages is not None:
            last = self.base_page + self.total_pages - 1
        if self.maximum_page is not None:
            last = self.maximum_page if last is None else min(last, self.maximum_page)
        return last

    def update_state(self, response: httpx.Response, records: list[Any]) -> None:
        self.check_body(response, records)
        total = _int_at(_json(response), self.total_path, "total page count")
        if total is not None:
            self.total_pages = total
        last = self._last_page()
        if last is not None and self.page >= last:
            self.has_next_page = False
            return
        self.page += 1

    def update_request(self, request: PageRequest) -> None:
        self._set(request, self.page)

    def remaining(self, request: PageRequest) -> list[PageRequest] | None:
        if self.total_pages is None or not self.has_next_page:
            return None
        last = self._last_page()
        assert last is not None
        out = []
        for page in range(self.page, last + 1):
            r = request.copy()
            self._set(r, page)
            out.append(r)
        self.has_next_page = False
        return out


class OffsetLimit(Paginator):
    """``?offset=0&limit=100``, then ``offset=100``... until an empty page, the total count, a short page
    (``stop_on_short_page``, off by default: many APIs cap ``limit`` below what was asked), or
    ``maximum_offset``.

    Args:
        limit: records per page (sent as ``limit_param``).
        offset: the first offset.
        total_path: where the response gives the total number of records (enables concurrent fetching).
    """

    def __init__(
        self,
        limit: int,
        offset: int = 0,
        offset_param: str = "offset",
        limit_param: str = "limit",
        total_path: str | None = None,
        maximum_offset: int | None = None,
        stop_after_empty_page: bool = True,
        stop_on_short_page: bool = False,
        *,
        max_pages: int | None = None,
    ) -> None:
        super().__init__(max_pages=max_pages, stop_after_empty_page=stop_after_empty_page)
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ConfigError(f"offset paginator: limit must be a positive integer, got {limit!r}")
        bounded = total_path is not None or maximum_offset is not None or max_pages is not None
        if not bounded and not (stop_after_empty_page or stop_on_short_page):
            raise ConfigError("offset paginator: give total_path, maximum_offset or max_pages, or a stop condition")
        self.limit = limit
        self.initial_offset = offset
        self.offset_param = offset_param
        self.limit_param = limit_param
        self.total_path = total_path
        self.maximum_offset = maximum_offset
        self.stop_on_short_page = stop_on_short_page
        self.reset()

    def reset(self) -> None:
        self.offset = self.initial_offset
        self.total: int | None = None

    def _set(self, request: PageRequest, offset: int) -> None:
        request.params[self.offset_param] = offset
        request.params[self.limit_param] = self.limit

    def init_request(self, request: PageRequest) -> None:
        self._set(request, self.offset)

    def _end(self) -> int | None:
        ends = [e for e in (self.total, self.maximum_offset) if e is not None]
        return min(ends) if ends else None

    def update_state(self, response: httpx.Response, records: list[Any]) -> None:
        self.check_body(response, records)
        total = _int_at(_json(response), self.total_path, "total record count")
        if total is not None:
            self.total = total
        self.offset += self.limit
        end = self._end()
        if (self.stop_on_short_page and len(records) < self.limit) or (end is not None and self.offset >= end):
            self.has_next_page = False

    def update_request(self, request: PageRequest) -> None:
        self._set(request, self.offset)

    def remaining(self, request: PageRequest) -> list[PageRequest] | None:
        end = self._end()
        if self.total is None or end is None or not self.has_next_page:
            return None
        out = []
        for offset in range(self.offset, end, self.limit):
            r = request.copy()
            self._set(r, offset)
            out.append(r)
        self.has_next_page = False
        return out


class Cursor(Paginator):
    """A cursor in the response body (``cursor_path``) sent back as ``cursor_param`` (or, for POST
    APIs, as the JSON body field ``cursor_body_path``). Stops when the cursor is missing or empty, at an
    empty page and after ``max_pages``."""

    def __init__(
        self,
        cursor_path: str = "cursors.next",
        cursor_param: str = "cursor",
        cursor_body_path: str | None = None,
        *,
        max_pages: int | None = None,
        stop_after_empty_page: bool = True,
    ) -> None:
        super().__init__(max_pages=max_pages, stop_after_empty_page=stop_after_empty_page)
        path_of(cursor_path)  # validates
        self.cursor_path = cursor_path
        self.cursor_param = cursor_param
        self.cursor_body_path = cursor_body_path
        self.reset()

    def reset(self) -> None:
        self.cursor: Any = None

    def update_state(self, response: httpx.Response, records: list[Any]) -> None:
        cursor = find(_json(response), self.cursor_path)
        if cursor in (None, "", [], {}):
            self.has_next_page = False
            return
        self.check_token(cursor, "next-page cursor")
        self.cursor = cursor

    def update_request(self, request: PageRequest) -> None:
        if self.cursor_body_path:
            body = request.json if isinstance(request.json, dict) else {}
            request.json = {**body, self.cursor_body_path: self.cursor}
        else:
            request.params[self.cursor_param] = self.cursor


class _NextURL(Paginator):
    """Follows a next-page URL (relative URLs resolve against the page's URL)."""

    def reset(self) -> None:
        self.next_url: str | None = None

    def _follow(self, response: httpx.Response, url: Any) -> None:
        if not url or not isinstance(url, str):
            self.has_next_page = False
            return
        absolute = urljoin(str(response.request.url), url)
        self.check_token(absolute, "next-page URL")
        self.next_url = absolute

    def update_request(self, request: PageRequest) -> None:
        assert self.next_url is not None
        request.url = self.next_url
        request.params = {}  # the next URL carries its own query


class JSONLink(_NextURL):
    """The next page's URL in the body, at ``next_url_path`` (default ``next``). Stops when it is
    missing, at an empty page and after ``max_pages``."""

    def __init__(
        self, next_url_path: str = "next", *, max_pages: int | None = None, stop_after_empty_page: bool = True
    ) -> None:
        super().__init__(max_pages=max_pages, stop_after_empty_page=stop_after_empty_page)
        path_of(next_url_path)
        self.next_url_path = next_url_path
        self.reset()

    def update_state(self, response: httpx.Response, records: list[Any]) -> None:
        self._follow(response, find(_json(response), self.next_url_path))


class HeaderLink(_NextURL):
    """The next page's URL in the ``Link`` header (``rel="next"``, as GitHub sends it). Stops when there
    is none, at an empty page and after ``max_pages``."""

    def __init__(self, rel: str = "next", *, max_pages: int | None = None, stop_after_empty_page: bool = True) -> None:
        super().__init__(max_pages=max_pages, stop_after_empty_page=stop_after_empty_page)
        self.rel = rel
        self.reset()

    def update_state(self, response: httpx.Response, records: list[Any]) -> None:
        link = response.links.get(self.rel)
        self._follow(response, link.get("url") if link else None)


class HeaderCursor(Paginator):
    """A cursor in a response header (``cursor_header``, e.g. ``X-Next-Cursor``) sent back as
    ``cursor_param``. Stops when the header is absent or empty, at an empty page and after ``max_pages``."""

    def __init__(
        self,
        cursor_header: str = "X-Next-Cursor",
        cursor_param: str = "cursor",
        *,
        max_pages: int | None = None,
        stop_after_empty_page: bool = True,
    ) -> None:
        super().__init__(max_pages=max_pages, stop_after_empty_page=stop_after_empty_page)
        self.cursor_header = cursor_header
        self.cursor_param = cursor_param
        self.reset()

    def reset(self) -> None:
        self.cursor: str | None = None

    def update_state(self, response: httpx.Response, records: list[Any]) -> None:
        cursor = response.headers.get(self.cursor_header)
        if not cursor:
            self.has_next_page = False
            return
        self.check_token(cursor, "next-page cursor")
        self.cursor = cursor

    def update_request(self, request: PageRequest) -> None:
        request.params[self.cursor_param] = self.cursor


_NEXT_URL_PATHS = ("next", "next_url", "nextUrl", "links.next", "_links.next.href", "pagination.next", "paging.next")


class Auto(Paginator):
    """Decides from the first response: a ``Link: rel="next"`` header, else a next-page URL in the
    body (``next``, ``links.next``, ``_links.next.href``, ``paging.next``...), else a single page.
    The choice is logged; give a paginator explicitly when it guesses wrong. ``max_pages`` and
    ``stop_after_empty_page`` hold whatever it chooses."""

    def __init__(self, *, max_pages: int | None = None, stop_after_empty_page: bool = True) -> None:
        super().__init__(max_pages=max_pages, stop_after_empty_page=stop_after_empty_page)
        self.reset()

    def reset(self) -> None:
        self.chosen: Paginator | None = None

    def update_state(self, response: httpx.Response, records: list[Any]) -> None:
        if self.chosen is None:
            self.chosen = self._detect(response)
            log.info("%s: paginator detected: %r", response.request.url.copy_with(query=None), self.chosen)
        self.chosen.update_state(response, records)
        self.has_next_page = self.chosen.has_next_page

    def update_request(self, request: PageRequest) -> None:
        assert self.chosen is not None
        self.chosen.update_request(request)

    @staticmethod
    def _detect(response: httpx.Response) -> Paginator:
        if "next" in response.links:
            return HeaderLink()
        body = _json(response)
        if isinstance(body, Mapping):
            for path in _NEXT_URL_PATHS:
                value = find(body, path)
                if isinstance(value, str) and (value.startswith(("http://", "https://", "/", "?"))):
                    return JSONLink(path)
            for path in _NEXT_URL_PATHS:
                if path.split(".")[0] in body:  # the field is there, null on the last page
                    try:
                        present = find(body, path) is None
                    except FatalSourceError:
                        present = False
                    if present:
                        return JSONLink(path)
        return SinglePage()


PAGINATORS: dict[str, type[Paginator]] = {
    "single_page": SinglePage,
    "page_number": PageNumber,
    "offset": OffsetLimit,
    "cursor": Cursor,
    "json_link": JSONLink,
    "header_link": HeaderLink,
    "header_cursor": HeaderCursor,
    "auto": Auto,
}


def make_paginator(config: Any, where: str) -> Paginator:
    """A paginator from a name (``"header_link"``), a table with ``type``, or a Paginator object."""
    if config is None:
        return Auto()
    if isinstance(config, Paginator):
        return config.fresh()
    if isinstance(config, str):
        config = {"type": config}
    if not isinstance(config, Mapping) or "type" not in config:
        raise ConfigError(
            f"{where}: paginator must be a name ({', '.join(PAGINATORS)}), a table with type, or a Paginator"
        )
    cls = PAGINATORS.get(config["type"])
    if cls is None:
        raise ConfigError(
            f"{where}: unknown paginator {config['type']!r}", hint=did_you_mean(config["type"], PAGINATORS)
        )
    known = [name for name in inspect.signature(cls).parameters if name not in ("self", "args", "kwargs")]
    for key in config:
        if key != "type" and key not in known:
            raise ConfigError(
                f"{where}: paginator {config['type']!r} has no setting {key!r}",
                hint=did_you_mean(key, known, listing="its settings"),
            )
    try:
        return cls(**{k: v for k, v in config.items() if k != "type"})
    except TypeError as exc:
        raise ConfigError(f"{where}: paginator {config['type']!r}: {exc}".replace("__init__() ", "")) from exc
