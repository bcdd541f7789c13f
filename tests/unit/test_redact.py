"""headwater.redact as a class: every kind of secret, in every encoding, kept out of every sink (error
messages, log records of any logger, URLs shown and stored), by value and by shape."""

from __future__ import annotations

import base64
import contextlib
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater import redact
from headwater.errors import DestinationError, FatalSourceError

MASK = redact.MASK


@contextlib.contextmanager
def registered(*secrets: str, basic_user: str | None = None) -> Iterator[None]:
    """Register secrets for one test only (the registry is process-wide: other tests must not see
    these values masked)."""
    with redact.isolated_registry():
        if basic_user is not None:
            redact.register_basic(basic_user, secrets[0])
        else:
            redact.register(*secrets)
        yield


# -- how a secret can look in text, each computed by the library that produces it -------------------
def _httpx_query(s: str) -> str:
    return str(httpx.URL("http://127.0.0.1/items", params={"api_key": s})).split("api_key=", 1)[1]


def _httpx_form(s: str) -> str:
    return httpx.Request("POST", "http://127.0.0.1/token", data={"client_secret": s}).read().decode().split("=", 1)[1]


def _lower_hex(s: str) -> str:
    import re

    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(s, safe=""))


ENCODINGS: dict[str, Callable[[str], str]] = {
    "plain": lambda s: s,
    "url-encoded": lambda s: quote(s, safe=""),
    "url-encoded, lower-case hex": _lower_hex,
    "url path": lambda s: quote(s),
    "form-encoded": quote_plus,
    "httpx query": _httpx_query,
    "httpx form": _httpx_form,
    "double url-encoded": lambda s: quote(quote(s, safe=""), safe=""),
    "json": lambda s: json.dumps(s)[1:-1],
    "json, unicode kept": lambda s: json.dumps(s, ensure_ascii=False)[1:-1],
    "repr": lambda s: repr(s)[1:-1],
    "bytes repr": lambda s: repr(s.encode())[2:-1],
    "base64": lambda s: base64.b64encode(s.encode()).decode().rstrip("="),
}

SECRETS = ["PLAINKEY-9f8e7d6c", "key+S3CRET/x y&z=1#h%2F", "pässwörd-ünï-名前-42", "tok'\"\\en\tzz"]


def _message_sink(text: str) -> str:
    return str(FatalSourceError(f"GET http://127.0.0.1/items failed: {text}", hint=f"see {text}", url=text))


def _log_sink(text: str, caplog: pytest.LogCaptureFixture) -> str:
    out = []
    for name in ("httpx", "httpcore.http11", "urllib3.connectionpool", "sqlalchemy.engine.Engine", "headwater", "x"):
        caplog.clear()
        logger = logging.getLogger(name)
        logger.debug("HTTP Request: %s %r", text, {"k": text})
        try:
            raise RuntimeError(f"connection to {text} failed")
        except RuntimeError:
            logger.exception("failed with %s", text)
        out.append(caplog.text)
        out.extend(r.getMessage() for r in caplog.records)
    return "\n".join(out)


