"""Keeping secrets out of everything Headwater shows or writes down.

A *secret* is a password, token, API key or client secret; any password in a URL's user information;
the value of any query, form or JSON field whose name looks secret (``password``, ``api_key``,
``client_secret``, ``access_token``...); and any value an auth configuration holds. Redaction replaces
it by :data:`MASK` (``***``) in two complementary ways:

* **by value**: the component holding a secret (an auth scheme, a destination URL, a database URL)
  registers it with :func:`register`; from then on it is replaced in every form it may take in text:
  plain, URL-encoded (``%XX`` in either case, ``+`` for spaces), form-encoded, JSON- and
  ``repr``-escaped, base64 (and ``user:password`` in base64, as HTTP basic auth sends it);
* **by shape**, with no value known: the password of ``scheme://user:password@host`` (also when it
  holds an unencoded ``/``, ``#`` or ``@``), ``name=value`` pairs and ``"name": "value"`` entries whose
  name looks secret, and ``Authorization``-style headers.

Where it applies: every :class:`~headwater.errors.HeadwaterError` message, hint and location;
every log record of every logger (Headwater's and third-party ones such as httpx, httpcore,
urllib3 and SQLAlchemy: a log-record factory, installed when the first secret is registered);
URLs shown (:func:`redact_url`) and stored (:func:`strip_url`), hence ``describe()`` and the working
folder's ``pipeline.json``; reprs of objects that hold secrets.

The registry is process-wide on purpose: logging is, and a secret must stay hidden from every logger
of the process, whichever component logs it. It only grows (a few values per configured source or
destination). A value is replaced wherever it is not part of a longer word (letters, digits, ``_``;
a ``%XX`` escape before it counts as a boundary), so that a password such as ``secret`` leaves
``client_secret`` readable; a secret of one character cannot be told apart from text and is not
replaced by value.
Redaction may hide more than needed (a query value whose name merely looks secret), never less.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import logging
import re
import threading
import traceback
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import quote, quote_plus, unquote, unquote_plus

__all__ = [
    "MASK",
    "forms",
    "install_log_redaction",
    "is_secret_name",
    "isolated_registry",
    "redact",
    "redact_url",
    "register",
    "register_basic",
    "register_url",
    "scrub_exception",
    "secrets_in",
    "storable_url",
    "strip_url",
    "url_secrets",
]

MASK = "***"

#: names (of query parameters, form fields, JSON keys, headers, properties) whose values are secret
_SECRET_NAME = re.compile(
    r"""
    pass(?:word|wd|phrase)?$ | ^pwd$ | ^pw$
    | secret | token | credential | signature | cookie | authorization
    | api[-_.]?key | apikey | access[-_.]?key | private[-_.]?key | account[-_.]?key | session[-_.]?(?:id|key)
    | ^key$ | ^sig$ | ^auth$ | ^sas$ | mask[-_.]?key
    """,
    re.I | re.X,
)


def is_secret_name(name: str) -> bool:
    """Whether a field called ``name`` holds a secret (``password``, ``api_key``, ``X-Api-Key``,
    ``client_secret``, ``access_token``, ``s3.secret-access-key``, ``key``, ``sig``...)."""
    return bool(_SECRET_NAME.search(name.strip()))


# -- secret values and their forms ---------------------------------------------------------------------
def _lower_hex(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), text)


@functools.lru_cache(maxsize=1024)
def forms(secret: str) -> frozenset[str]:
    """Every form ``secret`` may take in text: plain, URL- and form-encoded (with the safe characters
    of paths, queries and httpx; upper- and lower-case hex; double-encoded), JSON- and repr-escaped,
    base64 (standard and URL-safe, without padding)."""
    out = {secret}
    for safe in ("", "/", ":@", "/:@", "~", "-._~!$'()*,;:@/?"):
        for encoded in (quote(secret, safe=safe), quote_plus(secret, safe=safe)):
            out.update((encoded, _lower_hex(encoded)))
    # only the URL delimiters escaped, as SQLAlchemy renders a password
    minimal = re.sub(r"[%:/?#\[\]@]", lambda m: f"%{ord(m.group(0)):02X}", secret)
    out.update((minimal, _lower_hex(minimal)))
    once = quote(secret, safe="")
    out.update((quote(once, safe=""), quote_plus(quote_plus(secret))))
    out.update((json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]))
    out.update((repr(secret)[1:-1], repr(secret.encode())[2:-1]))
    raw = secret.encode()
    if len(raw) >= 4:
        out.add(base64.b64encode(raw).decode().rstrip("="))
        out.add(base64.urlsafe_b64encode(raw).decode().rstrip("="))
    return frozenset(f for f in out if f)


_WORD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
# a form is a secret where it is not part of a longer word ("secret" as a password does not make
# "client_secret" read "client_***"); a %XX escape before it is a boundary (an encoded URL's "%3D")
_BEFORE = r"(?:(?<![A-Za-z0-9_])|(?<=%[0-9A-Fa-f]{2}))"
_AFTER = r"(?![A-Za-z0-9_])"


def _alternative(form: str) -> str:
    body = re.escape(form)
    if form[0] in _WORD_CHARS:
        body = _BEFORE + body
    if form[-1] in _WORD_CHARS:
        body += _AFTER
    return body


class _Patterns:
    """One compiled alternation of the forms of some secrets (longest first)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        values: set[str] = set()
        for secret in secrets:
            if isinstance(secret, str) and len(secret.strip()) >= 2:
                values.update(forms(secret))
        ordered = sorted(values, key=len, reverse=True)
        self.pattern = re.compile("|".join(_alternative(v) for v in ordered)) if ordered else None

    def sub(self, text: str) -> str:
        return self.pattern.sub(MASK, text) if self.pattern is not None else text


