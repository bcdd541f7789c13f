"""Partitions as Ray tasks: on a local Ray cluster, or on any cluster this process can reach.

::

    hw.pipeline("orders", executor=hw.executors.ray())              # a local cluster on every core
    hw.pipeline("orders", executor=hw.executors.ray("ray://head:10001", storage="s3://bucket/parts"))

Each partition job is one Ray task. The task extracts and normalizes its partition into a part; the
driver (this process) adopts every part into the run's load package and commits one load, as with
threads and processes. Where the part goes:

* ``storage=None``: into the part's folder in the pipeline's working folder, by its local path. Right
  when every node sees that folder: a one-machine cluster, or a working folder on a shared mount.
* ``storage="<fsspec URL>"``: the task writes the part on its node's disk and uploads it under
  ``<storage>/<pipeline>/<load id>/<resource>/<partition>/<attempt>/``; the driver downloads it into
  its working folder (then deletes it from the storage) and adopts it.

A task that fails, or whose worker process dies (killed, out of memory, its node lost), is retried by
this executor (Ray's own task retries are off, so every attempt is counted in the run's
:class:`~headwater.executors.pools.Outcome`), up to ``retries`` more times. See docs/scale-ray.md.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import logging
import os
import socket
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from headwater.errors import ConfigError
from headwater.executors import storage as shared
from headwater.executors.pools import Outcome, _check, failed_attempt
from headwater.optional import install_hint, require

log = logging.getLogger("headwater")

NEEDED_BY = "hw.executors.ray()"
#: what this process connected to through a ray executor ("local" for a cluster it started): Ray keeps
#: one connection per process, so this mirrors Ray's own process-wide state
_connected: dict[str, str] = {}
#: seconds to wait for a cluster's address to answer before saying nothing is there
PROBE_SECONDS = 5.0

#: variables that describe a machine or a process, not the run's configuration: a Ray worker keeps its
#: own (and Ray's ``RAY_*``) when it takes the driver's environment for a partition
MACHINE_VARIABLES = frozenset(
    {
        "_",
        "CONDA_DEFAULT_ENV",
        "CONDA_PREFIX",
        "CUDA_VISIBLE_DEVICES",
        "HOME",
        "HOSTNAME",
        "LD_LIBRARY_PATH",
        "LD_PRELOAD",
        "LOGNAME",
        "MKL_NUM_THREADS",
        "OLDPWD",
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "PATH",
        "PWD",
        "PYTHONHOME",
        "PYTHONPATH",
        "SHELL",
        "TEMP",
        "TMP",
        "TMPDIR",
        "USER",
        "VIRTUAL_ENV",
    }
)


def ray_missing() -> ConfigError:
    """The error for Ray not installed."""
    return ConfigError(f"{NEEDED_BY} needs the ray package, which is not installed", hint=install_hint("ray"))


class Ray:
    """Partitions as tasks on a Ray cluster (see the module docstring and :func:`headwater.executors.ray`)."""

    kind = "ray"
    #: jobs run in other processes: each carries the driver's environment (see :func:`worker_environment`)
    separate_processes = True

    def __init__(
        self,
        address: str | None = None,
        *,
        storage: str | None = None,
        retries: int = 2,
        num_cpus: int | None = None,
        num_cpus_per_task: float = 1,
        runtime_env: Mapping[str, Any] | None = None,
        init_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        if importlib.util.find_spec("ray") is None:
            raise ray_missing()
        what = "executor 'ray'"
        _, self.retries = _check(None, retries, what)
        if address is not None and (not isinstance(address, str) or not address.strip()):
            raise ConfigError(f"{what}: address must be a Ray address or None, got {address!r}", hint=ADDRESS_HINT)
        if num_cpus is not None and (isinstance(num_cpus, bool) or not isinstance(num_cpus, int) or num_cpus < 1):
            raise ConfigError(f"{what}: num_cpus must be a positive integer (or None: every core), got {num_cpus!r}")
        if num_cpus is not None and address is not None:
            raise ConfigError(
                f"{what}: num_cpus sizes the local cluster the executor starts; the cluster at {address!r} has its own",
                hint="drop num_cpus=, or drop address= to start a local cluster of that size",
            )
        per_task = num_cpus_per_task
        if isinstance(per_task, bool) or not isinstance(per_task, int | float) or per_task <= 0:
            raise ConfigError(f"{what}: num_cpus_per_task must be a number > 0, got {num_cpus_per_task!r}")
        for name, value in (("runtime_env", runtime_env), ("init_kwargs", init_kwargs)):
            if value is not None and not isinstance(value, Mapping):
                raise ConfigError(f"{what}: {name} must be a dict, got {type(value).__name__}")
        if init_kwargs and "address" in init_kwargs:
            raise ConfigError(f"{what}: give the address as address=, not in init_kwargs")
        if storage is not None:
            if not isinstance(storage, str) or not storage.strip():
                raise ConfigError(f"{what}: storage must be an fsspec URL or None, got {storage!r}")
            shared.filesystem(storage)  # fsspec and the URL's filesystem are there
        self.address = address
        self.storage = storage
        self.num_cpus = num_cpus
        self.num_cpus_per_task = num_cpus_per_task
        self.runtime_env = dict(runtime_env) if runtime_env else None
        self.init_kwargs = dict(init_kwargs or {})
        self._owner = False

    def __repr__(self) -> str:
        where = self.address or "local"
        return f"<executor ray address={where!r}" + (f" storage={self.storage!r}>" if self.storage else ">")

    # -- the cluster ------------------------------------------------------------------------------
    def sharing(self) -> contextlib.AbstractContextManager[Any]:
        """Rate limits shared by the run's tasks through one actor on the cluster (its namespace is in
        the environment the jobs made inside the block carry; :mod:`headwater.executors.ratelimit`)."""
        from headwater.executors.ratelimit import share_on_ray

        self.connect()
        return share_on_ray()

    def connect(self) -> ModuleType:
        """Connect this process to the executor's cluster (once; Ray keeps one connection per process)
        and return the ``ray`` module.

        ``address=None`` takes the cluster this process is already connected to, else the one in
        ``$RAY_ADDRESS``, else starts a local cluster (``num_cpus`` CPUs, no dashboard, no usage
        statistics) that lives until :meth:`close` or the end of the process.

        Raises:
            ConfigError: Ray is missing; nothing answers at the address; the process is connected to
                another cluster; Ray refuses to connect.
        """
        ray = require("ray", NEEDED_BY, extra="ray")
        address = self.address or os.environ.get("RAY_ADDRESS") or None
        if ray.is_initialized():
            current = _connected.get("address")
            if address in (None, "auto") or address == current or current is None:
                return ray  # the process's connection (made by the application itself when current is None)
            probe(address)
            raise ConfigError(
                f"this process is connected to the Ray cluster at {current!r}, not {address!r}: Ray allows one "
                "cluster per process",
                hint="use one address per process, or close the other executor first (executor.close())",
            )
        if address is None:
            kwargs: dict[str, Any] = {"address": "local", "num_cpus": self.num_cpus, "include_dashboard": False}
            # the documented opt-out; ray.init sets it for a local cluster too, except on nightly wheels
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        elif self.num_cpus is not None:
            raise ConfigError(
                f"executor 'ray': num_cpus sizes a local cluster, but $RAY_ADDRESS names the cluster {address!r}",
                hint="drop num_cpus=, or unset RAY_ADDRESS to start a local cluster",
            )
        else:
            probe(address)
            kwargs = {"address": address}
        kwargs.update(self.init_kwargs)
        try:
            ray.init(**kwargs)
        except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            doing = "start a local Ray cluster" if address is None else f"connect to {address!r}"
            raise ConfigError(
                f"the ray executor cannot {doing}: {first}",
                hint=ADDRESS_HINT,
            ) from exc
        _connected["address"] = address or "local"
        self._owner = True
        log.info("ray executor: connected to %s (%s CPUs)", address or "a new local cluster", _cpus(ray))
        return ray

    def close(self) -> None:
        """Disconnect from the cluster if this executor connected (a local cluster it started stops)."""
        ray = importlib.import_module("ray") if self._owner else None
        if ray is not None and ray.is_initialized():
            ray.shutdown()
        if self._owner:
            _connected.clear()
            self._owner = False

    # -- running ----------------------------------------------------------------------------------
    def run(self, fn: Callable[[Any], Any], jobs: Sequence[Any]) -> Iterator[Outcome]:
        """Run ``fn(job)`` as a Ray task for every job; yield each job's :class:`Outcome` as it is final.

        Raises:
            ConfigError: the cluster cannot be reached, or (``storage=None``) a part was written where
                this machine cannot see it.
        """
        if not jobs:
            return
        ray = self.connect()
        options: dict[str, Any] = {"num_cpus": self.num_cpus_per_task, "max_retries": 0, "retry_exceptions": False}
        if self.runtime_env:
            options["runtime_env"] = self.runtime_env
        task = ray.remote(run_task)
        outcomes = [Outcome(i) for i in range(len(jobs))]
        running: dict[Any, int] = {}

        def submit(i: int) -> None:
            name = f"headwater part {getattr(jobs[i], 'key', i)}"
            running[task.options(**options, name=name).remote(fn, jobs[i], self.storage)] = i

        try:
            for i in range(len(jobs)):
                submit(i)
            while running:
                (ref,), _ = ray.wait(list(running), num_returns=1)
                i = running.pop(ref)
                outcome = outcomes[i]
                outcome.attempts += 1
                try:
                    result = ray.get(ref)
                    if self.storage is not None:
                        result = self._fetch(result, jobs[i])
                except Exception as exc:  # the task's own error, its worker's death, or the download's
                    if failed_attempt(outcome, cause(ray, exc), self.retries, " on ray"):
                        submit(i)
                        continue
                else:
                    if self.storage is None:
                        visible(jobs[i])
                    outcome.result, outcome.error = result, None
                yield outcome
        finally:
            for ref in running:
                try:
                    ray.cancel(ref, force=True)
                except Exception:  # already finished, or its worker already gone
                    pass
            if self.storage is not None:
                for url in {load_url(self.storage, job) for job in jobs}:
                    shared.remove(url)  # what dead attempts left

    def _fetch(self, result: Any, job: Any) -> Any:
        """The part uploaded at ``result.folder``, downloaded into ``job.folder`` (the URL deleted)."""
        url = result.folder
        shared.download(url, Path(job.folder))
        shared.remove(part_url(self.storage or "", job))
        log.info("partition %s: part fetched from %s", getattr(job, "key", "?"), url)
        return dataclasses.replace(result, folder=job.folder)


ADDRESS_HINT = (
    "address=None starts a local cluster (or takes $RAY_ADDRESS); a running cluster is 'host:6379' (its GCS, "
    "from a machine of the cluster), 'ray://host:10001' (Ray Client, from outside) or 'auto' (the cluster "
    "this machine runs); start one with: ray start --head --disable-usage-stats"
)


def probe(address: str) -> None:
    """Check that something answers at ``address`` (``host:port`` or ``ray://host:port``) within
    :data:`PROBE_SECONDS` (Ray itself waits minutes for a cluster that is not there).

    Raises:
        ConfigError: the address is not ``host:port``, or nothing answers there.
    """
    if address in ("auto", "local"):
        return
    target = address.split("://", 1)[1] if "://" in address else address
    host, sep, port = target.rstrip("/").rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ConfigError(f"executor 'ray': address {address!r} is not host:port", hint=ADDRESS_HINT)
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_SECONDS).close()
    except OSError as exc:
        raise ConfigError(
            f"no Ray cluster answers at {address!r}: {exc.strerror or exc}",
            hint="check the address and that the cluster runs (ray status on its head node); " + ADDRESS_HINT,
        ) from None


def cause(ray: ModuleType, exc: BaseException) -> BaseException:
    """The error a task raised (Ray wraps it in a ``RayTaskError``), else ``exc`` itself (a worker
    that died: ``WorkerCrashedError``; a lost node; a failed download)."""
    if isinstance(exc, ray.exceptions.RayTaskError) and isinstance(exc.cause, BaseException):
        return exc.cause
    return exc


def visible(job: Any) -> None:
    """Check that the part of ``job`` (written in place, ``storage=None``) is where this machine sees it.

    Raises:
        ConfigError: it is not: the task ran on another machine.
    """
    folder = getattr(job, "folder", None)
    if folder is not None and not Path(folder).is_dir():
        raise ConfigError(
            f"partition {getattr(job, 'key', '?')!r} was written to {folder} on the node that ran it, "
            "which this machine cannot see",
            hint="give the executor a storage that every node and this machine reach: "
            "hw.executors.ray(address, storage='s3://bucket/prefix'); or keep the pipelines folder on a shared mount",
        )


# -- on the worker -------------------------------------------------------------------------------------
def load_url(storage: str, job: Any) -> str:
    """Where the parts of ``job``'s load go under ``storage``."""
    return shared.join(storage, job.pipeline, job.load_id)


def part_url(storage: str, job: Any) -> str:
    """Where the attempts of ``job``'s part go under ``storage``: its load's URL, then its resource's and
    its partition's folder names."""
    folder = Path(job.folder)
    return shared.join(load_url(storage, job), folder.parent.name, folder.name)


def run_task(fn: Callable[[Any], Any], job: Any, storage: str | None) -> Any:
    """In a Ray worker: ``fn(job)`` in the driver's environment; with ``storage``, the part written on
    this node's disk and uploaded (the result's ``folder`` then is the part's URL)."""
    environment = getattr(job, "environment", None) or {}
    if environment:
        job = dataclasses.replace(job, environment={})  # set here, and undone after: workers are reused
    with driver_environment(environment):
        if storage is None:
            return fn(job)
        with tempfile.TemporaryDirectory(prefix="headwater-part-") as tmp:
            local = Path(tmp) / Path(job.folder).name
            result = fn(dataclasses.replace(job, folder=str(local)))
            url = shared.upload(local, part_url(storage, job))
            return dataclasses.replace(result, folder=url)


def worker_environment(worker: Mapping[str, str], driver: Mapping[str, str]) -> dict[str, str]:
    """The environment a partition runs in on a worker: the driver's, except the variables of
    :data:`MACHINE_VARIABLES` and Ray's ``RAY_*``, which stay the worker's own."""

    def own(name: str) -> bool:
        return name in MACHINE_VARIABLES or name.startswith("RAY_")

    env = {k: v for k, v in worker.items() if own(k)}
    env.update({k: v for k, v in driver.items() if not own(k)})
    return env


@contextmanager
def driver_environment(driver: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` as :func:`worker_environment` makes it, for the block (restored after)."""
    if not driver:
        yield
        return
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(worker_environment(saved, driver))
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _cpus(ray: ModuleType) -> Any:
    try:
        return ray.cluster_resources().get("CPU", "?")
    except Exception:
        return "?"
