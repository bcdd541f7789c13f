"""The default paginator: it picks one from the first response."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import httpx

from headwater.errors import FatalSourceError
from headwater.sources.rest_api.paginators.base import PageRequest, Paginator, SinglePage, body_of
from headwater.sources.rest_api.paginators.links import HeaderLink, JSONLink
from headwater.sources.rest_api.selectors import find

log = logging.getLogger("headwater.rest_api")


_NEXT_URL_PATHS = ("next", "next_url", "nextUrl", "links.next", "_links.next.href", "pagination.next", "paging.next")


class Auto(Paginator):
    """Decides from the first response: a ``Link: rel="next"`` header, else a next-page URL in the
    body (``next``, ``links.next``, ``_links.next.href``, ``paging.next``...), else a single page.
    The choice is logged; give a paginator explicitly when it guesses wrong. ``max_pages`` and
    ``stop_after_empty_page`` hold whatever it chooses.

    Args:
        max_pages: stop after this many pages of one stream.
        stop_after_empty_page: stop at the first page without records (default).
    """

    def __init__(self, *, max_pages: int | None = None, stop_after_empty_page: bool = True) -> None:
        super().__init__(max_pages=max_pages, stop_after_empty_page=stop_after_empty_page)
        self.reset()

    def reset(self) -> None:
        """Forget the paginator chosen for the previous stream."""
        self.chosen: Paginator | None = None

    def update_state(self, response: httpx.Response, records: list[Any]) -> None:
        """Choose the paginator at the first response, then let it read each response."""
        if self.chosen is None:
            self.chosen = self._detect(response)
            log.info("%s: paginator detected: %r", response.request.url.copy_with(query=None), self.chosen)
        self.chosen.update_state(response, records)
        self.has_next_page = self.chosen.has_next_page

    def update_request(self, request: PageRequest) -> None:
        """Change ``request`` as the chosen paginator says."""
        assert self.chosen is not None
        self.chosen.update_request(request)

    @staticmethod
    def _detect(response: httpx.Response) -> Paginator:
        if "next" in response.links:
            return HeaderLink()
        body = body_of(response)
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