class _Registry:
    """The secrets of this process (see the module docstring for why it is process-wide)."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._patterns = _Patterns(())
        self._lock = threading.Lock()

    def add(self, values: Iterable[str]) -> None:
        new = {v for v in values if isinstance(v, str) and len(v.strip()) >= 2 and v != MASK}
        with self._lock:
            if new <= self._values:
                return
            self._values |= new
            self._patterns = _Patterns(self._values)

    def sub(self, text: str) -> str:
        return self._patterns.sub(text)


_known = _Registry()


@functools.lru_cache(maxsize=64)
def _patterns_for(secrets: tuple[str, ...]) -> _Patterns:
    return _Patterns(secrets)


def register(*secrets: str | None) -> None:
    """Hide these values (in every form they may take) from every message, repr and log record of the
    process, and install the log redaction if it is not yet installed."""
    _known.add(s for s in secrets if s)
    install_log_redaction()


@contextlib.contextmanager
def isolated_registry() -> Iterator[None]:
    """Within the block, the registry starts empty; afterwards it is as before. For tests that must
    know which component registered a secret (the registry is process-wide)."""
    with _known._lock:
        saved = set(_known._values)
        _known._values, _known._patterns = set(), _Patterns(())
    try:
        yield
    finally:
        with _known._lock:
            _known._values, _known._patterns = saved, _Patterns(saved)


def secrets_in(value: Any, name: str = "") -> list[str]:
    """The string values under secret-looking names in ``value`` (nested dicts and lists, as in query
    parameters, headers and JSON bodies)."""
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in secrets_in(v, str(k))]
    if isinstance(value, list | tuple):
        return [s for v in value for s in secrets_in(v, name)]
    return [value] if isinstance(value, str) and name and is_secret_name(name) else []


def register_basic(username: str, password: str) -> None:
    """Register an HTTP basic auth password and its ``Authorization: Basic`` form."""
    register(password, f"{username}:{password}")


def register_url(url: str) -> None:
    """Register the secrets a URL holds (its password, the values of its secret-looking parameters)."""
    register(*url_secrets(url))


# -- by shape -------------------------------------------------------------------------------------------
# scheme://user:password@host: the password ends at the first "@" followed by something host-like and
# then "/", "?", "#" or the end, so an unencoded "/", "#" or "@" inside it is still hidden; a port
# ("host:5432/db?email=a@b.com") is not a password.
_HOST_AHEAD = r"(?=[A-Za-z0-9.\-_~%\[\]:]*(?:[/?#\s'\"<>),;]|$))"
_CREDENTIALS = re.compile(
    r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://(?P<user>[^\s:/?#@'\"<>]*)):"
    r"(?!\d{1,5}(?:[/?#]|$))"
    r"(?P<pw>[^\s'\"<>]*?)@" + _HOST_AHEAD
)
# name=value (query strings, form bodies, libpq conninfo, messages)
_PAIR = re.compile(
    r"(?<![\w.\-\[\]%])(?P<name>[A-Za-z_][\w.\-\[\]%]*)(?P<eq>=|%3[Dd])"
    r"(?P<value>'[^']*'|\"[^\"]*\"|[^&\s'\"<>]*)"
)
# "name": "value", 'name': 'value', (b'name', b'value') (JSON, dict and header reprs)
_ENTRY = re.compile(
    r"(?P<key>b?(?P<q>[\"'])(?P<name>[^\"'\\\n]{1,100})(?P=q)\s*[:,]\s*)"
    r"(?P<value>b?(?P<vq>[\"'])(?:\\.|(?!(?P=vq))[^\\\n])*(?P=vq))"
)
# Authorization: Bearer xyz, X-Api-Key: xyz (headers in text)
_HEADER = re.compile(
    r"(?i)(?<![\w\-\"'])(?P<name>(?:proxy-)?authorization|x-[\w\-]*(?:key|token|secret|auth)[\w\-]*|api[-_]?key"
    r"|apikey|cookie|set-cookie|[\w\-]*(?:token|secret|password|passwd))(?P<sep>\s*:\s*)"
    r"(?P<scheme>(?:bearer|basic|token|digest|negotiate)\s+)?(?P<value>[^\s'\"<>,;]+)"
)


#: short names that are secret in a query string (``?key=...``) but ordinary words elsewhere (``key=lambda``)
_QUERY_ONLY = frozenset({"key", "sig", "auth", "sas", "pw"})


#: a word every secret-looking name contains (a quick test before the shape patterns)
_SECRET_HINTS = ("pw", "pass", "secret", "token", "credential", "sig", "cookie", "auth", "key", "sas", "session")


def _may_hold_secret_names(text: str) -> bool:
    lowered = text.lower()
    return any(hint in lowered for hint in _SECRET_HINTS)


def _pair(match: re.Match[str]) -> str:
    value = match.group("value")
    name = unquote_plus(match.group("name"))
    if not value or value.strip("'\"") == "" or value.lstrip("'\"").startswith(MASK) or not is_secret_name(name):
        return match.group(0)
    if name.lower() in _QUERY_ONLY and match.string[match.start() - 1 : match.start()] not in ("?", "&"):
        return match.group(0)
    return f"{match.group('name')}{match.group('eq')}{MASK}"


def _entry(match: re.Match[str]) -> str:
    if not is_secret_name(match.group("name")):
        return match.group(0)
    value = match.group("value")
    quote_char = match.group("vq")
    inner = value[value.index(quote_char) + 1 : -1]
    if inner in ("", MASK):
        return match.group(0)
    prefix = "b" if value.startswith("b") else ""
    return f"{match.group('key')}{prefix}{quote_char}{MASK}{quote_char}"


def _header(match: re.Match[str]) -> str:
    if match.group("value").startswith(MASK):
        return match.group(0)
    return f"{match.group('name')}{match.group('sep')}{match.group('scheme') or ''}{MASK}"


def _credentials(match: re.Match[str]) -> str:
    if match.group("pw") in ("", MASK):
        return match.group(0)
    return f"{match.group('head')}:{MASK}@"


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every secret replaced by ``***``: the registered ones and ``secrets`` (by value,
    in every encoding), and whatever sits in a secret-looking place (by shape)."""
    if not text:
        return text
    # by shape first: a registered value inside a name ("client_secret") must not hide the name
    if "@" in text:
        text = _CREDENTIALS.sub(_credentials, text)
    if _may_hold_secret_names(text):  # the shapes below cost more; most text holds no secret-looking name
        text = _ENTRY.sub(_entry, text)
        text = _PAIR.sub(_pair, text)
        text = _HEADER.sub(_header, text)
    extra = tuple(sorted({s for s in secrets if isinstance(s, str) and s}))
    if extra:
        text = _patterns_for(extra).sub(text)
    return _known.sub(text)


