"""The registry of sources: the built-in ones and those of the ``headwater.sources`` entry points.

Every source is a factory called with keywords, ``factory(**config)``, so a source is fully described
by a name and a table of options (a flows file's ``[sources.ID]``)::

    hw.sources.available()                    # {"rest_api": "headwater.sources...:rest_api_source", ...}
    hw.sources.options("sql_database")        # [SourceOption(name="credentials", required=True, ...), ...]
    source = hw.sources.make("sql_database", {"credentials": "sqlite:///chinook.sqlite"})

Other packages add sources as destinations are added: an entry point in the ``headwater.sources``
group (``github = "headwater_github:github"``); a built-in name cannot be taken by one. See
docs/sources.md.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from headwater.errors import ConfigError, closest, did_you_mean
from headwater.optional import install_hint
from headwater.sources.signature import FactoryInfo, SourceOption, load_target, read_factory, read_object

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

    from headwater.streams.source import Source

__all__ = ["SourceOption", "available", "describe", "factory", "make", "options", "provider", "summary"]

#: The built-in sources: a name and the factory (``module:function``) that makes one from keywords.
_BUILTIN: dict[str, str] = {
    "rest_api": "headwater.sources.rest_api.config:rest_api_source",
    "sql_database": "headwater.sources.sql_database.source:sql_database",
    "filesystem": "headwater.sources.filesystem.source:filesystem",
    "singer": "headwater.sources.singer.source:singer",
    "airbyte": "headwater.sources.airbyte.source:airbyte",
}
#: the extra each built-in source needs, for the install hint when its import fails
_EXTRAS: dict[str, str] = {"rest_api": "rest", "sql_database": "sql"}
#: entry points of other packages name their sources in this group
ENTRY_POINT_GROUP = "headwater.sources"


def _entry_points() -> dict[str, EntryPoint]:
    from importlib.metadata import entry_points  # reads every installed package's metadata: only when asked

    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in _BUILTIN:
            found.setdefault(ep.name, ep)
    return found


def available() -> dict[str, str]:
    """Source names and their factories (``module:attr``): the built-in ones, then those of the
    ``headwater.sources`` entry points (a built-in name stays built-in)."""
    found = dict(_BUILTIN)
    for name, ep in _entry_points().items():
        found[name] = ep.value
    return found


def _target(name: str) -> str:
    known = available()
    if not isinstance(name, str) or name not in known:
        raise ConfigError(f"unknown source {name!r}", hint=did_you_mean(name, known, listing="known sources"))
    return known[name]


def provider(name: str) -> str:
    """Where source ``name`` comes from: ``"built-in"`` or the distribution that declares its entry point.

    Raises:
        ConfigError: an unknown name (with the closest known one).
    """
    _target(name)
    if name in _BUILTIN:
        return "built-in"
    dist = getattr(_entry_points()[name], "dist", None)
    return f"{dist.name} {dist.version}" if dist is not None else "entry point"


def factory(name: str) -> Callable[..., Any]:
    """The function that makes source ``name`` from keyword arguments (imported now).

    Raises:
        ConfigError: an unknown name (with the closest known one), or a factory that cannot be imported
            (with the command that installs what it needs).
    """
    target = _target(name)
    try:
        loaded = load_target(target)
    except ConfigError:  # a built-in source's own message: the extra it needs
        raise
    except (ImportError, AttributeError) as exc:
        if name in _BUILTIN:
            hint = install_hint(_EXTRAS.get(name), "headwater")
        else:
            dist = getattr(_entry_points()[name], "dist", None)
            package = dist.name if dist is not None else target.partition(":")[0].split(".")[0]
            hint = (
                f"the entry point {name} = {target!r} is broken; reinstall it: pip install --force-reinstall {package}"
            )
        raise ConfigError(f"source {name!r} cannot be loaded: {target}: {exc}", hint=hint) from exc
    if not callable(loaded):
        raise ConfigError(f"source {name!r}: {target} is not callable", hint="an entry point names a function")
    return loaded


def describe(name: str) -> FactoryInfo:
    """The summary, docstring and options of source ``name``, read from its source file when it can be,
    else from the imported factory.

    Raises:
        ConfigError: an unknown name, or a factory that cannot be imported.
    """
    target = _target(name)
    info = read_factory(target)
    return info if info is not None else read_object(factory(name))


def options(name: str) -> list[SourceOption]:
    """The options of source ``name``: each keyword of its factory, with its type, default and description.

    Raises:
        ConfigError: an unknown name, or a factory that cannot be imported.
    """
    return describe(name).options


def summary(name: str) -> str:
    """The first paragraph of the factory's docstring when it can be read without importing it, else ``""``.

    Raises:
        ConfigError: an unknown name.
    """
    info = read_factory(_target(name))
    return info.summary if info is not None else ""


def check_config(name: str, fn: Callable[..., Any], config: Mapping[str, Any]) -> None:
    """Refuse a config that ``fn`` cannot take: an unknown option or a missing required one.

    Raises:
        ConfigError: naming the option, with the closest real option.
    """
    if not isinstance(config, Mapping):
        raise ConfigError(f"the config of source {name!r} must be a table of options, got {type(config).__name__}")
    params = inspect.signature(fn).parameters
    keywords = {
        p.name: p for p in params.values() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self"
    }
    open_ended = any(p.kind is p.VAR_KEYWORD for p in params.values())
    for key in config:
        if not isinstance(key, str):
            raise ConfigError(f"source {name!r}: option names are strings, got {key!r}")
        if key not in keywords and not open_ended:
            raise ConfigError(
                f"source {name!r} has no option {key!r}", hint=did_you_mean(key, keywords, listing="options")
            )
    missing = [p for p, param in keywords.items() if param.default is param.empty and p not in config]
    if missing:
        wrong = closest(missing[0], [key for key in config if key not in keywords])
        needed = [p for p, param in keywords.items() if param.default is param.empty]
        hint = (
            f"{wrong!r} is not an option: did you mean {missing[0]!r}?"
            if wrong
            else f"required options: {', '.join(needed)}"
        )
        raise ConfigError(f"source {name!r} needs the option {missing[0]!r}", hint=hint)


def make(name: str, config: Mapping[str, Any] | None = None) -> Source:
    """Source ``name`` made from ``config``: its factory called with the options as keyword arguments.

    Args:
        name: a name of :func:`available` (``"sql_database"``, ``"rest_api"``, a plugin's ``"github"``).
        config: the options (see :func:`options`); the values are passed as they are.

    Raises:
        ConfigError: an unknown source, an unknown option or a missing required one (each with the
            closest real name), a factory that cannot be imported, or one that returns no source.
    """
    from headwater.streams.resource import Resource
    from headwater.streams.source import Source

    config = {} if config is None else config
    fn = factory(name)
    check_config(name, fn, config)
    made = fn(**config)
    if isinstance(made, Resource):
        return Source(made.name, [made])
    if not isinstance(made, Source):
        raise ConfigError(
            f"source {name!r}: its factory returned {type(made).__name__}, not a source",
            hint="a source factory returns hw.Source (or a resource)",
        )
    return made
