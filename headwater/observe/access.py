"""Access records: one log record per source read, on the ``headwater.access`` logger at INFO.

Each says what was read (REST: the method and URL; SQL: the table or query and the database URL;
files: the path or object URL; a Singer or Airbyte stream: the stream and the connector; a Python
resource: its function, from :func:`record_resource_reads`), from which host, when, by which
machine and OS user, and how many rows. URLs are shown as :func:`headwater.redact.redact_url` shows
them (no password, no secret query value) and the whole record goes through redaction. The record's
``access`` attribute holds the fields (the JSON log format writes them as ``"access": {...}``)::

    {"source": "rest_api", "resource": "issues", "method": "GET",
     "url": "https://api.example.com/issues?page=2&token=***", "host": "api.example.com",
     "at": "2026-12-03T09:27:01.002000+00:00", "by_host": "etl-1", "by_user": "etl", "rows": 100}

Nothing is computed when the logger is not enabled for INFO.
"""

from __future__ import annotations

import datetime as dt
import functools
import getpass
import logging
import socket
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from headwater.observe.scope import current
from headwater.redact import redact, redact_url

if TYPE_CHECKING:
    from headwater.observe.metrics import RunMetrics
    from headwater.streams.resource import Resource

log = logging.getLogger("headwater.access")


@functools.cache
def _who() -> tuple[str, str]:
    try:
        user = getpass.getuser()
    except Exception:  # no user name in the environment nor the password database (some containers)
        user = "?"
    return socket.gethostname(), user


def host_of(url: str) -> str:
    """The host a URL points to (``localhost`` for a local path)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "?"
    if not parts.scheme or parts.scheme == "file" or len(parts.scheme) == 1:  # a path (C:\\ too)
        return "localhost"
    return parts.hostname or parts.netloc.rpartition("@")[2] or parts.scheme


def record_access(
    source: str,
    *,
    url: str,
    rows: int | None,
    resource: str | None = None,
    what: str | None = None,
    method: str | None = None,
    secret_params: tuple[str, ...] | frozenset[str] = (),
    host: str | None = None,
) -> None:
    """Log one read of ``source`` (``"rest_api"``, ``"sql_database"``, ``"filesystem"``...).

    Args:
        url: where it was read from (a URL or a local path); shown without secrets.
        rows: the rows read (None when unknown).
        resource: the resource (stream) that read it.
        what: what was read when the URL does not say it (``"table 'orders'"``, ``"query 'recent'"``).
        method: the HTTP method.
        secret_params: more query parameter names whose values are secret (an API key's parameter).
        host: the host read from when the URL does not name it (a connector's subprocess: ``localhost``).

    Inside a resource, its metrics note that it wrote its own access records (so the run does not add
    the generic one of :func:`record_resource_reads`).
    """
    metrics = current()
    if metrics is not None:
        metrics.accessed = True
    if not log.isEnabledFor(logging.INFO):
        return
    shown = redact_url(url, secret_params)
    by_host, by_user = _who()
    fields = {
        "source": source,
        "resource": resource,
        "what": redact(what) if what else None,
        "method": method,
        "url": shown,
        "host": host or host_of(shown),
        "at": dt.datetime.now(dt.UTC).isoformat(),
        "by_host": by_host,
        "by_user": by_user,
        "rows": rows,
    }
    access = {k: v for k, v in fields.items() if v is not None}
    read = " ".join(p for p in (method, what, shown) if p)
    counted = f"{rows:,} rows" if rows is not None else "rows unknown"
    log.info(
        "%s read %s (host %s) by %s@%s: %s",
        resource or source,
        read,
        access["host"],
        by_user,
        by_host,
        counted,
        extra={"access": access},
    )


def record_resource_reads(resources: Iterable[Resource], run: RunMetrics | None) -> None:
    """One access record for each resource of a run whose source wrote none of its own: a Python
    function or data (``what`` names the resource, ``url`` its function as ``module.function``), with
    the rows the run normalized from it. Called when extraction ends, failed ones too."""
    if run is None or not log.isEnabledFor(logging.INFO):
        return
    for resource in resources:
        figures = run.resources.get(resource.name)
        if figures is None or figures.accessed:
            continue
        record_access(
            "python",
            url=resource.origin,
            rows=figures.rows,
            resource=resource.name,
            what=f"{'transformer' if resource.is_transformer else 'resource'} {resource.name!r}",
            host="localhost",
        )
