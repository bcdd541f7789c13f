"""Shared fixtures: real DuckDB files and pipeline working folders under pytest's tmp_path."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared_data(*parts: str) -> Path:
    """A path in ../shared/data; the test is skipped when the folder is absent (a fresh clone)."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (../shared/data is only on the development machine)")
    return path


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never touch the user's ~/.headwater: every test gets its own HEADWATER_HOME and cwd."""
    monkeypatch.setenv("HEADWATER_HOME", str(tmp_path / "hwhome"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def make_pipeline(tmp_path: Path) -> Callable[..., Any]:
    """Build a pipeline that writes a real DuckDB file under tmp_path."""
    import headwater as hw

    def make(name: str = "test", dataset: str | None = None, **kwargs: Any) -> Any:
        kwargs.setdefault("progress", False)
        kwargs.setdefault("pipelines_dir", tmp_path / "pipelines")
        destination = kwargs.pop("destination", None) or hw.destinations.duckdb(str(tmp_path / f"{name}.duckdb"))
        return hw.pipeline(name, destination=destination, dataset=dataset or "raw", **kwargs)

    return make


def rows(pipeline: Any, sql: str) -> list[tuple[Any, ...]]:
    """Query the pipeline's DuckDB destination; returns tuples."""
    table = pipeline.query(sql)
    cols = table.to_pydict()
    names = list(cols)
    return [tuple(cols[n][i] for n in names) for i in range(table.num_rows)]


def scalar(pipeline: Any, sql: str) -> Any:
    return rows(pipeline, sql)[0][0]


def python() -> str:
    import sys

    return sys.executable


def env_with_path() -> dict[str, str]:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return env
