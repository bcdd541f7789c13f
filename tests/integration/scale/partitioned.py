"""Partitioned resources of the scale tests, at the top of a module so worker processes import them.

Each extraction of a partition appends its key to ``$HW_TEST_LOG`` (one line, O_APPEND: safe from
several processes), so tests count extractions exactly. ``$HW_TEST_FAIL`` names partitions that fail:
``key:n`` fails the first n attempts (counted in the log), ``key:*`` always.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import headwater as hw

PARTS = [f"p{i}" for i in range(6)]


def _attempts(key: str) -> int:
    log = Path(os.environ["HW_TEST_LOG"])
    return sum(1 for line in log.read_text().splitlines() if line == key) if log.exists() else 0


def _note(key: str) -> None:
    fd = os.open(os.environ["HW_TEST_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{key}\n".encode())
    finally:
        os.close(fd)


def _maybe_fail(key: str) -> None:
    for rule in filter(None, os.environ.get("HW_TEST_FAIL", "").split(",")):
        name, _, times = rule.partition(":")
        if name == key and (times == "*" or _attempts(key) <= int(times)):
            raise RuntimeError(f"partition {key} is down (attempt {_attempts(key)})")


def rows(key: str) -> Iterator[dict[str, Any]]:
    n = int(key[1:])
    for i in range(n * 1000, n * 1000 + 1000):
        yield {"id": i, "part": key, "amount": i * 0.5, "tags": [{"t": f"t{i % 3}"}, {"t": "x"}]}


@hw.resource(partitions=PARTS, primary_key="id", write_disposition="merge")
def orders(partition: str) -> Iterator[dict[str, Any]]:
    _note(partition)
    _maybe_fail(partition)
    yield from rows(partition)


@hw.resource(name="orders")
def orders_whole() -> Iterator[dict[str, Any]]:
    for key in PARTS:
        yield from rows(key)


@hw.resource(partitions=["a", "b"], primary_key="id", write_disposition="merge")
def events(partition: str, updated: Any = hw.incremental("updated", initial_value=0)) -> Iterator[dict[str, Any]]:
    _note(partition)
    top = int(os.environ.get("HW_TEST_TOP", "3"))
    offset = 0 if partition == "a" else 10  # b's cursor runs ahead of a's: a shared cursor would skip a's rows
    for i in range(top):
        yield {"id": offset * 10 + i, "updated": offset + i, "part": partition}


@hw.resource(partitions=PARTS, primary_key="id", write_disposition="merge", name="orders")
def killable(partition: str) -> Iterator[dict[str, Any]]:
    """Like ``orders``; the partition named by ``$HW_TEST_KILL`` kills its own worker process with
    SIGKILL halfway through its first attempt."""
    _note(partition)
    for n, row in enumerate(rows(partition)):
        if n == 500 and partition == os.environ.get("HW_TEST_KILL") and _attempts(partition) == 1:
            os.kill(os.getpid(), 9)
        yield row


def mixed_rows(key: str) -> Iterator[dict[str, Any]]:
    """Partition p1's ``code`` is text and p2 adds a nested ``extra``; the others have integers."""
    n = int(key[1:])
    for i in range(n * 10, n * 10 + 10):
        row: dict[str, Any] = {"id": i, "code": f"c{i}" if key == "p1" else i, "score": i if n % 2 else i + 0.5}
        if key == "p2":
            row["extra"] = {"deep": i}
        yield row


@hw.resource(partitions=["p0", "p1", "p2", "p3"], name="mixed")
def mixed(partition: str) -> Iterator[dict[str, Any]]:
    yield from mixed_rows(partition)


@hw.resource(name="mixed")
def mixed_whole() -> Iterator[dict[str, Any]]:
    for key in ["p0", "p1", "p2", "p3"]:
        yield from mixed_rows(key)


@hw.resource(primary_key="id", write_disposition="merge")
def customers(updated: Any = hw.incremental("updated", initial_value=0)) -> Iterator[dict[str, Any]]:
    """An independent resource (no partitions) that says which process read it."""
    top = int(os.environ.get("HW_TEST_TOP", "3"))
    for i in range(top):
        yield {"id": i, "updated": i, "pid": os.getpid()}


@hw.resource(primary_key="id")
def products() -> Iterator[dict[str, Any]]:
    yield from ({"id": i, "pid": os.getpid()} for i in range(5))
