"""Executors: where the partitions of a run are extracted and normalized.

::

    hw.pipeline("orders", executor="processes")              # every core of this machine
    hw.pipeline("orders", executor=hw.executors.processes(workers=2, retries=3))
    hw.pipeline("orders", executor="threads")                # the default
    hw.pipeline("orders", executor=hw.executors.ray("ray://head:10001", storage="s3://bucket/parts"))

Executors change where partitions run, never what is committed: each partition becomes a part of
the run's load package, and one load commits all of them (docs/scale.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from headwater.errors import ConfigError, check_keywords, did_you_mean
from headwater.executors.pools import Outcome, Processes, Threads, cores
from headwater.executors.ray import Ray

__all__ = ["Executor", "Outcome", "Processes", "Ray", "Threads", "cores", "processes", "ray", "resolve", "threads"]

Executor = Threads | Processes | Ray

#: what ``executor=`` takes by name
NAMES = ("threads", "processes", "ray")


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


# the function is defined after the module headwater.executors.ray is imported: ``hw.executors.ray`` is it
def ray(
    address: str | None = None,
    *,
    storage: str | None = None,
    retries: int = 2,
    num_cpus: int | None = None,
    num_cpus_per_task: float = 1,
    runtime_env: Mapping[str, Any] | None = None,
    init_kwargs: Mapping[str, Any] | None = None,
) -> Ray:
    """Partitions as tasks on a Ray cluster (``pip install 'headwater[ray]'``; docs/scale-ray.md).

    The driver (this process) connects when a run first has partitions to extract, and keeps the
    connection for the next runs (:meth:`Ray.close` ends it).

    Args:
        address: the cluster: ``None`` (the one this process is connected to, else ``$RAY_ADDRESS``,
            else a new local cluster on this machine), ``"host:6379"`` (a cluster's GCS, from one of its
            machines), ``"ray://host:10001"`` (Ray Client, from outside the cluster) or ``"auto"``.
        storage: where tasks put their parts for the driver: ``None`` (the pipeline's working folder,
            by path: one machine, or a shared mount) or an fsspec URL every node and the driver reach
            (``s3://bucket/prefix``, ``gs://...``, ``file:///mnt/shared/parts``; needs fsspec and the
            filesystem's package, e.g. ``s3fs``).
        retries: how many more times a failed partition (or one whose worker or node died) is tried.
        num_cpus: the CPUs of the local cluster started when there is no address (None: every core).
        num_cpus_per_task: CPUs Ray reserves for each partition (fewer tasks at once for more).
        runtime_env: Ray's runtime environment of the tasks (``{"pip": [...], "env_vars": {...}}``): how
            the cluster's workers get headwater and the modules of your resources.
        init_kwargs: more arguments for ``ray.init`` (``namespace``, ``_temp_dir``, ``object_store_memory``...).

    Raises:
        ConfigError: Ray is not installed; a wrong argument; storage's filesystem is missing.
    """
    return Ray(
        address,
        storage=storage,
        retries=retries,
        num_cpus=num_cpus,
        num_cpus_per_task=num_cpus_per_task,
        runtime_env=runtime_env,
        init_kwargs=init_kwargs,
    )


def resolve(executor: Any) -> Executor:
    """``executor=`` checked: a name (``"threads"``, ``"processes"``, ``"ray"``) or an executor object.

    Raises:
        ConfigError: anything else, with the closest name.
    """
    if isinstance(executor, Threads | Processes | Ray):
        return executor
    if executor is None or executor == "threads":
        return threads()
    if executor == "processes":
        return processes()
    if executor == "ray":
        return ray()
    raise ConfigError(
        f"unknown executor {executor!r}",
        hint=did_you_mean(str(executor), NAMES, listing="executors")
        + "; or an executor object: hw.executors.processes(workers=4), hw.executors.ray(address)",
    )


# a misspelled argument is a ConfigError with a "did you mean", not Python's TypeError
threads = check_keywords(threads, "hw.executors.threads")
processes = check_keywords(processes, "hw.executors.processes")
ray = check_keywords(ray, "hw.executors.ray")
