"""Custom metrics of resources: ``hw.metrics.counter(name)`` and ``hw.metrics.gauge(name)``.

A counter or gauge is declared once (at import time, in a source plugin's module), with its description
and unit for OpenTelemetry, and counts into the resource running when it is used
(``info.metrics.resources[resource].custom[name]``). Outside a resource of a running pipeline it counts
nothing, so a resource stays usable without a pipeline (a test that iterates it by hand).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any, Literal

from headwater.errors import ConfigError
from headwater.observe.scope import current

MetricKind = Literal["counter", "gauge"]

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]{0,62}$")


@dataclass(frozen=True)
class Declared:
    """A custom metric as declared: its kind, description and unit (exported to OpenTelemetry)."""

    name: str
    kind: MetricKind
    description: str = ""
    unit: str = ""


_DECLARED: dict[str, Declared] = {}
_DECLARED_LOCK = threading.Lock()


def declared() -> dict[str, Declared]:
    """The custom metrics declared so far in this process, by name."""
    return dict(_DECLARED)


def _declare(name: Any, kind: MetricKind, description: Any, unit: Any) -> Declared:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(
            f"hw.metrics.{kind}: {name!r} is not a metric name",
            hint="use 1 to 63 letters, digits, '_', '.' or '-', starting with a letter, e.g. 'api_calls'",
        )
    if not isinstance(description, str) or not isinstance(unit, str):
        raise ConfigError(f"hw.metrics.{kind}({name!r}): description and unit must be strings")
    with _DECLARED_LOCK:
        known = _DECLARED.get(name)
        if known is not None and known.kind != kind:
            raise ConfigError(
                f"hw.metrics.{kind}({name!r}): {name!r} is already a {known.kind}",
                hint=f"give the {kind} another name, or use hw.metrics.{known.kind}({name!r})",
            )
        if known is None or (description or unit):
            keep = Declared(name, kind, description or (known.description if known else ""), unit or "")
            _DECLARED[name] = keep
            return keep
        return known


class Counter:
    """A custom counter of the running resource: :meth:`inc` adds to it (see :func:`counter`)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def inc(self, amount: float = 1) -> None:
        """Add ``amount`` (default 1) to the counter of the resource running now; outside one, nothing.

        Raises:
            ConfigError: ``amount`` is negative or not a number (a counter only goes up).
        """
        if type(amount) is not int and (isinstance(amount, bool) or not isinstance(amount, int | float)):
            raise ConfigError(f"counter {self.name!r}: inc() takes a number, got {amount!r}")
        if amount < 0:
            raise ConfigError(
                f"counter {self.name!r}: inc({amount!r}) would count down",
                hint="a counter only goes up; use hw.metrics.gauge() for a value that goes up and down",
            )
        m = current()
        if m is not None:
            m.add_custom(self.name, amount, "counter")

    def __repr__(self) -> str:
        return f"<counter {self.name!r}>"


class Gauge:
    """A custom gauge of the running resource: :meth:`set` records its value (see :func:`gauge`)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def set(self, value: float) -> None:
        """Set the gauge of the resource running now to ``value`` (the last value set is kept).

        Raises:
            ConfigError: ``value`` is not a number.
        """
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"gauge {self.name!r}: set() takes a number, got {value!r}")
        m = current()
        if m is not None:
            m.add_custom(self.name, value, "gauge")

    def __repr__(self) -> str:
        return f"<gauge {self.name!r}>"


def counter(name: str, *, description: str = "", unit: str = "") -> Counter:
    """A counter of the running resource, in ``info.metrics.resources[resource].custom[name]``.

    Declare it once (at import time, in a source plugin's module) and count inside the resource::

        api_calls = hw.metrics.counter("api_calls", description="calls to the vendor API", unit="{call}")
        ...
        api_calls.inc()      # or .inc(5)

    Outside a resource of a running pipeline, counting does nothing.

    Args:
        name: 1 to 63 letters, digits, ``_``, ``.`` or ``-``, starting with a letter.
        description: what it counts (exported to OpenTelemetry).
        unit: its unit, UCUM style (``s``, ``By``, ``{call}``).

    Raises:
        ConfigError: a bad name, or a name already declared as a gauge.
    """
    return Counter(_declare(name, "counter", description, unit).name)


def gauge(name: str, *, description: str = "", unit: str = "") -> Gauge:
    """A gauge of the running resource: the last value set, in ``...custom[name]`` (see :func:`counter`).

    Raises:
        ConfigError: a bad name, or a name already declared as a counter.
    """
    return Gauge(_declare(name, "gauge", description, unit).name)