# -- URLs -----------------------------------------------------------------------------------------------
_USER = re.compile(r"\b[A-Za-z][A-Za-z0-9+.\-]*://(?P<user>[^\s:/?#@'\"<>]+)@" + _HOST_AHEAD)


def _split(url: str) -> tuple[str, str, str | None, str]:
    """``(up to the user information, user, password or None, the rest)``; user is "" when there is no
    user information. A nested URL (``delta:s3://user:pw@bucket/x``) counts, one in the query does not."""
    for pattern, has_password in ((_CREDENTIALS, True), (_USER, False)):
        match = pattern.search(url)
        if match is not None and "?" not in url[: match.start()]:
            password = match.group("pw") if has_password else None
            return url[: match.start("user")], match.group("user"), password, url[match.end() :]
    return "", "", None, url


def _query_pairs(rest: str) -> tuple[str, str | None, str]:
    """``(before the query, the query or None, "#fragment" or "")``."""
    before, sep, query = rest.partition("?")
    if not sep:
        return rest, None, ""
    query, hash_, fragment = query.partition("#")
    return before, query, hash_ + fragment


def url_secrets(url: str, names: Iterable[str] = ()) -> list[str]:
    """The secrets a URL holds: its password (as written and decoded), the values of query parameters
    whose names look secret (or are among ``names``)."""
    extra = {n.lower() for n in names}
    _, user, password, rest = _split(str(url))
    out = []
    if password:
        out += [password, unquote_plus(password)]
        if user:  # as HTTP basic auth sends it (base64 of "user:password")
            out.append(f"{unquote(user)}:{unquote(password)}")
        # a parser that splits at an unencoded separator shows pieces of it ("invalid port "pa"")
        out += [p for p in re.split(r"[/#?@]", password) if p != password]
    _, query, _ = _query_pairs(rest)
    for pair in (query or "").split("&"):
        name, eq, value = pair.partition("=")
        plain = unquote_plus(name)
        if eq and value and (is_secret_name(plain) or plain.lower() in extra):
            out += [value, unquote_plus(value)]
    return [s for s in dict.fromkeys(out) if s and s != MASK]


