"""Auth schemes against a real server that checks credentials; secrets stay out of messages, logs
and state."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import headwater as hw
from headwater.errors import ConfigError, FatalSourceError, SourceError
from tests.apiserver import APIServer, Reply, Request
from tests.integration.rest_api.conftest import ids, records

DATA = records(12)


def guarded(api: APIServer, ok: Callable[[Request], bool]) -> None:
    @api.route("/items")
    def items(req: Request) -> Reply:
        if not ok(req):
            return Reply(401, {"message": "Bad credentials"})
        page = int(req.query.get("page", "1"))
        return Reply(json={"data": DATA[(page - 1) * 5 : page * 5]})


def run(api: APIServer, make_pipeline: Callable[..., Any], auth: Any) -> Any:
    p = make_pipeline("rest")
    p.run(
        hw.sources.rest_api(
            {
                "client": {"base_url": api.url, "auth": auth, "paginator": "page_number"},
                "resources": [
                    {"name": "items", "endpoint": {"incremental": {"cursor_path": "id", "start_param": "since"}}}
                ],
            }
        )
    )
    return p


def assert_no_secret(p: Any, tmp_path: Path, secret: str) -> None:
    """Neither the destination's state nor any file in the working folder holds the secret."""
    for table in ("_hw_state", "_hw_loads", "_hw_schemas"):
        dump = json.dumps(p.query(f"select * from raw.{table}").to_pylist(), default=str)
        assert secret not in dump, table
    for path in (tmp_path / "pipelines").rglob("*"):
        if path.is_file() and path.suffix in (".json", ".txt", ""):
            assert secret.encode() not in path.read_bytes(), path


def test_bearer(api: APIServer, make_pipeline: Callable[..., Any], tmp_path: Path) -> None:
    guarded(api, lambda r: r.headers.get("authorization") == "Bearer tok-123456")
    p = run(api, make_pipeline, {"type": "bearer", "token": "tok-123456"})
    assert ids(p) == list(range(12))
    assert_no_secret(p, tmp_path, "tok-123456")


def test_api_key_in_a_header(api: APIServer, make_pipeline: Callable[..., Any]) -> None:
    guarded(api, lambda r: r.headers.get("x-api-key") == "key-abcdef")
    p = run(api, make_pipeline, {"type": "api_key", "api_key": "key-abcdef"})
    assert ids(p) == list(range(12))


