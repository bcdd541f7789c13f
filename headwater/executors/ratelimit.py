"""Rate limits that hold across the workers of a run: threads, processes, Ray tasks.

A rate limit hands out request slots ``1 / per_second`` apart: a caller takes the next free slot under
a lock, then sleeps, outside the lock, until its slot comes. Where the next free slot is kept decides
who shares the limit:

- :class:`LocalSlots` (the default): in the process, under a ``threading.Lock``. Every thread and
  event loop of the process shares it; nothing else is touched (no file, no actor).
- :class:`FileSlots`: in a file of 16 bytes, under ``fcntl.flock``. Every process of one machine that
  uses the same folder shares it. The slot is a ``time.monotonic()`` value: CLOCK_MONOTONIC is one
  clock for the whole machine on Linux (and macOS), and it does not jump when the wall clock is set
  (a wall clock set back an hour would hold every slot an hour). Beside it the file keeps the
  monotonic clock's origin in wall time: a file written before a reboot (where monotonic time
  started again from zero) or before the wall clock was stepped is not trusted, and the schedule
  starts afresh.
- :class:`RaySlots`: in a named Ray actor the run's driver owns. Every task of the cluster shares it;
  the actor tells each caller how long to wait by its own clock, so that the clocks of the nodes need
  not agree.

A limit is known by its *identity* (a REST client's base URL, without credentials) and its rate: the
file and the actor's entry are named after a hash of both, so that no URL, let alone a secret, shows
in a file name.

**How the workers of a run find the shared slots.** Two environment variables, read in one place
(:meth:`Sharing.current`) at each wait, so that a limit made before the run started follows it too:

- ``HEADWATER_RATE_LIMIT_DIR``: a folder; limits are file-backed there;
- ``HEADWATER_RATE_LIMIT_RAY``: a Ray namespace; limits are kept by the actor :data:`KEEPER` in it.

Neither set: limits are process-local. An executor shares them like this::

    with ratelimit.share_in_folder() as sharing:  # a fresh folder, removed afterwards
        pool = ProcessPoolExecutor(mp_context=get_context("spawn"), initializer=sharing.install)
        ...  # the coordinator's own requests are limited through the same folder

    with ratelimit.share_on_ray() as sharing:  # after ray.init(); the actor lives as long as the block
        task.options(runtime_env={"env_vars": sharing.environ()}).remote(...)
"""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from headwater.errors import ConfigError
from headwater.optional import require

#: the folder of file-backed limits
ENV_FOLDER = "HEADWATER_RATE_LIMIT_DIR"
#: the Ray namespace of the actor that keeps the limits
ENV_RAY = "HEADWATER_RATE_LIMIT_RAY"
#: the name of the Ray actor that keeps the limits of a run
KEEPER = "headwater-rate-limits"
#: a slot file: the next free slot (monotonic seconds), the monotonic clock's origin (wall seconds)
_RECORD = struct.Struct("<dd")
#: how far the monotonic clock's origin may move before a slot file is not trusted (NTP slews it by
#: milliseconds; a reboot or a stepped wall clock moves it by much more)
_ORIGIN_TOLERANCE = 1.0


class Slots(Protocol):
    """Where the next free slot of a rate limit is kept."""

    def take(self, interval: float) -> float:
        """Take the next free slot, move it ``interval`` seconds on; the seconds until the slot taken."""
        ...


class LocalSlots:
    """The next free slot in this process: threads and event loops share it, other processes do not."""

    def __init__(self) -> None:
        self._next = 0.0
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        """Pickled as new (a worker process's slots are its own, or shared by the run's sharing)."""
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__()  # type: ignore[misc]  # a fresh lock and schedule in the worker

    def take(self, interval: float) -> float:
        """Take the next free slot (see :class:`Slots`)."""
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + interval
        return slot - now


