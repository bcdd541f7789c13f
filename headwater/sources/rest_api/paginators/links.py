"""Next-page links: a URL in the body or in the ``Link`` header, followed as it is."""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

import httpx

from headwater.sources.rest_api.paginators.base import PageRequest, Paginator, body_of
from headwater.sources.rest_api.selectors import find, path_of


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
    missing, at an empty page and after ``max_pages``.

    Args:
        next_url_path: the JSONPath of the next page's URL in the response body.
        max_pages: stop after this many pages of one stream.
        stop_after_empty_page: stop at the first page without records (default).
    """

    def __init__(
        self, next_url_path: str = "next", *, max_pages: int | None = None, stop_after_empty_page: bool = True
    ) -> None:
        super().__init__(max_pages=max_pages, stop_after_empty_page=stop_after_empty_page)
        path_of(next_url_path)
        self.next_url_path = next_url_path
        self.reset()

    def update_state(self, response: httpx.Response, records: list[Any]) -> None:
        """Take the next page's URL at ``next_url_path``; none ends the stream.

        Raises:
            PaginationLoop: the API sent the same URL twice.
        """
        self._follow(response, find(body_of(response), self.next_url_path))


class HeaderLink(_NextURL):
    """The next page's URL in the ``Link`` header (``rel="next"``, as GitHub sends it). Stops when there
    is none, at an empty page and after ``max_pages``.

    Args:
        rel: the link relation of the next page.
        max_pages: stop after this many pages of one stream.
        stop_after_empty_page: stop at the first page without records (default).
    """

    def __init__(self, rel: str = "next", *, max_pages: int | None = None, stop_after_empty_page: bool = True) -> None:
        super().__init__(max_pages=max_pages, stop_after_empty_page=stop_after_empty_page)
        self.rel = rel
        self.reset()

    def update_state(self, response: httpx.Response, records: list[Any]) -> None:
        """Take the next page's URL from the ``Link`` header; none ends the stream.

        Raises:
            PaginationLoop: the API sent the same URL twice.
        """
        link = response.links.get(self.rel)
        self._follow(response, link.get("url") if link else None)
