"""No REST secret leaks, tested as a class: every kind of secret a source holds x every encoding a
server may echo it in x every sink (the error message with its traceback, reprs, log records of every
logger at DEBUG, files under the working folder, the destination's system tables).

Each scenario runs twice against a real server on 127.0.0.1: once successfully (the server checks the
credentials) and once failing on the second page with a body that echoes the request (query string,
credential headers, form body) in the scenario's encoding, so that a partial package is kept too.
"""

from __future__ import annotations

import base64
import json
import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus, urlencode

import pyarrow.ipc
import pytest

import headwater as hw
from headwater import redact
from headwater.errors import SourceError
from tests.apiserver import APIServer, Reply, Request

ASCII = 'k3y+S3CRET/x y&z=#%"\\w'  # needs URL-, form- and JSON-escaping
UNICODE = "pässwörd+名前/ä&=;"  # only where HTTP can carry it: queries and form bodies
ISSUED = "issued-token-7Fq2"  # the OAuth2 token the server issues when it is not the secret itself


@dataclass(frozen=True)
class Kind:
    """Where a secret lives in the source's config, and how the server checks it."""

    client: Callable[[str, str], dict[str, Any]]  # (secret, server url) -> the client table
    valid: Callable[[Request, str], bool]
    endpoint: Callable[[str], dict[str, Any]] = lambda s: {}
    http_header: bool = True  # sent in a header: ASCII only
    basic: bool = False  # also travels as base64("ada:secret")


