"""The filesystem source's file sets are partitions: on worker processes they load what one read loads,
and the files each set read are all remembered, so the next run reads only new files."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

import headwater as hw
from headwater.errors import ConfigError
from headwater.sources.filesystem.source import file_set


def _write(folder: Path, numbers: list[int]) -> None:
    folder.mkdir(exist_ok=True)
    for f in numbers:
        with (folder / f"orders_{f:03d}.csv").open("w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["id", "file", "amount"])
            writer.writerows([f * 100 + i, f, (f * 100 + i) / 8] for i in range(100))


def _pipeline(tmp_path: Path, name: str, executor: Any) -> Any:
    dest = hw.destinations.duckdb(str(tmp_path / f"{name}.duckdb"))
    return hw.pipeline(
        name, destination=dest, dataset="d", pipelines_dir=tmp_path / "p", progress=False, executor=executor
    )


@pytest.mark.parametrize("executor", ["threads", "processes"])
def test_file_sets_load_what_one_read_loads_and_remember_every_file(tmp_path: Path, executor: str) -> None:
    folder = tmp_path / "in"
    # sets hash the whole path, which holds tmp_path: pick file numbers giving every set 4 files, so that
    # the test reads in three parts whatever the folder (12 numbers in a row miss a set 2% of the time)
    numbers: dict[int, list[int]] = {0: [], 1: [], 2: []}
    for f in range(1000):
        chosen = numbers[file_set(str(folder / f"orders_{f:03d}.csv"), 3)]
        if len(chosen) < 5:
            chosen.append(f)
    first = [f for chosen in numbers.values() for f in chosen[:4]]
    _write(folder, first)
    assert {file_set(str(p), 3) for p in folder.iterdir()} == {0, 1, 2}
    whole = _pipeline(tmp_path, "whole", "threads")
    parted = _pipeline(tmp_path, "parted", executor)
    source = lambda **kw: hw.sources.filesystem(folder, glob="*.csv", name="orders", file_name=True, **kw)  # noqa: E731
    assert whole.run(source()).table_rows() == {"orders": 1200}
    assert parted.run(source(partitions=3)).table_rows() == {"orders": 1200}
    sql = "select id, file, amount, _file_name from d.orders order by id"
    assert parted.query(sql).to_pylist() == whole.query(sql).to_pylist()
    assert len(parted.state.resource_state("filesystem", "orders")["files"]) == 12
    _write(folder, [chosen[4] for chosen in numbers.values()] + [max(first) + 1000])
    assert parted.run(source(partitions=3)).table_rows() == {"orders": 400}  # only the 4 new files
    assert parted.run(source(partitions=3)).table_rows() == {}
    assert parted.query("select count(*) as n, count(distinct id) as ids from d.orders").to_pylist() == [
        {"n": 1600, "ids": 1600}
    ]


def test_partitions_must_be_a_positive_integer(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="partitions must be a positive integer"):
        hw.sources.filesystem(tmp_path, glob="*.csv", partitions=0)