class FileSlots:
    """The next free slot in a file, under ``fcntl.flock``: every process of the machine that uses the
    file shares it (each call opens the file anew, so that threads of one process, and processes
    forked with it open, exclude each other too).

    Args:
        path: the slot file (created at the first slot taken, with its folder).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def take(self, interval: float) -> float:
        """Take the next free slot (see :class:`Slots`)."""
        try:
            import fcntl
        except ImportError as exc:  # Windows
            raise ConfigError(
                f"{ENV_FOLDER} is set, but rate limits kept in files need fcntl (Linux, macOS)",
                hint=f"unset {ENV_FOLDER}, or run the workers as Ray tasks ({ENV_RAY})",
            ) from exc
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except FileNotFoundError:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            data = os.pread(fd, _RECORD.size, 0)
            now = time.monotonic()
            origin = time.time() - now
            free = 0.0
            if len(data) == _RECORD.size:
                stored, stored_origin = _RECORD.unpack(data)
                if abs(stored_origin - origin) <= _ORIGIN_TOLERANCE:
                    free = stored
            slot = max(now, free)
            os.pwrite(fd, _RECORD.pack(slot + interval, origin), 0)
        finally:
            os.close(fd)  # releases the lock
        return slot - now


class _Keeper:
    """The next free slot of every rate limit of a run, in one Ray actor (its calls run one at a time)."""

    def __init__(self) -> None:
        self.slots: dict[str, float] = {}

    def take(self, name: str, interval: float) -> float:
        now = time.monotonic()
        slot = max(now, self.slots.get(name, 0.0))
        self.slots[name] = slot + interval
        return slot - now


class RaySlots:
    """The next free slot in the run's Ray actor (:data:`KEEPER`): every task of the cluster shares it.

    Args:
        namespace: the Ray namespace of the actor (started by :func:`share_on_ray`).
        name: the limit's name (:func:`slot_name`).

    Raises:
        ConfigError: ray is not installed, or no actor runs in ``namespace``.
    """

    def __init__(self, namespace: str, name: str) -> None:
        self._ray = require("ray", "a rate limit shared by Ray tasks", extra="ray")
        self.name = name
        try:
            self._actor = self._ray.get_actor(KEEPER, namespace=namespace)
        except ValueError as exc:
            raise ConfigError(
                f"{ENV_RAY}={namespace!r}, but no rate-limit actor {KEEPER!r} runs in that namespace",
                hint="the run's driver starts it with headwater.executors.ratelimit.share_on_ray()",
            ) from exc

    def take(self, interval: float) -> float:
        """Take the next free slot (see :class:`Slots`): one call to the actor."""
        return float(self._ray.get(self._actor.take.remote(self.name, interval)))


def slot_name(identity: str, per_second: float) -> str:
    """The name of a limit: a hash of what it applies to and its rate (never the identity itself)."""
    return hashlib.sha256(f"{identity}\n{float(per_second)!r}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Sharing:
    """Where the rate limits of this process are kept: in ``folder`` (file-backed), by the Ray actor in
    ``ray_namespace``, or (neither) in the process.

    Raises:
        ConfigError: both are given.
    """

    folder: str | None = None
    ray_namespace: str | None = None

    def __post_init__(self) -> None:
        if self.folder and self.ray_namespace:
            raise ConfigError(
                f"rate limits are shared either in a folder ({ENV_FOLDER}={self.folder!r}) or by a Ray actor "
                f"({ENV_RAY}={self.ray_namespace!r}), not both",
                hint="set one of the two variables",
            )

    @classmethod
    def current(cls) -> Sharing:
        """This process's sharing, from ``HEADWATER_RATE_LIMIT_DIR`` and ``HEADWATER_RATE_LIMIT_RAY``."""
        return cls(os.environ.get(ENV_FOLDER) or None, os.environ.get(ENV_RAY) or None)

    @property
    def local(self) -> bool:
        """Whether limits are kept in each process (nothing shared)."""
        return not self.folder and not self.ray_namespace

    def environ(self) -> dict[str, str]:
        """The environment variables that make a worker share these limits (for a Ray ``runtime_env``,
        a subprocess's ``env``); empty when nothing is shared."""
        out = {}
        if self.folder:
            out[ENV_FOLDER] = self.folder
        if self.ray_namespace:
            out[ENV_RAY] = self.ray_namespace
        return out

    def install(self) -> None:
        """Make this process share these limits (a worker's initializer: with the forkserver start
        method, workers do not see the coordinator's environment as it is when they start)."""
        for key in (ENV_FOLDER, ENV_RAY):
            os.environ.pop(key, None)
        os.environ.update(self.environ())

    def slots(self, name: str) -> Slots:
        """The shared slots of the limit ``name`` (a new :class:`LocalSlots` when nothing is shared)."""
        if self.ray_namespace:
            return RaySlots(self.ray_namespace, name)
        if self.folder:
            return FileSlots(Path(self.folder) / f"{name}.slot")
        return LocalSlots()