def _basic(user: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()


def _oauth(secret: str, url: str) -> dict[str, Any]:
    return {
        "type": "oauth2_client_credentials",
        "token_url": f"{url}/token",
        "client_id": "app",
        "client_secret": secret,
    }


KINDS: dict[str, Kind] = {
    "bearer token": Kind(
        lambda s, url: {"auth": {"type": "bearer", "token": s}},
        lambda r, s: r.headers.get("authorization") == f"Bearer {s}",
    ),
    "api key in a header": Kind(
        lambda s, url: {"auth": {"type": "api_key", "api_key": s}},
        lambda r, s: r.headers.get("x-api-key") == s,
    ),
    "api key in the query": Kind(
        lambda s, url: {"auth": {"type": "api_key", "api_key": s, "location": "query", "name": "api_key"}},
        lambda r, s: r.query.get("api_key") == s,
        http_header=False,
    ),
    "api key in a plainly named parameter": Kind(
        lambda s, url: {"auth": {"type": "api_key", "api_key": s, "location": "query", "name": "k"}},
        lambda r, s: r.query.get("k") == s,
        http_header=False,
    ),
    "basic auth password": Kind(
        lambda s, url: {"auth": {"type": "http_basic", "username": "ada", "password": s}},
        lambda r, s: r.headers.get("authorization") == _basic("ada", s),
        basic=True,
    ),
    "oauth2 client secret": Kind(
        lambda s, url: {"auth": _oauth(s, url)},
        lambda r, s: r.headers.get("authorization") == f"Bearer {ISSUED}",
        http_header=False,
    ),
    "oauth2 access token": Kind(
        lambda s, url: {"auth": _oauth("client-secret-0x5a", url)},
        lambda r, s: r.headers.get("authorization") == f"Bearer {s}",
    ),
    "a credential header": Kind(
        lambda s, url: {"headers": {"X-Custom-Token": s}},
        lambda r, s: r.headers.get("x-custom-token") == s,
    ),
    "a secret query parameter": Kind(
        lambda s, url: {},
        lambda r, s: r.query.get("access_token") == s,
        endpoint=lambda s: {"params": {"access_token": s}},
        http_header=False,
    ),
    "a password in the base URL": Kind(
        lambda s, url: {"base_url": url.replace("http://", f"http://ada:{quote(s, safe='')}@")},
        lambda r, s: r.headers.get("authorization") == _basic("ada", s),
        basic=True,
    ),
}

#: how the failing server echoes what it received
STYLES = ("as sent", "decoded", "json", "url-encoded", "base64")
SINKS = ("message", "describe", "logs", "working folder", "system tables")


def received(req: Request) -> list[str]:
    """The request's credential-bearing values, decoded."""
    values = [*req.query.values()]
    for name in ("authorization", "x-api-key", "x-custom-token"):
        value = req.headers.get(name)
        if value:
            values.append(value)
            scheme, _, token = value.partition(" ")
            if scheme == "Basic":
                values.append(base64.b64decode(token).decode())
            elif token:
                values.append(token)
    if req.body:
        values.extend(req.form().values())
    return values


def echo(req: Request, style: str) -> str:
    """What a chatty server sends back: the request it got, in ``style``."""
    if style == "as sent":
        headers = "; ".join(f"{k}: {v}" for k, v in req.headers.items() if k not in ("host", "user-agent"))
        return f"{req.method} {req.target} | {req.body.decode()} | {headers}"
    values = received(req)
    if style == "decoded":
        return " | ".join(values)
    if style == "json":
        return json.dumps({"error": "bad request", "seen": values})
    if style == "url-encoded":
        return "&".join(f"v={quote(v, safe='')}" for v in values)
    return " ".join(base64.b64encode(v.encode()).decode() for v in values)


def leaked_forms(secret: str, kind: Kind) -> list[str]:
    """How the secret could show, each computed independently of headwater.redact."""
    forms = [
        secret,
        quote(secret, safe=""),
        quote_plus(secret),
        quote(secret, safe="").lower(),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        repr(secret)[1:-1],
        base64.b64encode(secret.encode()).decode().rstrip("="),
    ]
    if kind.basic:
        forms.append(base64.b64encode(f"ada:{secret}".encode()).decode().rstrip("="))
    return forms


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def _serve(api: APIServer, kind: Kind, secret: str, state: dict[str, Any]) -> None:
    @api.route("/token", "POST")
    def token(req: Request) -> Reply:
        state["tokens"] += 1
        form = req.form()
        if state["fail"] and state["tokens"] > 1:
            return Reply(401, body=echo(req, state["style"]).encode())
        issued = ISSUED if form.get("client_secret") == secret else secret
        return Reply(json={"access_token": issued, "token_type": "bearer", "expires_in": 1})

    @api.route("/items")
    def items(req: Request) -> Reply:
        if req.query.get("page") == "2":
            if state["fail"]:
                return Reply(400, body=echo(req, state["style"]).encode())
            return Reply(json={"data": [{"id": 3}], "next": None})
        if not kind.valid(req, secret):
            return Reply(401, body=echo(req, state["style"]).encode())
        # like many APIs, the next link repeats the query it was given (secrets included)
        return Reply(json={"data": [{"id": 1}, {"id": 2}], "next": "items?" + urlencode({**req.query, "page": "2"})})


def _files(root: Path) -> str:
    out = []
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        if path.suffix == ".arrow":
            with pyarrow.ipc.open_file(path) as reader:
                out.append(json.dumps(reader.read_all().to_pylist(), default=str))
        else:
            out.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(out)


def _scenario(base: Path, kind_name: str, secret: str) -> dict[str, dict[str, str]]:
    """The sinks after one successful run and one failing run per echo style: ``{style: {sink: text}}``."""
    with redact.isolated_registry():  # what this scenario's source registers, nothing registered before
        return _isolated_scenario(base, kind_name, secret)


def _isolated_scenario(base: Path, kind_name: str, secret: str) -> dict[str, dict[str, str]]:
    kind = KINDS[kind_name]
    state: dict[str, Any] = {"fail": False, "tokens": 0, "style": STYLES[0]}
    collect = _Collect()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(collect)
    root.setLevel(logging.DEBUG)
    out: dict[str, dict[str, str]] = {}
    try:
        with APIServer() as api:
            _serve(api, kind, secret, state)
            client = {"base_url": api.url, "paginator": "json_link", "retries": 1, **kind.client(secret, api.url)}
            config = {
                "client": client,
                "resources": [{"name": "items", "endpoint": {"path": "items", **kind.endpoint(secret)}}],
            }
            source = hw.sources.rest_api(config)
            p = hw.pipeline(
                "rest",
                destination=hw.destinations.duckdb(str(base / "rest.duckdb")),
                dataset="raw",
                pipelines_dir=base / "pipelines",
                progress=False,
            )
            info = p.run(source)
            assert len(api.calls("/items")) == 2, "the server refused the credentials"
            describe = " ".join(
                repr(x) for x in (source, source.client, source.client.auth, source.client.transport, p, str(info))
            )
            for style in STYLES:
                state.update(fail=True, tokens=0, style=style)
                with pytest.raises(SourceError) as failed:
                    p.run(hw.sources.rest_api(config))
                message = "".join(traceback.format_exception(failed.value))
                assert "***" in message  # the echo was shown, with its secrets hidden
                out[style] = {"message": message, "logs": "\n".join(collect.lines)}
                collect.lines.clear()
            tables = json.dumps(
                [
                    p.query(f"select * from raw.{t}").to_pylist()
                    for t in ("_hw_loads", "_hw_state", "_hw_schemas", "items")
                ],
                default=str,
            )
    finally:
        root.removeHandler(collect)
        root.setLevel(old_level)
    files = _files(base / "pipelines")
    for sinks in out.values():  # these hold what every run left behind
        sinks.update({"describe": describe, "working folder": files, "system tables": tables})
    return out


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, str, str], dict[str, str]]:
    cache: dict[tuple[str, str], dict[str, dict[str, str]]] = {}

    def get(kind: str, secret: str, style: str) -> dict[str, str]:
        if (kind, secret) not in cache:
            cache[(kind, secret)] = _scenario(tmp_path_factory.mktemp("secrets"), kind, secret)
        return cache[(kind, secret)][style]

    return get


CASES = [
    pytest.param(kind, secret, style, sink, id=f"{kind}-{label}-{style}-{sink}")
    for kind, spec in KINDS.items()
    for label, secret in (("ascii", ASCII), ("unicode", UNICODE))
    if label == "ascii" or not spec.http_header
    for style in STYLES
    for sink in SINKS
]


@pytest.mark.parametrize(("kind", "secret", "style", "sink"), CASES)
def test_no_secret_reaches_any_sink(
    kind: str, secret: str, style: str, sink: str, scenario: Callable[[str, str, str], dict[str, str]]
) -> None:
    text = scenario(kind, secret, style)[sink]
    for form in leaked_forms(secret, KINDS[kind]):
        assert form not in text, f"{form!r} in the {sink}"
