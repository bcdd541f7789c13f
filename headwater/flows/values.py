"""Values in flows: placeholders, secrets and references, resolved when a flow runs.

* ``${env:NAME}``: the environment variable ``NAME`` (anywhere in a string:
  ``"postgresql://app:${env:PGPASSWORD}@db/warehouse"``);
* ``${file:path}``: the content of a file (a trailing newline dropped); a relative path is taken
  from the flows file's folder;
* ``${here}``: the flows file's folder, for paths that travel with the file;
* ``$${`` writes a literal ``${``.

A ``secrets.toml`` beside the flows file is merged over it by the same keys
(``[sources.github.config] token = "..."``). Values from ``secrets.toml`` and ``${file:...}``, and
``${env:...}`` values whose variable or key looks secret (``token``, ``password``...), are secrets:
registered with :mod:`headwater.redact`, so no message, log record or stored URL shows them, and
never written down (the model keeps the placeholders; ``headwater flows show`` masks the rest).

A missing variable or file is a problem named by its key (``sources.pg.config.credentials:
environment variable 'PGPASSWORD' is not set``), reported before anything runs.

References: where a file names a class or a function it writes ``"package.module:attr"``
(:func:`load_reference`); Python dicts hold the object itself.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from headwater.errors import ConfigError, did_you_mean
from headwater.flows.reader import Problems
from headwater.redact import MASK, is_secret_name, redact, register

PLACEHOLDER = re.compile(r"\$\$\{|\$\{(?:(env|file):([^}]*)|here|([^}]*))\}")


def placeholders(value: Any, where: str, problems: Problems) -> None:
    """Check the placeholders in ``value`` (nested tables and lists too) without resolving them."""
    for path, text in _strings(value, where):
        for m in PLACEHOLDER.finditer(text):
            if m.group(3) is not None:
                problems.add(path, f"unknown placeholder {m.group(0)!r}", "use ${env:NAME}, ${file:path} or ${here}")
            elif m.group(1) and not m.group(2).strip():
                problems.add(path, f"empty placeholder {m.group(0)!r}", f"name the {m.group(1)}: ${{{m.group(1)}:...}}")


def _strings(value: Any, where: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    stack: list[tuple[str, Any]] = [(where, value)]
    while stack:
        path, v = stack.pop()
        if isinstance(v, str):
            out.append((path, v))
        elif isinstance(v, Mapping):
            stack.extend((f"{path}.{k}", x) for k, x in v.items())
        elif isinstance(v, list | tuple):
            stack.extend((f"{path}[{i}]", x) for i, x in enumerate(v))
    return out


class Resolver:
    """Resolves placeholders and registers the secrets found, for one flows file.

    Args:
        here: the flows file's folder (``${here}``, relative ``${file:...}`` paths); the working
            directory for dicts.
    """

    def __init__(self, here: Path | None = None) -> None:
        self.here = here or Path.cwd()

    def resolve(self, value: Any, where: str, problems: Problems, *, secret: bool = False) -> Any:
        """``value`` with its placeholders replaced (tables and lists walked; other values kept)."""
        if isinstance(value, str):
            return self._text(value, where, problems, secret=secret)
        if isinstance(value, Mapping):
            return {k: self.resolve(v, f"{where}.{k}", problems, secret=secret) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v, f"{where}[{i}]", problems, secret=secret) for i, v in enumerate(value)]
        if isinstance(value, tuple):
            return tuple(self.resolve(v, f"{where}[{i}]", problems, secret=secret) for i, v in enumerate(value))
        return value

    def _text(self, text: str, where: str, problems: Problems, *, secret: bool) -> str:
        key = where.rpartition(".")[2]
        if secret and text:
            register(text)

        def replace(m: re.Match[str]) -> str:
            if m.group(0) == "$${":
                return "${"
            kind, arg = m.group(1), (m.group(2) or "").strip()
            if kind is None and m.group(3) is None:
                return str(self.here)
            if kind == "env":
                found = os.environ.get(arg)
                if found is None:
                    problems.add(
                        where, f"environment variable {arg!r} is not set", "set it, or put the value in secrets.toml"
                    )
                    return m.group(0)
                if secret or is_secret_name(arg) or is_secret_name(key):
                    register(found)
                return found
            if kind == "file":
                path = Path(arg).expanduser()
                path = path if path.is_absolute() else self.here / path
                try:
                    content = path.read_text(encoding="utf-8")
                except OSError as exc:
                    problems.add(where, f"cannot read the file {str(path)!r}: {exc.strerror or exc}")
                    return m.group(0)
                content = content[:-1] if content.endswith("\n") else content
                register(content)
                return content
            problems.add(where, f"unknown placeholder {m.group(0)!r}", "use ${env:NAME}, ${file:path} or ${here}")
            return m.group(0)

        return PLACEHOLDER.sub(replace, text)


def merge(base: Any, over: Any) -> Any:
    """``over`` merged into ``base`` by the same keys (tables recursively; other values replaced)."""
    if isinstance(base, Mapping) and isinstance(over, Mapping):
        out = dict(base)
        for k, v in over.items():
            out[k] = merge(out[k], v) if k in out else v
        return out
    return over


def masked(value: Any, *, secret: bool = False, key: str = "") -> Any:
    """``value`` for display: secrets (``secret``, or under a secret-looking key) become ``***``, and
    passwords in URLs are masked; placeholders are shown as written."""
    if isinstance(value, Mapping):
        return {k: masked(v, secret=secret, key=str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [masked(v, secret=secret, key=key) for v in value]
    if isinstance(value, str):
        if PLACEHOLDER.fullmatch(value) and not value.startswith("$$"):
            return value
        if secret or (key and is_secret_name(key)):
            return MASK
        return redact(value)
    return value


def load_reference(value: Any, where: str) -> Any:
    """The object a ``"package.module:attr"`` reference names (other values are returned as they are).

    Raises:
        ConfigError: the module cannot be imported or has no such attribute (with a "did you mean").
    """
    if not isinstance(value, str) or ":" not in value:
        return value
    module_name, _, attr = value.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"{where}: cannot import {module_name!r} for {value!r}: {exc}",
            hint="install the package that provides it, or fix the reference (package.module:attr)",
        ) from exc
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            public = [n for n in dir(obj) if not n.startswith("_")]
            raise ConfigError(f"{where}: {module_name!r} has no {attr!r}", hint=did_you_mean(part, public))
        obj = getattr(obj, part)
    return obj


def load_hooks(options: dict[str, Any], where: str, problems: Problems) -> None:
    """The alert hooks among pipeline ``options`` (``on_failure``, ``on_success``) named as
    ``package.module:function``, replaced by the function; URLs stay as they are."""
    from headwater.flows.model import HOOK_OPTIONS
    from headwater.flows.reader import is_reference

    for key in HOOK_OPTIONS:
        if not is_reference(options.get(key)):
            continue
        try:
            made = load_reference(options[key], f"{where}.{key}")
        except ConfigError as exc:
            problems.add(f"{where}.{key}", exc.message.removeprefix(f"{where}.{key}: "), exc.hint)
            continue
        if not callable(made):
            problems.add(f"{where}.{key}", f"{options[key]!r} is a {type(made).__name__}, not a function")
            continue
        options[key] = made


def reference_of(obj: Any, where: str) -> str:
    """The ``"package.module:attr"`` reference that names a class or function, for writing a file.

    Raises:
        ConfigError: the object has no importable name (a lambda, a local class, an instance).
    """
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if isinstance(module, str) and isinstance(qualname, str) and "<" not in qualname and module != "__main__":
        try:
            if load_reference(f"{module}:{qualname}", where) is obj:
                return f"{module}:{qualname}"
        except ConfigError:
            pass
    raise ConfigError(
        f"{where}: {obj!r} cannot be written to a file",
        hint="a file names classes and functions as 'package.module:attr'; define it at the top level of an "
        "importable module, or keep this flow in Python",
    )
