"""Authentication for REST APIs: bearer token, API key (header or query), HTTP basic, OAuth2 client
credentials.

Each is an ``httpx.Auth``, so it also works with a plain httpx client. Secrets never show in ``repr``;
each scheme registers the values it holds with :mod:`headwater.redact` (the OAuth2 token when it is
fetched), so that no message or log record of the process shows them, in any encoding.
A custom scheme is a subclass of :class:`Auth` (or any ``httpx.Auth``) given as ``client.auth``.
"""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import Generator, Mapping, Sequence
from typing import Any

import httpx

from headwater import redact
from headwater.errors import ConfigError, FatalSourceError, did_you_mean
from headwater.sources.rest_api.http import excerpt, redact_url


class Auth(httpx.Auth):
    """Base of Headwater's auth schemes."""

    #: query parameters this scheme adds, whose values are hidden in messages
    secret_params: frozenset[str] = frozenset()

    def secrets(self) -> tuple[str, ...]:
        """The secret values this scheme holds (scrubbed from every message)."""
        return ()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(***)"


class BearerToken(Auth):
    """``Authorization: Bearer <token>``.

    Args:
        token: the token (hidden in every message).
    """

    def __init__(self, token: str) -> None:
        if not isinstance(token, str) or not token:
            raise ConfigError("bearer auth needs a non-empty token")
        redact.register(token)
        self.token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Add the ``Authorization`` header to ``request``."""
        request.headers["Authorization"] = f"Bearer {self.token}"
        yield request

    def secrets(self) -> tuple[str, ...]:
        """The token."""
        return (self.token,)


class APIKey(Auth):
    """An API key in a header (default ``X-API-Key``) or a query parameter (``location="query"``).

    Args:
        api_key: the key (hidden in every message).
        name: the header's or the query parameter's name.
        location: ``"header"`` or ``"query"``.
    """

    def __init__(self, api_key: str, name: str = "X-API-Key", location: str = "header") -> None:
        if not isinstance(api_key, str) or not api_key:
            raise ConfigError("api_key auth needs a non-empty api_key")
        if location not in ("header", "query"):
            raise ConfigError(f"api_key auth: location must be 'header' or 'query', got {location!r}")
        redact.register(api_key)
        self.api_key = api_key
        self.name = name
        self.location = location
        self.secret_params = frozenset({name.lower()}) if location == "query" else frozenset()

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Add the key to ``request``, as a header or a query parameter."""
        if self.location == "header":
            request.headers[self.name] = self.api_key
        else:
            request.url = request.url.copy_merge_params({self.name: self.api_key})
        yield request

    def secrets(self) -> tuple[str, ...]:
        """The API key."""
        return (self.api_key,)


class HttpBasic(Auth):
    """HTTP basic authentication.

    Args:
        username: the user name.
        password: the password (hidden in every message).
    """

    def __init__(self, username: str, password: str) -> None:
        if not isinstance(username, str) or not isinstance(password, str):
            raise ConfigError("http_basic auth needs a username and a password")
        redact.register_basic(username, password)
        self.username = username
        self.password = password
        self._basic = httpx.BasicAuth(username, password)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Add the ``Authorization: Basic`` header to ``request``."""
        yield from self._basic.auth_flow(request)

    def secrets(self) -> tuple[str, ...]:
        """The password and the header's base64 credentials."""
        header = httpx.BasicAuth(self.username, self.password)._auth_header  # the base64 form too
        return (self.password, header.removeprefix("Basic "))