@pytest.mark.parametrize("sink", ["redact", "message", "log"])
@pytest.mark.parametrize("encoding", list(ENCODINGS))
@pytest.mark.parametrize("secret", SECRETS)
def test_a_registered_secret_is_hidden_in_every_encoding_and_sink(
    secret: str, encoding: str, sink: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    shown = ENCODINGS[encoding](secret)
    text = f"before {shown} after"
    with registered(secret):
        if sink == "redact":
            out = redact.redact(text)
        elif sink == "message":
            out = _message_sink(text)
        else:
            out = _log_sink(text, caplog)
    assert shown not in out and secret not in out
    assert MASK in out and "before" in out and "after" in out


def test_basic_auth_header_is_hidden_in_base64(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    request = httpx.Request("GET", "http://127.0.0.1/")
    flow = httpx.BasicAuth("ada", "hunter2-basic").sync_auth_flow(request)
    value = next(flow).headers["authorization"]  # "Basic YWRhOmh1bnRlcjItYmFzaWM="
    token = value.split()[1]
    with registered("hunter2-basic", basic_user="ada"):
        logging.getLogger("httpcore").debug("headers: [(b'Accept', b'*/*'), (b'X-Echo', %r)]", token.encode())
        message = str(DestinationError(f"echoed {token}"))
    assert token.rstrip("=") not in caplog.text and token.rstrip("=") not in message


@settings(max_examples=150, deadline=None)
@given(
    secret=st.text(
        alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp"), exclude_characters="*"),
        min_size=4,
        max_size=24,
    ).filter(lambda s: len(s.strip()) >= 4),
    encoding=st.sampled_from(list(ENCODINGS)),
    before=st.text(alphabet=" =&?/:.,'\"<>(", max_size=8),
    after=st.text(alphabet=" =&?/:.,'\"<>)", max_size=8),
)
def test_any_secret_in_any_encoding(secret: str, encoding: str, before: str, after: str) -> None:
    shown = ENCODINGS[encoding](secret)
    out = redact.redact(f"{before}{shown}{after}", [secret])
    assert shown not in out


def test_secrets_are_replaced_where_they_are_not_part_of_a_longer_word() -> None:
    assert redact.redact("user pw, password pwx and apw", ["pw"]) == "user ***, password pwx and apw"
    assert redact.redact("a b c", ["a"]) == "a b c"  # one character cannot be told apart from text
    # a password that is an ordinary word leaves names readable, and does not hide them from the shapes
    text = "grant_type=client_credentials&client_secret=unregistered-0x1f"
    assert redact.redact(text, ["secret"]) == "grant_type=client_credentials&client_secret=***"
    # inside an encoded URL (an OAuth redirect echoed back), "%3D" before the secret is a boundary
    echoed = quote(f"https://app.example/cb?api_key={quote_plus('k+S3CRET-0x2e')}&x=1", safe="")
    assert "S3CRET" not in redact.redact(f"redirect_uri={echoed}", ["k+S3CRET-0x2e"])


# -- by shape: secrets nobody registered ------------------------------------------------------------
UNKNOWN = "unREG/st3r#e@d?x"  # unencoded "/", "#", "@" and "?": the hard case for URLs

SHAPES: dict[str, str] = {
    "url password": f"postgresql://alice:{UNKNOWN}@127.0.0.1:5432/db",
    "url password, nested url": f"delta:s3://alice:{UNKNOWN}@bucket/lake",
    "query parameter": f"GET http://127.0.0.1:8080/items?page=2&api_key={quote_plus(UNKNOWN)}&x=1",
    "libpq query parameter": f"postgresql://alice@127.0.0.1:1/db?password={quote(UNKNOWN, safe='')}",
    "form body": f"grant_type=client_credentials&client_id=app&client_secret={quote_plus(UNKNOWN)}",
    "conninfo": f"host=127.0.0.1 password={quote(UNKNOWN, safe='')} dbname=x",
    "json": json.dumps({"id": 1, "client_secret": UNKNOWN}),
    "dict repr": repr({"type": "bearer", "token": UNKNOWN}),
    "header": f"Authorization: Bearer {quote(UNKNOWN, safe='')}",
    "bytes header": repr([(b"Authorization", f"Basic {quote(UNKNOWN, safe='')}".encode())]),
    "api key header": f"X-Api-Key: {quote(UNKNOWN, safe='')}",
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_secrets_in_secret_places_are_hidden_unregistered(shape: str) -> None:
    text = SHAPES[shape]
    out = redact.redact(text)
    for form in (UNKNOWN, quote(UNKNOWN, safe=""), quote_plus(UNKNOWN), "st3r"):
        assert form not in out, out
    assert MASK in out


@pytest.mark.parametrize(
    "text",
    [
        "the primary key: id; merge key=id",
        "sorted(out, key=lambda e: e.path)",
        "GET http://127.0.0.1:8080/users?email=a@b.com&page=2&per_page=100",
        "https://registry.example/@scope/pkg",
        "resource='items', table='items__tags', column='value'",
        "unknown key 'tokn'; did you mean 'token'?",
        "check the credentials (client.auth) and their permissions",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact.redact(text) == text


# -- URLs shown and stored -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "shown", "stored"),
    [
        (
            "postgresql://alice:pa/ss#word@127.0.0.1/db",
            "postgresql://alice:***@127.0.0.1/db",
            "postgresql://alice@127.0.0.1/db",
        ),
        ("postgresql://alice:p@ss@h:5432/db", "postgresql://alice:***@h:5432/db", "postgresql://alice@h:5432/db"),
        (
            "postgresql://alice@127.0.0.1:1/db?password=s3cr%2Fet&sslmode=require",
            "postgresql://alice@127.0.0.1:1/db?password=***&sslmode=require",
            "postgresql://alice@127.0.0.1:1/db?sslmode=require",
        ),
        (
            "http://127.0.0.1:8080/items?api_key=k%2BS3+CRET&page=2",
            "http://127.0.0.1:8080/items?api_key=***&page=2",
            "http://127.0.0.1:8080/items?page=2",
        ),
        (
            "http://127.0.0.1:8080/users?email=a@b.com&page=2",
            "http://127.0.0.1:8080/users?email=a@b.com&page=2",
            "http://127.0.0.1:8080/users?email=a@b.com&page=2",
        ),
        ("delta:s3://u:hunter2@b/lake?sig=x", "delta:s3://u:***@b/lake?sig=***", "delta:s3://u@b/lake"),
        ("duckdb:///tmp/x.duckdb", "duckdb:///tmp/x.duckdb", "duckdb:///tmp/x.duckdb"),
    ],
)
def test_urls_shown_and_stored(url: str, shown: str, stored: str) -> None:
    assert redact.redact_url(url) == shown
    assert redact.strip_url(url) == stored
    assert redact.storable_url(url) == stored


def test_a_url_that_still_holds_a_known_secret_is_not_stored() -> None:
    with registered("in-the-path-0x5ec"):
        assert redact.storable_url("s3://bucket/in-the-path-0x5ec/lake") is None
        assert redact.redact_url("s3://bucket/in-the-path-0x5ec/lake") == "s3://bucket/***/lake"


def test_query_parameters_named_by_the_caller() -> None:
    assert redact.redact_url("http://h/x?k=abc&page=1", ["k"]) == "http://h/x?k=***&page=1"
    assert redact.url_secrets("http://h/x?k=abc%2B&page=1", ["k"]) == ["abc%2B", "abc+"]


# -- log records: any logger, any handler ------------------------------------------------------------
def test_log_redaction_is_installed_once_and_keeps_the_previous_factory(caplog: pytest.LogCaptureFixture) -> None:
    redact.install_log_redaction()
    factory = logging.getLogRecordFactory()
    redact.install_log_redaction()
    assert logging.getLogRecordFactory() is factory
    caplog.set_level(logging.DEBUG)
    with registered("factory-kept-0xbeef"):
        logging.getLogger("urllib3").debug("%s and %d", "factory-kept-0xbeef", 7)
    assert caplog.records[-1].getMessage() == "*** and 7"


def test_a_record_without_secrets_keeps_its_arguments(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("x").debug("%s rows", 5)
    assert caplog.records[-1].args == (5,)


def test_exception_chains_are_scrubbed() -> None:
    inner = OSError("could not connect to postgresql://a:chained-0x11@h/db")
    outer = RuntimeError("wrapped")
    outer.__cause__ = inner
    redact.scrub_exception(outer)
    assert "chained-0x11" not in str(inner) and "a:***@h/db" in str(inner)


# -- destinations: what they show and what they write down -----------------------------------------
def _destinations() -> dict[str, tuple[Any, str]]:
    import headwater as hw

    return {
        "postgres, password in userinfo": (
            hw.destinations.postgres("postgresql://ada:Dst-pw/0x91@h:5432/db"),
            "Dst-pw/0x91",
        ),
        "postgres, password parameter": (
            hw.destinations.postgres("postgresql://ada@h/db?password=Dst-pw%230x92"),
            "Dst-pw#0x92",
        ),
        "filesystem, userinfo": (hw.destinations.filesystem("sftp://ada:Dst-pw@0x93@host/lake"), "Dst-pw@0x93"),
        "delta, userinfo and token": (
            hw.destinations.delta("s3://ada:Dst-pw0x94@bucket/lake?sig=Dst-sig0x95"),
            "Dst-pw0x94",
        ),
        "delta, storage option": (
            hw.destinations.delta("s3://bucket/lake", storage_options={"aws_secret_access_key": "Dst-key0x96"}),
            "Dst-key0x96",
        ),
        "iceberg, catalog credential": (
            hw.destinations.iceberg(
                catalog_properties={"type": "rest", "uri": "https://ada:Dst-pw0x97@cat/", "credential": "Dst-c0x98"}
            ),
            "Dst-c0x98",
        ),
    }


@pytest.mark.parametrize("name", list(_destinations()))
def test_destinations_never_show_or_store_a_secret(name: str) -> None:
    with redact.isolated_registry():
        destination, secret = _destinations()[name]
        shown = [destination.describe(), repr(destination)]
        stored = redact.storable_url(destination.to_uri())
    for text in (*shown, str(stored)):
        assert secret not in text and quote(secret, safe="") not in text, text


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://alice@127.0.0.1:1/db?password=Db-pw%2F0x61",
        "postgresql://alice:Db-pw%2F0x61@127.0.0.1:1/db",
    ],
)
def test_a_sql_database_is_shown_without_its_password(url: str) -> None:
    from headwater.sources.sql_database.connection import connect

    with redact.isolated_registry():
        db = connect(url, "sqlalchemy")
        shown = f"{db!r} {db.safe_url} {db.scrub('the driver said: password=Db-pw/0x61')}"
    assert "Db-pw" not in shown, shown
