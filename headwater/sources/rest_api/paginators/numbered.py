"""Numbered pages: a page number or an offset, whose totals let the remaining pages be fetched
concurrently."""

from __future__ import annotations

from typing import Any

import httpx

from headwater.errors import ConfigError
from headwater.sources.rest_api.paginators.base import PageRequest, Paginator, body_of, int_at


class PageNumber(Paginator):
    """``?page=1``, ``?page=2``... until an empty page, the total number of pages, or ``maximum_page``.

    Args:
        base_page: the number of the first page (0 or 1).
        page_param: the query parameter (or, with ``page_body_path``, the JSON body field).
        total_path: where the response says how many pages there are (enables concurrent fetching).
        maximum_page: stop after this page even if the API has more.
        stop_after_empty_page: stop at the first page without records (default).
        page_body_path: send the page number as this JSON body field instead (POST APIs).
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
        """Start again at ``base_page``, the total unknown."""
        self.page = self.base_page
        self.total_pages: int | None = None

    def _set(self, request: PageRequest, page: int) -> None:
        if self.page_body_path:
            body = request.json if isinstance(request.json, dict) else {}
            request.json = {**body, self.page_body_path: page}
        else:
            request.params[self.page_param] = page

    def init_request(self, request: PageRequest) -> None:
        """Ask for the first page."""
        self._set(request, self.page)

    def _last_page(self) -> int | None:
        last = None
        if self.total_pages is not None:
            last = self.base_page + self.total_pages - 1
        if self.maximum_page is not None:
            last = self.maximum_page if last is None else min(last, self.maximum_page)
        return last

    def update_state(self, response: httpx.Response, records: list[Any]) -> None:
        """Read the total (if ``total_path`` is given) and move to the next page, or end at the last one.

        Raises:
            RepeatedPage: the page is the previous one again (the API ignores the page parameter).
            FatalSourceError: the total is not a number.
        """
        self.check_body(response, records)
        total = int_at(body_of(response), self.total_path, "total page count")
        if total is not None:
            self.total_pages = total
        last = self._last_page()
        if last is not None and self.page >= last:
            self.has_next_page = False
            return
        self.page += 1

    def update_request(self, request: PageRequest) -> None:
        """Ask for the next page."""
        self._set(request, self.page)

    def remaining(self, request: PageRequest) -> list[PageRequest] | None:
        """Once the total is known: the requests of every page left (up to ``maximum_page``)."""
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
        offset_param: the query parameter of the offset.
        limit_param: the query parameter of the limit.
        total_path: where the response gives the total number of records (enables concurrent fetching).
        maximum_offset: read no further than this offset even if the API has more.
        stop_after_empty_page: stop at the first page without records (default).
        stop_on_short_page: stop at a page with fewer than ``limit`` records.
        max_pages: stop after this many pages of one stream.
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
        """Start again at ``initial_offset``, the total unknown."""
        self.offset = self.initial_offset
        self.total: int | None = None

    def _set(self, request: PageRequest, offset: int) -> None:
        request.params[self.offset_param] = offset
        request.params[self.limit_param] = self.limit

    def init_request(self, request: PageRequest) -> None:
        """Ask for the first ``limit`` records."""
        self._set(request, self.offset)

    def _end(self) -> int | None:
        ends = [e for e in (self.total, self.maximum_offset) if e is not None]
        return min(ends) if ends else None

    def update_state(self, response: httpx.Response, records: list[Any]) -> None:
        """Read the total (if ``total_path`` is given) and move the offset on, or end at the last page.

        Raises:
            RepeatedPage: the page is the previous one again (the API ignores the offset parameter).
            FatalSourceError: the total is not a number.
        """
        self.check_body(response, records)
        total = int_at(body_of(response), self.total_path, "total record count")
        if total is not None:
            self.total = total
        self.offset += self.limit
        end = self._end()
        if (self.stop_on_short_page and len(records) < self.limit) or (end is not None and self.offset >= end):
            self.has_next_page = False

    def update_request(self, request: PageRequest) -> None:
        """Ask for the next ``limit`` records."""
        self._set(request, self.offset)

    def remaining(self, request: PageRequest) -> list[PageRequest] | None:
        """Once the total is known: the requests of every page left (up to ``maximum_offset``)."""
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
