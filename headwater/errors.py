"""Every error Headwater raises, grouped by what the caller should do about it.

::

    HeadwaterError                 the root: catch this to catch everything Headwater raises
    ├── ConfigError                the configuration or a hint is wrong: fix the code or config, rerun
    ├── SourceError                extracting from a source failed
    │   ├── RetriableSourceError   a transient failure (timeout, 429, 5xx): rerunning may succeed
    │   ├── FatalSourceError       a permanent failure (401, 404, bad query): rerunning will not help
    │   └── ExtractError           a resource raised; data extracted before it is kept in a package
    ├── DataError                  an item or value cannot be stored (malformed item, unsupported type)
    ├── SchemaError                the schema cannot be evolved as the data asks
    │   └── ContractViolation      a schema contract forbids the change
    ├── DestinationError           the destination refused or failed (connection, lock, DDL, load)
    │   └── LoadError              loading a package failed; the package is kept and retried next run
    ├── ModelError                 a SQL model failed after the load; the loaded data stays committed:
    │                              fix the model, then pipeline.run_models()
    └── StateError                 the pipeline's working folder or state is unusable (locked, corrupt)

Every error says what was wrong, where (resource, table, column, file, row) and what to do. The
``where`` parts are also available as attributes so that programs can react without parsing text.
No error shows a secret: message, hint and text locations pass through :func:`headwater.redact.redact`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any, ParamSpec, TypeVar

from headwater.redact import redact

_P = ParamSpec("_P")
_R = TypeVar("_R")

__all__ = [
    "ConfigError",
    "ContractViolation",
    "DataError",
    "DestinationError",
    "ExtractError",
    "FatalSourceError",
    "HeadwaterError",
    "LoadError",
    "ModelError",
    "QualityError",
    "RetriableSourceError",
    "SchemaError",
    "SourceError",
    "StateError",
]


class HeadwaterError(Exception):
    """Root of all Headwater errors.

    Args:
        message: what went wrong, in one sentence.
        hint: what the user should do about it (shown on its own line).
        **where: the location of the problem (``resource``, ``table``, ``column``, ``path``...);
            each becomes an attribute and is shown in the message.
    """

    def __init__(self, message: str, *, hint: str | None = None, **where: Any) -> None:
        self.message = redact(message)
        self.hint = redact(hint) if hint else hint
        self.where = {k: redact(v) if isinstance(v, str) else v for k, v in where.items() if v is not None}
        for key, value in self.where.items():
            setattr(self, key, value)
        super().__init__(self._render())

    @property
    def headline(self) -> str:
        """The message and where, without the hint: this error quoted in another's message or a log line."""
        if not self.where:
            return self.message
        located = ", ".join(f"{k}={v!r}" for k, v in self.where.items())
        return f"{self.message} [{located}]"

    def _render(self) -> str:
        return f"{self.headline}\n  hint: {self.hint}" if self.hint else self.headline

    def __reduce__(self) -> tuple[Any, ...]:
        # keep errors picklable (they cross thread and process boundaries)
        return (_rebuild, (type(self), self.message, self.hint, self.where))


def described(exc: BaseException) -> str:
    """``Type: what happened`` of ``exc``, to quote it in another error's message or a log line.

    A Headwater error is quoted without its hint: the error or line that quotes it says what to do, and
    a hint quoted inside a message reads as two hints, the inner one often about the wrong step.
    """
    return f"{type(exc).__name__}: {exc.headline if isinstance(exc, HeadwaterError) else exc}"


def _rebuild(cls: type[HeadwaterError], message: str, hint: str | None, where: dict[str, Any]) -> Any:
    return cls(message, hint=hint, **where)


class ConfigError(HeadwaterError):
    """The configuration, a decorator argument or a hint is invalid."""


class SourceError(HeadwaterError):
    """Extracting from a source failed."""


class RetriableSourceError(SourceError):
    """A transient source failure: running again may succeed."""


class FatalSourceError(SourceError):
    """A permanent source failure: running again will not help until something changes."""


class ExtractError(SourceError):
    """A resource raised while being extracted.

    The rows extracted before the failure are not lost: they are normalized into a load package
    marked ``partial`` whose path is in the message and in :attr:`package_path`.
    """


class DataError(HeadwaterError):
    """An item or value cannot be turned into a row."""


class QualityError(DataError):
    """Data-quality checks of severity ``fail`` failed (or could not run), so nothing of the load was
    committed; :attr:`results` holds each failed check's result (counts and sample rows)."""

    def __init__(
        self, message: str, *, hint: str | None = None, results: list[Any] | None = None, **where: Any
    ) -> None:
        super().__init__(message, hint=hint, **where)
        self.results = list(results or [])

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_quality, (self.message, self.hint, self.where, self.results))


def _rebuild_quality(message: str, hint: str | None, where: dict[str, Any], results: list[Any]) -> QualityError:
    return QualityError(message, hint=hint, results=results, **where)


class SchemaError(HeadwaterError):
    """The schema cannot be evolved the way the data asks."""


class ContractViolation(SchemaError):
    """A schema contract forbids a change the data asks for."""


class DestinationError(HeadwaterError):
    """The destination failed or refused an operation."""


class LoadError(DestinationError):
    """Loading a package failed. The package stays on disk and the next run loads it again."""


class ModelError(HeadwaterError):
    """A SQL model (``models=``) failed after a load. The load stays committed; the models reading
    the failed one were skipped. ``info`` is the run's :class:`~headwater.LoadInfo` (with ``info.models``),
    ``failed`` the names of the failed models. Fix the model and run ``pipeline.run_models()``."""

    info: Any = None
    failed: tuple[str, ...] = ()


class StateError(HeadwaterError):
    """The pipeline's working folder or state is unusable."""


def closest(name: object, known: Iterable[object], *, cutoff: float = 0.6) -> str | None:
    """The known name closest to a misspelled ``name`` (None when none is close)."""
    import difflib  # only when a name is wrong

    found = difflib.get_close_matches(str(name), sorted(str(k) for k in known), n=1, cutoff=cutoff)
    return found[0] if found else None


def did_you_mean(name: object, known: Iterable[object], *, listing: str = "known") -> str:
    """The hint for a name that matches none of ``known``: the closest one, then the whole list
    (``did you mean 'items'? known: items, users``)."""
    options = sorted(str(k) for k in known)
    close = closest(name, options)
    shown = f"{listing}: {', '.join(options)}" if options else f"{listing}: none"
    return f"did you mean {close!r}? {shown}" if close else shown


def unknown_argument(function: str, key: str, allowed: Iterable[str]) -> ConfigError:
    """The error for an unknown keyword argument ``key`` of ``function``, with a "did you mean"."""
    shown = [a for a in allowed if not a.startswith("_")]
    return ConfigError(
        f"{function}() got an unknown argument {key!r}", hint=did_you_mean(key, shown, listing="arguments")
    )


def check_keywords(fn: Callable[_P, _R], label: str, *, also: Iterable[str] = ()) -> Callable[_P, _R]:
    """``fn`` with a misspelled keyword argument made a ConfigError with a "did you mean"
    (:func:`unknown_argument`) instead of Python's bare ``TypeError``: its named parameters are
    accepted, and the names in ``also`` (what its ``**kwargs`` take); ``label`` names it."""
    params = inspect.signature(fn).parameters.values()
    allowed = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)} | set(also)

    @functools.wraps(fn)
    def checked(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        for key in kwargs:
            if key not in allowed:
                raise unknown_argument(label, key, allowed)
        return fn(*args, **kwargs)

    return checked