class RateLimit:
    """At most ``per_second`` slots a second for ``identity``, shared as this process's
    :class:`Sharing` says (checked at each slot, so a limit follows a run that starts sharing).

    Args:
        per_second: slots per second (positive).
        identity: what the limit applies to (a base URL without credentials); workers share the
            limit of the same identity and rate.
    """

    def __init__(self, per_second: float, identity: str = "") -> None:
        if isinstance(per_second, bool) or not per_second > 0:
            raise ConfigError(f"a rate limit is a positive number per second, got {per_second!r}")
        self.per_second = float(per_second)
        self.interval = 1.0 / self.per_second
        self.name = slot_name(identity, per_second)
        self._local = LocalSlots()
        self._sharing = Sharing()
        self._slots: Slots = self._local

    def slots(self) -> Slots:
        """Where this limit's slots are kept now."""
        sharing = Sharing.current()
        if sharing != self._sharing:
            self._slots = self._local if sharing.local else sharing.slots(self.name)
            self._sharing = sharing
        return self._slots

    def reserve(self) -> float:
        """Take the next slot; the seconds until it comes (the caller waits them)."""
        return max(0.0, self.slots().take(self.interval))

    def wait(self) -> float:
        """Wait for the next slot, blocking the thread; the seconds waited."""
        delay = self.reserve()
        if delay > 0:
            time.sleep(delay)
        return delay

    async def wait_async(self) -> float:
        """Wait for the next slot without blocking the event loop; the seconds waited."""
        import asyncio

        delay = self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)
        return delay


@contextmanager
def share_in_folder(folder: str | Path | None = None) -> Iterator[Sharing]:
    """Share rate limits through files in ``folder`` (a fresh temporary folder by default, removed at
    the end) for this process and the processes it starts inside the block.

    Yields:
        The sharing: pass ``sharing.install`` as the initializer of a process pool whose start
        method is forkserver, or ``sharing.environ()`` to subprocesses with an environment of their own.
    """
    made = folder is None
    path = Path(tempfile.mkdtemp(prefix="headwater-ratelimit-")) if folder is None else Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    sharing = Sharing(folder=str(path))
    with _installed(sharing):
        try:
            yield sharing
        finally:
            if made:
                shutil.rmtree(path, ignore_errors=True)


@contextmanager
def share_on_ray(namespace: str | None = None) -> Iterator[Sharing]:
    """Share rate limits through a Ray actor owned by this process (the driver; call ``ray.init``
    first), in ``namespace`` (a fresh one by default); the actor is killed at the end.

    Yields:
        The sharing: pass ``sharing.environ()`` as the ``env_vars`` of the tasks' ``runtime_env``.
    """
    ray = require("ray", "a rate limit shared by Ray tasks", extra="ray")
    namespace = namespace or f"headwater-{uuid.uuid4().hex[:12]}"
    keeper: Any = ray.remote(num_cpus=0)(_Keeper)
    actor = keeper.options(name=KEEPER, namespace=namespace, get_if_exists=True).remote()
    ray.get(actor.take.remote("", 0.0))  # started before any task asks for it
    try:
        with _installed(Sharing(ray_namespace=namespace)) as sharing:
            yield sharing
    finally:
        ray.kill(actor)


@contextmanager
def _installed(sharing: Sharing) -> Iterator[Sharing]:
    before = Sharing.current()
    sharing.install()
    try:
        yield sharing
    finally:
        before.install()
