"""Partitioned resources of the Ray tests, at the top of a module so Ray workers import them by name.

Each extraction of a partition appends its key to ``$HW_TEST_LOG`` (one line, O_APPEND), as
:mod:`tests.integration.scale.partitioned` does. ``$HW_TEST_FILES`` is the folder of the file set,
``$HW_TEST_DB`` the SQLite database: both travel to the workers with the driver's environment.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import headwater as hw


def _note(key: str) -> None:
    fd = os.open(os.environ["HW_TEST_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{key}\n".encode())
    finally:
        os.close(fd)


# -- a file set: six CSV files read in three partitions of two files -----------------------------------
FILES = [f"events_{i}.csv" for i in range(6)]
FILE_SETS = ["events_[01].csv", "events_[23].csv", "events_[45].csv"]


def write_files(folder: Path, rows_per_file: int = 400) -> None:
    """Six CSV files with the same columns: ids, text, a decimal number, a timestamp and an empty cell."""
    folder.mkdir(parents=True, exist_ok=True)
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for n, name in enumerate(FILES):
        with (folder / name).open("w", newline="") as f:
            out = csv.writer(f)
            out.writerow(["id", "kind", "amount", "at", "note"])
            for i in range(n * rows_per_file, (n + 1) * rows_per_file):
                at = (start + dt.timedelta(minutes=i)).isoformat()
                out.writerow([i, f"k{i % 7}", f"{i * 1.25:.2f}", at, "" if i % 5 else f"note {i}"])


def files(glob: str) -> Any:
    """The filesystem source over ``$HW_TEST_FILES``: every file, or a partition's set."""
    return hw.sources.filesystem(
        os.environ["HW_TEST_FILES"], glob=glob, name="events", file_name=True, row_number=True, incremental=False
    )


@hw.resource(partitions=FILE_SETS, name="events")
def event_files(partition: str) -> Iterator[Any]:
    """The files matching ``partition``, read by the filesystem source's own reader."""
    _note(partition)
    yield from files(partition).resources["events"]


# -- a SQL table read in key ranges ---------------------------------------------------------------------
ACCOUNTS = 4000
KEY_RANGES = [[0, 900], [900, 2000], [2000, 3100], [3100, ACCOUNTS]]


def create_db(path: Path, n: int = ACCOUNTS) -> None:
    """A SQLite table ``accounts`` of ``n`` rows: numbers, text, dates, NULLs and a JSON list of tags."""
    with sqlite3.connect(path) as con:
        con.execute(
            "create table accounts (id integer primary key, name text, balance real, opened text, "
            "closed text, tags text)"
        )
        rows = [
            (
                i,
                f"account {i}",
                round(i * 3.17 - 1000, 2),
                (dt.date(2020, 1, 1) + dt.timedelta(days=i % 1500)).isoformat(),
                None if i % 3 else (dt.date(2025, 1, 1) + dt.timedelta(days=i % 90)).isoformat(),
                json.dumps([f"t{j}" for j in range(i % 4)]),
            )
            for i in range(n)
        ]
        con.executemany("insert into accounts values (?, ?, ?, ?, ?, ?)", rows)


def read_accounts(lower: int | None = None, upper: int | None = None) -> Iterator[list[dict[str, Any]]]:
    """The rows of ``lower <= id < upper`` (all without bounds), in pages of 500, tags as a list."""
    con = sqlite3.connect(f"file:{os.environ['HW_TEST_DB']}?mode=ro", uri=True)
    con.row_factory = sqlite3.Row
    try:
        if lower is None:
            cursor = con.execute("select * from accounts order by id")
        else:
            cursor = con.execute("select * from accounts where id >= ? and id < ? order by id", (lower, upper))
        while page := cursor.fetchmany(500):
            yield [{**dict(row), "tags": json.loads(row["tags"])} for row in page]
    finally:
        con.close()


@hw.resource(partitions=KEY_RANGES, name="accounts", primary_key="id", write_disposition="merge")
def accounts(partition: list[int]) -> Iterator[list[dict[str, Any]]]:
    """One key range of the table."""
    lower, upper = partition
    _note(f"{lower}-{upper}")
    yield from read_accounts(lower, upper)


@hw.resource(name="accounts", primary_key="id", write_disposition="merge")
def accounts_whole() -> Iterator[list[dict[str, Any]]]:
    """The whole table in one read."""
    yield from read_accounts()
