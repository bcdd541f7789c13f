"""Where a run's partitions run: threads of this process, or worker processes on every core.

An executor takes jobs (one per partition), runs each with a module-level function, retries a job
that fails (an exception, or its worker process dying) up to ``retries`` more times, and reports
each job once: its result, or its last error. It never decides what is committed: the driver
(:mod:`headwater.pipelines.parts`) adopts the finished parts into one load package.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import logging
import multiprocessing
import os
import pickle
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from headwater.errors import ConfigError, described
from headwater.observe.context import carry

log = logging.getLogger("headwater")


@dataclass
class Outcome:
    """What became of one job: its result, or the error of its last attempt; and the attempts made."""

    index: int
    result: Any = None
    error: BaseException | None = None
    attempts: int = 0
    errors: list[str] = field(default_factory=list)


def failed_attempt(outcome: Outcome, error: BaseException, retries: int, where: str = "") -> bool:
    """Record ``error`` as the outcome's latest failed attempt; whether the job is tried again (logged)."""
    outcome.error = error
    outcome.errors.append(described(error))
    if outcome.attempts > retries:
        return False
    log.warning(
        "partition job %d failed%s (attempt %d of %d), retrying: %s",
        outcome.index,
        where,
        outcome.attempts,
        retries + 1,
        described(error),
    )
    return True


def _check(workers: Any, retries: Any, what: str) -> tuple[int | None, int]:
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ConfigError(f"{what}: workers must be a positive integer (or None: one per core), got {workers!r}")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ConfigError(f"{what}: retries must be a whole number >= 0, got {retries!r}")
    return workers, retries


def cores() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class _Pooled:
    """Runs jobs on a ``concurrent.futures`` pool, retrying failed ones."""

    kind = "?"
    #: whether jobs run in other processes (which then get the driver's environment with each job)
    separate_processes = False

    def __init__(self, workers: int | None, retries: int) -> None:
        self.workers, self.retries = _check(workers, retries, f"executor {self.kind!r}")

    def __repr__(self) -> str:
        return f"<executor {self.kind} workers={self.size(0) if self.workers is None else self.workers}>"

    def size(self, jobs: int) -> int:
        """How many workers run ``jobs`` jobs (never more workers than jobs)."""
        n = self.workers or cores()
        return max(1, min(n, jobs)) if jobs else n

    def _pool(self, jobs: int) -> cf.Executor:
        raise NotImplementedError

    def sharing(self) -> contextlib.AbstractContextManager[Any]:
        """What the workers of a run share while it runs (a rate limit): nothing to set up on threads."""
        return contextlib.nullcontext()

    def _submit(self, pool: cf.Executor, fn: Callable[[Any], Any], job: Any) -> cf.Future[Any]:
        return pool.submit(fn, job)

    def _result(self, future: cf.Future[Any]) -> Any:
        return future.result()

    def run(self, fn: Callable[[Any], Any], jobs: Sequence[Any]) -> Iterator[Outcome]:
        """Run ``fn(job)`` for every job; yield each job's :class:`Outcome` as it is final."""
        outcomes = [Outcome(i) for i in range(len(jobs))]
        waiting = list(range(len(jobs)))
        while waiting:
            pool = self._pool(len(waiting))
            broken = False
            try:
                running = {self._submit(pool, fn, jobs[i]): i for i in waiting}
                waiting = []
                for future in cf.as_completed(running):
                    i = running[future]
                    outcome = outcomes[i]
                    outcome.attempts += 1
                    try:
                        outcome.result = self._result(future)
                        outcome.error = None
                    except BaseException as exc:  # the job's own error, or its worker's death
                        if isinstance(exc, KeyboardInterrupt):
                            raise
                        broken = broken or isinstance(exc, cf.BrokenExecutor)  # a pool that cannot go on: a dead worker
                        if failed_attempt(outcome, exc, self.retries):
                            waiting.append(i)
                            continue
                    yield outcome
            finally:
                pool.shutdown(wait=not broken, cancel_futures=True)
            waiting.sort()


class Threads(_Pooled):
    """Partitions on threads of this process (``executor="threads"``): I/O overlaps; CPU work shares
    one core's worth of the interpreter (Arrow and DuckDB release it)."""

    kind = "threads"

    def _pool(self, jobs: int) -> cf.Executor:
        return cf.ThreadPoolExecutor(max_workers=self.size(jobs), thread_name_prefix="headwater-part")

    def _submit(self, pool: cf.Executor, fn: Callable[[Any], Any], job: Any) -> cf.Future[Any]:
        return pool.submit(carry(fn), job)  # in a copy of this context: log records keep the run's ids


def _call_pickled(payload: bytes) -> bytes:
    """In a worker process: unpickle ``(fn, job)``, run it, pickle the result."""
    fn, job = pickle.loads(payload)
    return _dumps(fn(job))


def _dumps(value: Any) -> bytes:
    try:
        import cloudpickle  # type: ignore[import-untyped]  # optional; ships no type information
    except ImportError:
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return bytes(cloudpickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))


#: what the forkserver imports once, so that a worker does not import it again (about a second each)
PRELOAD = ("headwater.pipelines.part_worker",)


class Processes(_Pooled):
    """Partitions in worker processes, one per core by default (``executor="processes"``): extraction
    and normalization of each partition run in their own interpreter, on every core.

    Workers start with the ``forkserver`` method where the platform has it (``spawn`` elsewhere):
    never a fork of a process that holds threads and open connections. A job travels pickled
    (with ``cloudpickle`` when installed, which also carries resources defined in ``__main__`` or
    inside functions); a worker that dies (killed, out of memory) fails its jobs, which are retried on
    a new pool.
    """

    kind = "processes"
    separate_processes = True

    def _pool(self, jobs: int) -> cf.Executor:
        method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        context = multiprocessing.get_context(method)
        if method == "forkserver":  # the server imports the worker's code once; each worker forks with it loaded
            context.set_forkserver_preload(list(PRELOAD))
        return cf.ProcessPoolExecutor(max_workers=self.size(jobs), mp_context=context)

    def sharing(self) -> contextlib.AbstractContextManager[Any]:
        """Rate limits shared through files in a temporary folder: its variable is in the environment
        the jobs made inside the block carry to the workers (:mod:`headwater.executors.ratelimit`)."""
        from headwater.executors.ratelimit import share_in_folder

        return share_in_folder()

    def _submit(self, pool: cf.Executor, fn: Callable[[Any], Any], job: Any) -> cf.Future[Any]:
        try:
            payload = _dumps((fn, job))
        except Exception as exc:
            raise ConfigError(
                f"a partition job cannot be sent to a worker process: {type(exc).__name__}: {exc}",
                hint="define the resource function at the top of a module (not inside a function or in "
                "the interactive session), or install cloudpickle (pip install cloudpickle), or use "
                'executor="threads"',
            ) from exc
        return pool.submit(_call_pickled, payload)

    def _result(self, future: cf.Future[Any]) -> Any:
        return pickle.loads(future.result())
