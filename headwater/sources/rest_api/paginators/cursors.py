"""Next-page cursors: a token in the body or in a header, sent back as a parameter."""

from __future__ import annotations

from typing import Any

import httpx

from headwater.sources.rest_api.paginators.base import PageRequest, Paginator, body_of
from headwater.sources.rest_api.selectors import find, path_of


class Cursor(Paginator):
    """A cursor in the response body (``cursor_path``) sent back as ``cursor_param`` (or, for POST
    APIs, as the JSON body field ``cursor_body_path``). Stops when the cursor is missing or empty, at an
    empty page and after ``max_pages``.

    Args:
        cursor_path: the JSONPath of the next cursor in the response body.
        cursor_param: the query parameter the cursor is sent as.
        cursor_body_path: the JSON body field the cursor is sent as instead (POST APIs).
        max_pages: stop after this many pages of one stream.
        stop_after_empty_page: stop at the first page without records (default).
    """

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
        """Forget the previous stream's cursor."""
        self.cursor: Any = None

    def update_state(self, response: httpx.Response, records: list[Any]) -> None:
        """Take the cursor at ``cursor_path``; no cursor ends the stream.

        Raises:
            PaginationLoop: the API sent the same cursor twice.
        """
        cursor = find(body_of(response), self.cursor_path)
        if cursor in (None, "", [], {}):
            self.has_next_page = False
            return
        self.check_token(cursor, "next-page cursor")
        self.cursor = cursor

    def update_request(self, request: PageRequest) -> None:
        """Send the cursor as ``cursor_param`` (or in the JSON body at ``cursor_body_path``)."""
        if self.cursor_body_path:
            body = request.json if isinstance(request.json, dict) else {}
            request.json = {**body, self.cursor_body_path: self.cursor}
        else:
            request.params[self.cursor_param] = self.cursor


class HeaderCursor(Paginator):
    """A cursor in a response header (``cursor_header``, e.g. ``X-Next-Cursor``) sent back as
    ``cursor_param``. Stops when the header is absent or empty, at an empty page and after ``max_pages``.

    Args:
        cursor_header: the response header holding the next cursor.
        cursor_param: the query parameter the cursor is sent as.
        max_pages: stop after this many pages of one stream.
        stop_after_empty_page: stop at the first page without records (default).
    """

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
        """Forget the previous stream's cursor."""
        self.cursor: str | None = None

    def update_state(self, response: httpx.Response, records: list[Any]) -> None:
        """Take the cursor in ``cursor_header``; no header ends the stream.

        Raises:
            PaginationLoop: the API sent the same cursor twice.
        """
        cursor = response.headers.get(self.cursor_header)
        if not cursor:
            self.has_next_page = False
            return
        self.check_token(cursor, "next-page cursor")
        self.cursor = cursor

    def update_request(self, request: PageRequest) -> None:
        """Send the cursor as ``cursor_param``."""
        request.params[self.cursor_param] = self.cursor
