"""Sending requests reliably: retries with backoff and jitter, ``Retry-After``, a shared rate limit,
bounded concurrency, response actions, and errors that say what failed without leaking secrets.

Everything here is async (httpx's ``AsyncClient``). One :class:`Transport` is shared by all streams of
a source, so its rate limit and its concurrency bound hold for the source as a whole.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from headwater import redact
from headwater.errors import ConfigError, FatalSourceError, HeadwaterError, RetriableSourceError
from headwater.executors.ratelimit import RateLimit
from headwater.observe import metrics
from headwater.optional import require

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("headwater.rest_api")

RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
_EXCERPT = 300


# -- redaction (headwater.redact does it; these names serve the REST modules) ----------------------
def redact_url(url: Any, secret_params: Iterable[str] = ()) -> str:
    """The URL with its password and secret query values (and ``secret_params``' values) as ``***``."""
    return redact.redact_url(url, secret_params)


def redact_text(text: str, secrets: Iterable[str]) -> str:
    """``text`` with ``secrets`` (in every encoding), registered secrets and secret-looking fields hidden."""
    return redact.redact(text, secrets)


def excerpt(text: str, limit: int = _EXCERPT, secrets: Iterable[str] = ()) -> str:
    """The first ``limit`` characters of ``text`` on one line, secrets hidden before it is cut (so that
    no part of a secret survives the cut)."""
    text = re.sub(r"\s+", " ", redact.redact(text, secrets)).strip()
    return text if len(text) <= limit else text[:limit] + f"... ({len(text):,} characters)"


# -- retry policy ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RetryPolicy:
    """How failed requests are retried.

    Args:
        attempts: total attempts per request (1 means no retry).
        backoff: the first wait in seconds; each retry doubles it, up to ``max_backoff``. The wait is
            jittered (a random 50-100% of it) so that concurrent streams do not retry in lockstep.
        max_backoff: the longest wait between two attempts, unless the server asks for longer.
        max_retry_after: the longest ``Retry-After`` honoured; a server asking for more fails the
            request with a clear error rather than sleeping for hours.
        statuses: the HTTP statuses that are retried (connection errors and timeouts always are).
    """

    attempts: int = 5
    backoff: float = 0.5
    max_backoff: float = 30.0
    max_retry_after: float = 600.0
    statuses: frozenset[int] = RETRY_STATUSES

    @classmethod
    def from_config(cls, config: Any) -> RetryPolicy:
        """A policy from ``client.retries``: None (the default), a number of attempts, a table or a policy.

        Raises:
            ConfigError: an unknown key or a bad value.
        """
        if config is None:
            return cls()
        if isinstance(config, RetryPolicy):
            return config
        if isinstance(config, int) and not isinstance(config, bool):
            return cls(attempts=config)
        if not isinstance(config, Mapping):
            raise ConfigError(f"client.retries must be a number of attempts or a table, got {config!r}")
        known = {"attempts", "backoff", "max_backoff", "max_retry_after", "statuses"}
        unknown = set(config) - known
        if unknown:
            raise ConfigError(f"client.retries: unknown keys {sorted(unknown)}; known: {sorted(known)}")
        values = dict(config)
        if "statuses" in values:
            values["statuses"] = frozenset(int(s) for s in values["statuses"])
        policy = cls(**values)
        if policy.attempts < 1:
            raise ConfigError(f"client.retries.attempts must be at least 1, got {policy.attempts}")
        return policy

    def wait(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return min(self.max_backoff, self.backoff * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)


def retry_after(response: httpx.Response) -> float | None:
    """The server's ``Retry-After`` (seconds or an HTTP date) in seconds, or None."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def quota_reset(response: httpx.Response) -> float | None:
    """Seconds until an exhausted quota resets (``X-RateLimit-Remaining: 0`` with ``X-RateLimit-Reset``,
    as GitHub answers with 403 or 429), or None. The reset is a Unix time in seconds or milliseconds,
    or a number of seconds from now."""
    headers = response.headers
    if headers.get("x-ratelimit-remaining", "").strip() != "0":
        return None
    try:
        reset = float(headers.get("x-ratelimit-reset", ""))
    except ValueError:
        return None
    if reset > 1e12:
        reset /= 1000.0
    return max(0.0, reset - time.time()) if reset > 1e9 else max(0.0, reset)


# -- rate limit and concurrency ----------------------------------------------------------------------
class RateLimiter:
    """At most ``per_second`` requests per second, spread evenly, across every stream that shares it.

    A request takes the next free slot under a lock, then sleeps until that slot comes. The slots are
    shared by every thread and event loop of the process and, when the run's executor shares rate
    limits (:mod:`headwater.executors.ratelimit`), by every worker process and Ray task of the run
    that limits the same ``identity`` at the same rate.

    Args:
        per_second: requests per second; None: no limit.
        identity: what the limit applies to: the client's base URL, without credentials.
    """

    def __init__(self, per_second: float | None, identity: str = "") -> None:
        if per_second is not None and (isinstance(per_second, bool) or not per_second > 0):
            raise ConfigError(f"client.rate_limit must be a positive number of requests per second, got {per_second!r}")
        self.interval = 1.0 / per_second if per_second else 0.0
        self.limit = RateLimit(per_second, identity) if per_second else None

    async def wait(self) -> float:
        """Wait for this request's slot (at once without a limit); the seconds waited."""
        if self.limit is None:
            return 0.0
        return await self.limit.wait_async()


class Gate:
    """At most ``limit`` requests in flight at once (one semaphore per event loop).

    Args:
        limit: the number of requests in flight at once.
    """

    def __init__(self, limit: int) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ConfigError(f"client.concurrency must be a positive integer, got {limit!r}")
        self.limit = limit
        self._semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without its lock and per-loop semaphores (a worker process makes its own)."""
        return {"limit": self.limit}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["limit"])  # type: ignore[misc]  # fresh lock and semaphores

    def semaphore(self) -> asyncio.Semaphore:
        """The semaphore of the running event loop (created at its first use in that loop)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            found = self._semaphores.get(loop)
            if found is None:
                found = self._semaphores[loop] = asyncio.Semaphore(self.limit)
        return found


# -- response actions --------------------------------------------------------------------------------
ACTIONS = ("ignore", "retry", "stop", "fail")


@dataclass(frozen=True)
class ResponseAction:
    """What to do with a response that matches: ``ignore`` (no records, no further pages), ``retry``
    (as if the server had failed), ``stop`` (end the stream, keeping what was read), ``fail``, or a
    callable that receives the response and returns a new one (or None to ignore it)."""

    status_code: int | None = None
    content: str | None = None
    action: str | Callable[[Any], Any] = "ignore"

    @classmethod
    def from_config(cls, config: Any, where: str) -> ResponseAction:
        """A response action from a ``{status_code, content, action}`` table (or an action as it is).

        Raises:
            ConfigError: an unknown key, an unknown action, or neither a status code nor a content.
        """
        if isinstance(config, ResponseAction):
            return config
        if not isinstance(config, Mapping):
            raise ConfigError(f"{where}: a response action is a table like {{status_code=404, action='ignore'}}")
        unknown = set(config) - {"status_code", "content", "action"}
        if unknown:
            raise ConfigError(f"{where}: unknown keys {sorted(unknown)} in a response action")
        action = config.get("action", "ignore")
        if not callable(action) and action not in ACTIONS:
            raise ConfigError(f"{where}: action must be one of {ACTIONS} or a function, got {action!r}")
        if config.get("status_code") is None and config.get("content") is None:
            raise ConfigError(f"{where}: a response action needs status_code, content or both")
        return cls(config.get("status_code"), config.get("content"), action)

    def matches(self, response: httpx.Response) -> bool:
        """Whether ``response`` has this action's status code and contains its content (each if given)."""
        if self.status_code is not None and response.status_code != self.status_code:
            return False
        return self.content is None or self.content in response.text


# -- the transport -----------------------------------------------------------------------------------
@dataclass
class Outcome:
    """A response that passed the checks, or the decision to ignore it or stop the stream."""

    response: httpx.Response | None
    stop: bool = False


@dataclass
class Transport:
    """Sends requests for every stream of one source: retries, rate limit, concurrency, actions, and
    a total deadline per attempt (connecting, the headers and the whole body: a body that trickles in
    a byte at a time cannot hold a request open beyond it)."""

    retry: RetryPolicy = field(default_factory=RetryPolicy)
    limiter: RateLimiter = field(default_factory=lambda: RateLimiter(None))
    gate: Gate = field(default_factory=lambda: Gate(8))
    secret_params: frozenset[str] = frozenset()
    secrets: tuple[str, ...] = field(default=(), repr=False)
    deadline: float | None = None

    def describe(self, request: httpx.Request) -> str:
        """``request``'s method and URL for a message, secrets hidden."""
        return f"{request.method} {redact_url(request.url, self.secret_params)}"

    def clean(self, text: str) -> str:
        """``text`` with this source's secrets hidden."""
        return redact_text(text, self.secrets)

    async def _send_once(self, client: httpx.AsyncClient, request: httpx.Request) -> httpx.Response:
        async with self.gate.semaphore():
            if self.deadline is None:
                return await client.send(request)
            async with asyncio.timeout(self.deadline):
                return await client.send(request)

    async def send(
        self,
        client: httpx.AsyncClient,
        request: httpx.Request,
        *,
        resource: str,
        actions: tuple[ResponseAction, ...] = (),
    ) -> Outcome:
        """Send ``request`` until it succeeds, is ignored, or retries run out.

        Each attempt, each retry with its reason (``HTTP 429``, ``ConnectError``...) and each wait for the
        rate limit or a server's ``Retry-After`` count in the running resource's metrics."""
        httpx = require("httpx", "the rest_api source", extra="rest")
        figures = metrics.current()
        last: str = ""
        reason = ""
        for attempt in range(1, self.retry.attempts + 1):
            waited = await self.limiter.wait()
            if figures is not None:
                figures.waited(waited)
                figures.request()
            response = None
            try:
                response = await self._send_once(client, request)
            except HeadwaterError:
                raise  # an auth flow's own error (e.g. the token endpoint refused the credentials)
            except TimeoutError:  # the total deadline (httpx's own timeouts are httpx.TimeoutException)
                last = f"no complete response within the {self.deadline or 0:g} s deadline (client.timeout)"
                reason = "deadline"
            except (httpx.TimeoutException, httpx.TransportError, httpx.DecodingError) as exc:
                redact.scrub_exception(exc)
                reason = type(exc).__name__
                kind = "connection failed"
                if isinstance(exc, httpx.TimeoutException):
                    kind = "timed out"
                elif isinstance(exc, httpx.DecodingError):
                    kind = "undecodable body"
                last = f"{kind} ({type(exc).__name__}: {self.clean(str(exc)) or 'no detail'})"
            except httpx.RequestError as exc:  # too many redirects, an unsupported protocol...
                redact.scrub_exception(exc)
                raise FatalSourceError(
                    f"{self.describe(request)}: {type(exc).__name__}: {self.clean(str(exc))}", resource=resource
                ) from exc
            quota = None
            if response is not None:
                decided = self._act(response, actions, resource)
                if decided is not None:
                    return decided
                quota = quota_reset(response) if response.status_code in (403, 429) else None
                if (
                    response.status_code not in self.retry.statuses
                    and quota is None
                    and not self._retry_action(response, actions)
                ):
                    if response.status_code < 400:
                        return Outcome(response)
                    raise FatalSourceError(
                        self._failure(request, response, attempt),
                        hint=_hint_for(response.status_code),
                        resource=resource,
                    )
                last = f"HTTP {response.status_code} {response.reason_phrase}"
                reason = f"HTTP {response.status_code}"
            if attempt == self.retry.attempts:
                break
            delay = self.retry.wait(attempt)
            asked = None
            if response is not None:
                asked = retry_after(response)
                asked = quota if asked is None else asked
                if asked is not None:
                    if asked > self.retry.max_retry_after:
                        raise RetriableSourceError(
                            f"{self.describe(request)}: the server asked to wait {asked:.0f} s, more than "
                            f"client.retries.max_retry_after ({self.retry.max_retry_after:.0f} s)",
                            hint="run again later, or raise max_retry_after",
                            resource=resource,
                        )
                    delay = asked
            log.info(
                "%s: %s; retry %d of %d in %.2f s",
                self.describe(request),
                last,
                attempt,
                self.retry.attempts - 1,
                delay,
            )
            if figures is not None:
                figures.retry(reason)
                if asked is not None:  # the server asked for the wait: a rate limit
                    figures.waited(delay)
            await asyncio.sleep(delay)
        attempts = f"{self.retry.attempts} attempt{'s' if self.retry.attempts > 1 else ''}"
        if response is not None:
            message = self._failure(request, response, self.retry.attempts)
        else:
            message = f"{self.describe(request)}: {last}, after {attempts}"
        raise RetriableSourceError(
            message,
            hint="the API kept failing; the rows read before are kept. Check the service and run again, "
            "or raise client.retries / client.timeout",
            resource=resource,
        )

    def _act(self, response: httpx.Response, actions: tuple[ResponseAction, ...], resource: str) -> Outcome | None:
        for action in actions:
            if not action.matches(response):
                continue
            what = action.action
            if callable(what):
                replaced = what(response)
                return Outcome(replaced) if replaced is not None else Outcome(None)
            if what == "ignore":
                log.info("%s: HTTP %d ignored (response action)", self.describe(response.request), response.status_code)
                return Outcome(None)
            if what == "stop":
                log.info("%s: stream stopped by a response action", self.describe(response.request))
                return Outcome(None, stop=True)
            if what == "fail":
                raise FatalSourceError(
                    self._failure(response.request, response, 1) + " (response action: fail)", resource=resource
                )
            return None  # retry: handled by the caller
        return None

    @staticmethod
    def _retry_action(response: httpx.Response, actions: tuple[ResponseAction, ...]) -> bool:
        return any(a.action == "retry" and a.matches(response) for a in actions)

    def _failure(self, request: httpx.Request, response: httpx.Response, attempts: int) -> str:
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        try:
            body = response.text
        except Exception:  # an undecodable body: show its size only
            body = f"<{len(response.content)} bytes>"
        return (
            f"{self.describe(request)} returned HTTP {response.status_code} {response.reason_phrase}{tries}; "
            f"body: {excerpt(body, secrets=self.secrets) or '(empty)'}"
        )


def _hint_for(status: int) -> str:
    if status in (401, 403):
        return "check the credentials (client.auth) and their permissions"
    if status == 404:
        return "check the path; to treat 404 as 'no records' add response_actions=[{status_code=404, action='ignore'}]"
    if 400 <= status < 500:
        return "the API refused the request: check the path, params and body of this resource"
    return "the server failed; run again later"
