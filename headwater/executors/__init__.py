"""Executors: where the partitions of a run are extracted and normalized.

::

    hw.pipeline("orders", executor="processes")              # every core of this machine
    hw.pipeline("orders", executor=hw.executors.processes(workers=2, retries=3))
    hw.pipeline("orders", executor="threads")                # the default

Executors change where partitions run, never what is committed: each partition becomes a part of
the run's load package, and one load commits all of them (docs/scale.md).
"""

from __future__ import annotations

from typing import Any

from headwater.errors import ConfigError, did_you_mean
from headwater.executors.pools import Outcome, Processes, Threads, cores

__all__ = ["Executor", "Outcome", "cores", "processes", "resolve", "threads"]

Executor = Threads | Processes

#: what ``executor=`` takes by name
NAMES = ("threads", "processes")


def threads(workers: int | None = None, *, retries: int = 2) -> Threads:
    """Partitions on threads of this process.

    Args:
        workers: threads at once (None: one per core).
        retries: how many more times a failed partition is tried before the run fails.
    """
    return Threads(workers, retries)


def processes(workers: int | None = None, *, retries: int = 2) -> Processes:
    """Partitions in worker processes: extraction and normalization on every core.

    Args:
        workers: worker processes (None: one per core).
        retries: how many more times a failed partition (or one whose worker died) is tried.
    """
    return Processes(workers, retries)


def resolve(executor: Any) -> Executor:
    """``executor=`` checked: a name (``"threads"``, ``"processes"``) or an executor object.

    Raises:
        ConfigError: anything else, with the closest name.
    """
    if isinstance(executor, Threads | Processes):
        return executor
    if executor is None or executor == "threads":
        return threads()
    if executor == "processes":
        return processes()
    raise ConfigError(
        f"unknown executor {executor!r}",
        hint=did_you_mean(str(executor), NAMES, listing="executors")
        + "; or an executor object: hw.executors.processes(workers=4)",
    )