class OAuth2ClientCredentials(Auth):
    """OAuth2 client credentials: the token is fetched from ``token_url`` before the first request,
    fetched again shortly before it expires (``expires_in``), and once more when the API answers 401.

    Args:
        token_url: the token endpoint.
        client_id, client_secret: the client's credentials.
        scopes: requested scopes (sent space-separated as ``scope``).
        extra: more form fields for the token request (e.g. ``audience``).
        credentials_in: ``"body"`` (form fields, the default) or ``"header"`` (HTTP basic).
        expiry_margin: seconds before ``expires_in`` at which the token is refreshed.
    """

    requires_response_body = True

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        scopes: Sequence[str] | str | None = None,
        extra: Mapping[str, str] | None = None,
        credentials_in: str = "body",
        expiry_margin: float = 30.0,
    ) -> None:
        if not token_url or not client_id or not client_secret:
            raise ConfigError("oauth2_client_credentials auth needs token_url, client_id and client_secret")
        if credentials_in not in ("body", "header"):
            raise ConfigError(
                f"oauth2_client_credentials: credentials_in must be 'body' or 'header', got {credentials_in!r}"
            )
        redact.register(client_secret, f"{client_id}:{client_secret}")  # form field, or basic auth header
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.scopes = [scopes] if isinstance(scopes, str) else list(scopes or [])
        self.extra = dict(extra or {})
        self.credentials_in = credentials_in
        self.expiry_margin = expiry_margin
        self.token: str | None = None
        self.expires_at: float | None = None
        self.fetches = 0
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without its lock (a worker process gets a fresh one)."""
        return {k: v for k, v in self.__dict__.items() if k != "_lock"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def secrets(self) -> tuple[str, ...]:
        """The client secret and the current access token."""
        return tuple(s for s in (self.client_secret, self.token) if s)

    def _expired(self) -> bool:
        if self.token is None:
            return True
        return self.expires_at is not None and time.monotonic() >= self.expires_at - self.expiry_margin

    def _token_request(self) -> httpx.Request:
        form = {"grant_type": "client_credentials", **self.extra}
        if self.scopes:
            form["scope"] = " ".join(self.scopes)
        headers = {"Accept": "application/json"}
        if self.credentials_in == "header":
            headers["Authorization"] = httpx.BasicAuth(self.client_id, self.client_secret)._auth_header
        else:
            form.update(client_id=self.client_id, client_secret=self.client_secret)
        return httpx.Request("POST", self.token_url, data=form, headers=headers)

    def _take(self, response: httpx.Response) -> None:
        where = redact_url(self.token_url)
        if response.status_code != 200:
            raise FatalSourceError(
                f"the OAuth2 token endpoint {where} answered HTTP {response.status_code}: "
                f"{excerpt(response.text, secrets=self.secrets())}",
                hint="check client_id, client_secret and scopes of client.auth",
            )
        try:
            body = response.json()
            token = body["access_token"]
        except (ValueError, KeyError, TypeError) as exc:
            raise FatalSourceError(
                f"the OAuth2 token endpoint {where} returned no access_token: "
                f"{excerpt(response.text, secrets=self.secrets())}",
            ) from exc
        expires_in = body.get("expires_in")
        redact.register(str(token))
        with self._lock:
            self.token = str(token)
            self.expires_at = time.monotonic() + float(expires_in) if expires_in else None
            self.fetches += 1

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Fetch a token when there is none or it is about to expire, then send ``request`` with it.

        A 401 answer gets one fresh token and one more try (the token was revoked or expired early).
        """
        if self._expired():
            self._take((yield self._token_request()))
        request.headers["Authorization"] = f"Bearer {self.token}"
        response = yield request
        if response.status_code == 401:  # revoked or expired early: one fresh token, one more try
            self._take((yield self._token_request()))
            request.headers["Authorization"] = f"Bearer {self.token}"
            yield request


AUTH_TYPES: dict[str, type[Auth]] = {
    "bearer": BearerToken,
    "api_key": APIKey,
    "http_basic": HttpBasic,
    "oauth2_client_credentials": OAuth2ClientCredentials,
}


def make_auth(config: Any) -> httpx.Auth | None:
    """An auth object from ``client.auth``: a table with ``type`` and its fields, or an auth object."""
    if config is None or isinstance(config, httpx.Auth):
        return config
    if not isinstance(config, Mapping) or "type" not in config:
        raise ConfigError(
            f"client.auth must be a table with a type ({', '.join(AUTH_TYPES)}) or an httpx.Auth object",
            hint='for example {"type": "bearer", "token": "..."}',
        )
    kind = config["type"]
    cls = AUTH_TYPES.get(kind)
    if cls is None:
        raise ConfigError(f"client.auth: unknown type {kind!r}", hint=did_you_mean(kind, AUTH_TYPES))
    known = [name for name in inspect.signature(cls).parameters if name != "self"]
    for key in config:
        if key != "type" and key not in known:
            raise ConfigError(
                f"client.auth ({kind}): unknown key {key!r}", hint=did_you_mean(key, known, listing="its keys")
            )
    fields = {k: v for k, v in config.items() if k != "type"}
    try:
        return cls(**fields)
    except TypeError as exc:
        raise ConfigError(f"client.auth ({kind}): {exc}".replace("__init__() ", "")) from exc
