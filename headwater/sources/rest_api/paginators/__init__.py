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

import inspect
from collections.abc import Mapping
from typing import Any

from headwater.errors import ConfigError, did_you_mean
from headwater.sources.rest_api.paginators.auto import Auto
from headwater.sources.rest_api.paginators.base import PageRequest, PaginationLoop, Paginator, RepeatedPage, SinglePage
from headwater.sources.rest_api.paginators.cursors import Cursor, HeaderCursor
from headwater.sources.rest_api.paginators.links import HeaderLink, JSONLink
from headwater.sources.rest_api.paginators.numbered import OffsetLimit, PageNumber
from headwater.sources.rest_api.selectors import path_of

__all__ = [
    "PAGINATORS",
    "Auto",
    "Cursor",
    "HeaderCursor",
    "HeaderLink",
    "JSONLink",
    "OffsetLimit",
    "PageNumber",
    "PageRequest",
    "PaginationLoop",
    "Paginator",
    "RepeatedPage",
    "SinglePage",
    "make_paginator",
]

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
        made = cls(**{k: v for k, v in config.items() if k != "type"})
    except TypeError as exc:
        raise ConfigError(f"{where}: paginator {config['type']!r}: {exc}".replace("__init__() ", "")) from exc
    for key, value in config.items():  # JSON paths are checked now, not at the first page
        if key.endswith("_path") and value is not None:
            try:
                path_of(value)
            except ConfigError as exc:
                raise ConfigError(
                    f"{where}: paginator {config['type']!r}: {key}: {exc.message}", hint=exc.hint
                ) from None
    return made
