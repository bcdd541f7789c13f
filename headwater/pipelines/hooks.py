"""Alerts: ``on_failure`` and ``on_success`` hooks called with the summary of a run.

A hook is a callable taking the summary (a dict, see :func:`headwater.pipelines.observed.run_summary`)
or a webhook URL (``http://`` or ``https://``) that receives the same summary as a JSON POST (a
5 s timeout, one retry). A hook that fails is logged (warning, with the reason) and never changes the
run's outcome: a failed run still raises its own error, a successful one still returns its info.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from headwater.errors import ConfigError, closest
from headwater.optional import require
from headwater.redact import redact, redact_url

log = logging.getLogger("headwater.alerts")

#: seconds a webhook may take (connecting, sending, the reply), per attempt
WEBHOOK_TIMEOUT = 5.0
#: attempts per webhook call (one retry)
WEBHOOK_ATTEMPTS = 2

Hook = Callable[[dict[str, Any]], Any] | str


def check_hook(value: Any, name: str) -> Hook | None:
    """``value`` as a hook (a callable or an http(s) URL), None for None; anything else is a ConfigError."""
    if value is None or callable(value):
        return value
    what = f"{name} must be a callable taking the run summary (a dict), or a webhook URL (http:// or https://)"
    if not isinstance(value, str):
        raise ConfigError(f"{what}; got {type(value).__name__} {value!r:.80}", hint=f"pass a function: {name}=notify")
    shown = redact_url(value)
    try:
        parts = urlsplit(value)
    except ValueError as exc:
        raise ConfigError(f"{what}; {shown!r} is not a URL ({exc})") from None
    if parts.scheme.lower() not in ("http", "https"):
        if ":" in value and "://" not in value:  # package.module:function, as flows files write it
            hint = "in Python, pass the function itself; a flows file may name it as 'package.module:function'"
        else:
            close = closest(parts.scheme.lower(), ("http", "https")) if parts.scheme else None
            hint = f"did you mean {close}://...?" if close else "start the URL with http:// or https://"
        raise ConfigError(f"{what}; got {shown!r}", hint=hint)
    if not parts.hostname:
        raise ConfigError(f"{what}; {shown!r} has no host", hint="write it as https://host/path")
    require("httpx", f"the webhook {name}", extra="alerts")
    return value


@dataclass(frozen=True)
class Hooks:
    """The hooks of a pipeline, checked."""

    on_failure: Hook | None = None
    on_success: Hook | None = None

    @classmethod
    def check(cls, on_failure: Any, on_success: Any) -> Hooks:
        """Both hooks checked (see :func:`check_hook`)."""
        return cls(check_hook(on_failure, "on_failure"), check_hook(on_success, "on_success"))

    def fire(self, summary: Mapping[str, Any]) -> None:
        """Call the hook for ``summary["status"]`` (``on_failure`` or ``on_success``); never raises."""
        name = "on_failure" if summary.get("status") == "failed" else "on_success"
        hook = self.on_failure if name == "on_failure" else self.on_success
        if hook is None:
            return
        try:
            if isinstance(hook, str):
                post(hook, summary)
            else:
                hook(dict(summary))
        except Exception as exc:  # a broken hook must not hide the run's outcome
            log.warning(
                "the %s hook %s failed: %s: %s (the run's outcome is unchanged)",
                name,
                _describe(hook),
                type(exc).__name__,
                redact(str(exc)),
            )


def _describe(hook: Hook) -> str:
    if isinstance(hook, str):
        return redact_url(hook)
    return getattr(hook, "__qualname__", None) or repr(hook)


class WebhookError(Exception):
    """A webhook did not take the summary (its reason is the message)."""


def post(url: str, summary: Mapping[str, Any]) -> None:
    """POST ``summary`` as JSON to ``url``; one retry; a :class:`WebhookError` when both attempts fail."""
    httpx = require("httpx", "webhook alerts", extra="alerts")
    body = json.dumps(summary, default=str).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "headwater-alerts"}
    reasons = []
    with httpx.Client(timeout=WEBHOOK_TIMEOUT) as client:
        for _ in range(WEBHOOK_ATTEMPTS):
            try:
                response = client.post(url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                reasons.append(f"{type(exc).__name__}: {exc}")
                continue
            if response.status_code < 300:
                return
            reasons.append(f"HTTP {response.status_code} {response.reason_phrase}")
    raise WebhookError(f"no attempt of {WEBHOOK_ATTEMPTS} succeeded: {'; '.join(reasons)}")
