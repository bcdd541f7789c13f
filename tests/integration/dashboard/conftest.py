"""Fixtures of the dashboard's tests: a real pipeline run twice on DuckDB (the second run adds a column),
with the run records written by the stand-in writer (records.py), and the real ``headwater dashboard``
command serving it on a free port of 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import headwater as hw
from tests.conftest import env_with_path
from tests.integration.dashboard.records import recorded_run


@dataclass(frozen=True)
class Shop:
    """The pipelines folder of the ``shop`` pipeline and the records of its two runs, oldest first."""

    pipelines_dir: Path
    records: list[dict[str, Any]]


def orders_first() -> list[dict[str, Any]]:
    """Three orders with their items (a child table); one has a negative amount (quarantined)."""
    return [
        {"id": 1, "amount": 5, "updated": "2026-11-01T00:00:00Z", "items": [{"sku": "a"}, {"sku": "b"}]},
        {"id": 2, "amount": -3, "updated": "2026-11-02T00:00:00Z", "items": []},
        {"id": 3, "amount": 7, "updated": "2026-11-03T00:00:00Z", "items": [{"sku": "c"}]},
    ]


def orders_second() -> list[dict[str, Any]]:
    """Two newer orders with a column the first run did not have: ``coupon``."""
    return [
        {"id": 4, "amount": 9, "updated": "2026-11-04T00:00:00Z", "coupon": "WINTER", "items": [{"sku": "d"}]},
        {"id": 5, "amount": 2, "updated": "2026-11-05T00:00:00Z", "coupon": None, "items": []},
    ]


def orders(rows: list[dict[str, Any]]) -> Any:
    return hw.resource(
        rows,
        name="orders",
        primary_key="id",
        incremental=hw.incremental("updated"),
        checks=[hw.checks.between("amount", min=0, severity="quarantine"), hw.checks.not_null("id")],
    )


def shop_pipeline(pipelines_dir: Path, duckdb_file: Path) -> Any:
    dest = hw.destinations.duckdb(str(duckdb_file))
    return hw.pipeline("shop", destination=dest, dataset="sales", pipelines_dir=pipelines_dir, progress=False)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Shop:
    """``shop`` run twice into a DuckDB file: 2 orders (1 quarantined) and 3 items, then 2 orders, 1 item
    and the new column ``coupon``; each run's record written as the contract says."""
    base = tmp_path_factory.mktemp("dashboard")
    pipeline = shop_pipeline(base / "pipelines", base / "shop.duckdb")
    first = recorded_run(pipeline, orders(orders_first()))
    second = recorded_run(pipeline, orders(orders_second()))
    assert first["status"] == second["status"] == "completed", (first["error"], second["error"])
    return Shop(base / "pipelines", [first, second])


@dataclass
class Served:
    """A running ``headwater dashboard``: its address and its process."""

    url: str
    process: subprocess.Popen[str]


def start_dashboard(pipelines_dir: Path, *args: str) -> Served:
    """Start ``headwater dashboard ARGS --pipelines-dir D --port 0 --no-browser`` and wait for the line
    that gives its address (the server listens before it prints it).

    Raises:
        AssertionError: the command exited instead (with its output).
    """
    command = [sys.executable, "-m", "headwater", "dashboard", *args, "--pipelines-dir", str(pipelines_dir)]
    process = subprocess.Popen(
        [*command, "--port", "0", "--no-browser"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env_with_path(),
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if "http://" not in line:
        process.kill()
        _, err = process.communicate()
        raise AssertionError(f"headwater dashboard did not start: {line}{err}")
    url = line.split("http://", 1)[1].split()[0]
    return Served(f"http://{url}", process)


@pytest.fixture(scope="module")
def dashboard(shop: Shop) -> Iterator[Served]:
    """The dashboard of ``shop``, served for the module's tests."""
    served = start_dashboard(shop.pipelines_dir, "shop")
    try:
        yield served
    finally:
        served.process.terminate()
        try:
            served.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            served.process.kill()
            served.process.communicate()
