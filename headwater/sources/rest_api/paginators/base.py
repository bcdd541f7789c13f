"""The paginator protocol: the request a paginator changes, its base class with the limits and the
loop protection every paginator has, and the errors a loop raises."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any

import httpx

from headwater.errors import ConfigError, FatalSourceError
from headwater.sources.rest_api.selectors import find

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
        """A copy whose params, body (a dict) and headers can change without changing this one."""
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
        """Remember a next-page token (cursor, URL...) of this stream.

        Raises:
            PaginationLoop: the API sent ``token`` before.
        """
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


def int_at(body: Any, path: str | None, what: str) -> int | None:
    """The whole number at ``path`` in ``body`` (None: no path, or nothing there).

    Raises:
        FatalSourceError: the value there is not a number.
    """
    if path is None:
        return None
    value = find(body, path)
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise FatalSourceError(f"the {what} at {path!r} is not a number: {value!r}") from exc


def body_of(response: httpx.Response) -> Any:
    """The response's parsed JSON body (the client parses it once and keeps it on the response)."""
    return response.extensions.get("headwater_body")
