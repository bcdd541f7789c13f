"""Flows files: TOML, YAML and Python (``config.py`` with ``FLOWS`` or Hippo's ``PIPELINES``).

TOML is read with the standard library; YAML reading and writing, and TOML writing, need the
``flows`` extra (``pip install 'headwater[flows]'``: PyYAML, tomli-w). A parse error names the file,
line and column.
"""

from __future__ import annotations

import runpy
import tomllib
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import Any

from headwater.errors import ConfigError
from headwater.flows.reader import FlowsError, Problems
from headwater.flows.values import reference_of
from headwater.optional import require

SUFFIXES = {".toml": "toml", ".yaml": "yaml", ".yml": "yaml", ".py": "python"}
#: the file beside a flows file whose tables are merged over it by the same keys
SECRETS_FILE = "secrets.toml"


def file_format(path: Path) -> str:
    """``toml``, ``yaml`` or ``python`` by the file's suffix (a ConfigError otherwise)."""
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise ConfigError(
            f"cannot tell the format of {str(path)!r} by its suffix", hint="name it *.toml, *.yaml, *.yml or *.py"
        )
    return kind


def read_file(path: Path) -> dict[str, Any]:
    """The mapping a flows file holds.

    Raises:
        FlowsError: the file cannot be read or parsed (with its line and column).
    """
    kind = file_format(path)
    if not path.is_file():
        raise FlowsError([(str(path), "no such file")], origin=str(path))
    if kind == "python":
        return _python(path)
    return loads(path.read_text(encoding="utf-8"), kind, origin=str(path))


def _python(path: Path) -> dict[str, Any]:
    """A ``config.py``: its ``FLOWS`` mapping, or Hippo's ``PIPELINES`` (run as a script, not imported)."""
    namespace = runpy.run_path(str(path))
    if "FLOWS" in namespace:
        value = namespace["FLOWS"]
    elif "PIPELINES" in namespace:
        value = {"pipelines": namespace["PIPELINES"]}
    else:
        raise FlowsError([(str(path), "defines neither FLOWS nor PIPELINES")], origin=str(path))
    if not isinstance(value, Mapping):
        raise FlowsError([(str(path), f"FLOWS must be a dict, got {type(value).__name__}")], origin=str(path))
    return dict(value)


def read_secrets(flows_path: Path) -> dict[str, Any]:
    """The ``secrets.toml`` beside a flows file, or an empty mapping when there is none."""
    path = flows_path.parent / SECRETS_FILE
    if not path.is_file():
        return {}
    # a TOML error quotes no value of the file, only where the mistake is
    return loads(path.read_text(encoding="utf-8"), "toml", origin=str(path))


def plain(value: Any, where: str = "flows") -> Any:
    """``value`` with classes and functions written as ``"package.module:attr"`` references, ready for
    a file; a value a file cannot hold (an object, ``None`` in TOML's eyes) is a ConfigError naming it."""
    problems = Problems()
    out = _plain(value, where, problems)
    problems.raise_if_any("the conversion")
    return out


def _plain(value: Any, where: str, problems: Problems) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v, f"{where}.{k}", problems) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        if any(v is None for v in value):
            problems.add(where, "a list holding null cannot be written to TOML")
        return [_plain(v, f"{where}[{i}]", problems) for i, v in enumerate(value)]
    if isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, PurePath):
        return str(value)
    import datetime as dt

    if isinstance(value, dt.date | dt.time):
        return value
    if isinstance(value, type) or callable(value):
        try:
            return reference_of(value, where)
        except ConfigError as exc:
            problems.error(exc, where)
            return None
    problems.add(where, f"{type(value).__name__} {value!r} cannot be written to a file", "name it in Python instead")
    return None


def dumps(data: Mapping[str, Any], kind: str) -> str:
    """The text of a flows file of ``kind`` (``toml`` or ``yaml``) holding ``data``."""
    data = plain(data)
    if kind == "toml":
        tomli_w = require("tomli_w", "writing TOML flows files", extra="flows", package="tomli-w")
        return tomli_w.dumps(data)
    if kind == "yaml":
        return _yaml_dump(data)
    raise ConfigError(f"cannot write flows as {kind!r}", hint="use 'toml' or 'yaml'")


#: characters YAML reads as line breaks even inside a plain scalar (NEL, LINE and PARAGRAPH SEPARATOR)
_BREAKS = ("\x85", "\u2028", "\u2029")


def _yaml_dump(data: Any) -> str:
    """YAML text, readable (non-ASCII kept as it is), with strings holding a character YAML reads as a
    line break double-quoted so that it is escaped (PyYAML would write it raw and read a space back)."""
    yaml = require("yaml", "YAML flows files", extra="flows", package="pyyaml")

    Dumper: Any = type("Dumper", (yaml.SafeDumper,), {})

    def text(dumper: Any, value: str) -> Any:
        style = '"' if any(c in value for c in _BREAKS) else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    return yaml.dump(data, Dumper=Dumper, sort_keys=False, allow_unicode=True)


def loads(text: str, kind: str, *, origin: str = "flows") -> dict[str, Any]:
    """The mapping of a flows file's text (``toml`` or ``yaml``).

    Raises:
        FlowsError: the text does not parse (with the line and column), or holds no mapping.
    """
    if kind == "toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise FlowsError([(origin, f"not valid TOML: {exc}")], origin=origin) from None
    yaml = require("yaml", "YAML flows files", extra="flows", package="pyyaml")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{origin}:{mark.line + 1}:{mark.column + 1}" if mark is not None else origin
        raise FlowsError([(where, f"not valid YAML: {getattr(exc, 'problem', None) or exc}")], origin=origin) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise FlowsError([(origin, f"expected a mapping at the top, got {type(data).__name__}")], origin=origin)
    return data