def test_api_key_in_the_query_is_hidden_in_logs(
    api: APIServer, make_pipeline: Callable[..., Any], caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    failed = {"once": False}

    def ok(r: Request) -> bool:
        return r.query.get("key") == "qkey-98765"

    @api.route("/items")
    def items(req: Request) -> Reply:
        if not ok(req):
            return Reply(401, {})
        if not failed["once"]:  # one retried failure so that the retry is logged with the URL
            failed["once"] = True
            return Reply(503, {})
        page = int(req.query.get("page", "1"))
        return Reply(json={"data": DATA[(page - 1) * 5 : page * 5]})

    with caplog.at_level(logging.DEBUG, logger="headwater"):
        p = run(
            api,
            make_pipeline,
            {"type": "api_key", "name": "key", "api_key": "qkey-98765", "location": "query"},
        )
    assert ids(p) == list(range(12))
    assert "key=***" in caplog.text
    assert "qkey-98765" not in caplog.text
    assert_no_secret(p, tmp_path, "qkey-98765")


def test_http_basic(api: APIServer, make_pipeline: Callable[..., Any]) -> None:
    expected = "Basic " + base64.b64encode(b"ada:pa55word").decode()
    guarded(api, lambda r: r.headers.get("authorization") == expected)
    p = run(api, make_pipeline, {"type": "http_basic", "username": "ada", "password": "pa55word"})
    assert ids(p) == list(range(12))


def test_wrong_credentials_fail_without_showing_them(api: APIServer, make_pipeline: Callable[..., Any]) -> None:
    @api.route("/items")
    def items(req: Request) -> Reply:  # an API that echoes what it got, as some do in error bodies
        return Reply(401, {"message": "Bad credentials", "got": req.headers.get("authorization")})

    with pytest.raises(FatalSourceError) as info:
        run(api, make_pipeline, {"type": "bearer", "token": "wrong-token-777"})
    assert "HTTP 401" in str(info.value) and "Bad credentials" in str(info.value)
    assert "wrong-token-777" not in str(info.value)


class TokenServer:
    """An OAuth2 token endpoint: tokens expire after ``expires_in`` seconds, can be revoked."""

    def __init__(self, api: APIServer, expires_in: int = 3600) -> None:
        self.issued: list[str] = []
        self.revoked: set[str] = set()
        self.forms: list[dict[str, str]] = []

        @api.route("/oauth/token", method="POST")
        def token(req: Request) -> Reply:
            form = req.form()
            self.forms.append(form)
            if form.get("client_secret") != "cs-s3cret" or form.get("grant_type") != "client_credentials":
                return Reply(401, {"error": "invalid_client"})
            issued = f"at-{len(self.issued) + 1}"
            self.issued.append(issued)
            return Reply(json={"access_token": issued, "token_type": "bearer", "expires_in": expires_in})

    def valid(self, req: Request) -> bool:
        header = req.headers.get("authorization", "")
        return header.startswith("Bearer ") and header[7:] in self.issued and header[7:] not in self.revoked


def oauth(api: APIServer, **extra: Any) -> dict[str, Any]:
    return {
        "type": "oauth2_client_credentials",
        "token_url": f"{api.url}/oauth/token",
        "client_id": "cid",
        "client_secret": "cs-s3cret",
        "scopes": ["read", "write"],
        **extra,
    }


def test_oauth2_client_credentials_fetches_one_token(api: APIServer, make_pipeline: Callable[..., Any]) -> None:
    tokens = TokenServer(api)
    guarded(api, tokens.valid)
    p = run(api, make_pipeline, oauth(api, extra={"audience": "https://api"}))
    assert ids(p) == list(range(12))
    assert tokens.issued == ["at-1"]  # one token for all four pages
    assert tokens.forms[0]["scope"] == "read write" and tokens.forms[0]["audience"] == "https://api"


def test_oauth2_token_is_refreshed_when_it_expires(api: APIServer, make_pipeline: Callable[..., Any]) -> None:
    tokens = TokenServer(api, expires_in=1)  # within the 30 s margin: every request needs a new token
    guarded(api, tokens.valid)
    p = run(api, make_pipeline, oauth(api))
    assert ids(p) == list(range(12))
    assert len(tokens.issued) == len(api.calls("/items")) == 4


def test_oauth2_token_is_refreshed_on_401(api: APIServer, make_pipeline: Callable[..., Any]) -> None:
    tokens = TokenServer(api)
    seen = {"n": 0}

    def ok(req: Request) -> bool:
        seen["n"] += 1
        if seen["n"] == 2:  # the server revokes the first token after one page
            tokens.revoked.add("at-1")
        return tokens.valid(req)

    guarded(api, ok)
    p = run(api, make_pipeline, oauth(api))
    assert ids(p) == list(range(12))
    assert tokens.issued == ["at-1", "at-2"]


def test_oauth2_bad_client_secret_is_a_clear_error(api: APIServer, make_pipeline: Callable[..., Any]) -> None:
    TokenServer(api)
    guarded(api, lambda r: True)
    with pytest.raises(FatalSourceError) as info:
        run(api, make_pipeline, oauth(api, client_secret="nope-nope"))
    assert "token endpoint" in str(info.value) and "invalid_client" in str(info.value)
    assert "nope-nope" not in str(info.value)


def test_auth_objects_do_not_show_secrets() -> None:
    from headwater.sources.rest_api import APIKey, BearerToken, HttpBasic, OAuth2ClientCredentials, RESTClient

    for auth in (
        BearerToken("tok-xyz1"),
        APIKey("tok-xyz1"),
        HttpBasic("u", "tok-xyz1"),
        OAuth2ClientCredentials("http://127.0.0.1/t", "c", "tok-xyz1"),
    ):
        assert "tok-xyz1" not in repr(auth)
        assert "tok-xyz1" not in repr(RESTClient("http://127.0.0.1", auth=auth))


@pytest.mark.parametrize(
    ("auth", "message"),
    [
        ({"type": "bearer"}, "missing 1 required positional argument: 'token'"),
        ({"type": "kerberos"}, "unknown type 'kerberos'"),
        ({"type": "beare", "token": "t"}, "did you mean 'bearer'"),
        ({"type": "bearer", "tokn": "t"}, "unknown key 'tokn'"),
        ({"type": "oauth2_client_credentials", "client_secrt": "s"}, "did you mean 'client_secret'"),
        ({"type": "api_key", "api_key": "k", "location": "cookie"}, "location must be 'header' or 'query'"),
        ("tok", "must be a table with a type"),
    ],
)
def test_bad_auth_configs(auth: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        hw.sources.rest_api({"client": {"base_url": "http://127.0.0.1:1", "auth": auth}, "resources": ["x"]})


def test_credentials_given_as_plain_headers_are_hidden_too(
    api: APIServer, make_pipeline: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    @api.route("/items")
    def items(req: Request) -> Reply:
        return Reply(500, {"echo": req.headers.get("authorization")})

    src = hw.sources.rest_api(
        {
            "client": {
                "base_url": api.url,
                "headers": {"Authorization": "token ghp_0123456789abcdef"},
                "retries": {"attempts": 2, "backoff": 0.01},
            },
            "resources": ["items"],
        }
    )
    with caplog.at_level(logging.DEBUG, logger="headwater"), pytest.raises(SourceError) as info:
        make_pipeline("rest").run(src)
    assert '"echo": "***"' in str(info.value)  # the body echoed the header; the excerpt hides it
    assert "ghp_0123456789abcdef" not in caplog.text