def _rebuild(url: str, names: Iterable[str], *, drop: bool, keep_user: bool = True, keep_query: bool = True) -> str:
    extra = {n.lower() for n in names}
    scheme, user, password, rest = _split(url)
    before, query, fragment = _query_pairs(rest)
    out = scheme
    if user or password is not None:
        shown_user = user if keep_user else ""
        if password is not None and not drop:
            out += f"{shown_user}:{MASK}@"
        elif shown_user:
            out += f"{shown_user}@"
    out += before
    if query is not None and keep_query:
        kept = []
        for pair in query.split("&"):
            name, eq, value = pair.partition("=")
            plain = unquote_plus(name)
            if eq and value and (is_secret_name(plain) or plain.lower() in extra):
                if drop:
                    continue
                pair = f"{name}={MASK}"
            kept.append(pair)
        if kept or not drop:
            out += "?" + "&".join(kept)
    return out + fragment


def redact_url(url: Any, names: Iterable[str] = ()) -> str:
    """The URL as shown to people: ``***`` for its password and for the values of query parameters whose
    names look secret (or are among ``names``); registered secrets replaced anywhere in it."""
    return redact(_rebuild(str(url), names, drop=False))


def strip_url(url: str, names: Iterable[str] = (), *, keep_user: bool = True, keep_query: bool = True) -> str:
    """The URL as written down (to reopen it later): without its password and its secret-looking query
    parameters (names and values); ``keep_user=False`` drops the user name too and
    ``keep_query=False`` the whole query string."""
    return _rebuild(str(url), names, drop=True, keep_user=keep_user, keep_query=keep_query)


def storable_url(url: str | None) -> str | None:
    """``url`` as it may be written to disk (:func:`strip_url`), or None when it still holds a known
    secret (then it cannot be stored, and the destination cannot be reopened from the working folder)."""
    if not url:
        return None
    stored = strip_url(url)
    return stored if redact(stored) == stored else None


# -- exceptions and log records ---------------------------------------------------------------------------
def scrub_exception(exc: BaseException | None) -> None:
    """Redact the string arguments of ``exc`` and of the exceptions it was raised from (best effort:
    most exceptions render their arguments), so that a chained traceback does not show a secret."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        try:
            args = tuple(redact(a) if isinstance(a, str) else a for a in exc.args)
            if args != exc.args:
                exc.args = args
        except Exception:  # an exception type that refuses new args keeps them
            pass
        exc = exc.__cause__ or exc.__context__


_install_lock = threading.Lock()


def _scrub_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a malformed record: the logging module reports it itself when formatting
        return
    clean = redact(message)
    if clean != message:
        record.msg, record.args = clean, None
    if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
        text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        clean = redact(text)
        if clean != text:
            record.exc_text = clean  # formatters use it instead of formatting the exception again
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


def install_log_redaction() -> None:
    """Redact every log record of the process when it is made, whatever logger makes it and whatever
    handler receives it (idempotent; wraps the current record factory)."""
    with _install_lock:
        current = logging.getLogRecordFactory()
        if getattr(current, "headwater_redacting", False):
            return

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = current(*args, **kwargs)
            _scrub_record(record)
            return record

        factory.headwater_redacting = True  # type: ignore[attr-defined]  # marks the installed factory
        logging.setLogRecordFactory(factory)
