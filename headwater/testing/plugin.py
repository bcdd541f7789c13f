"""The conformance suite's pytest plugin: the ``destination`` and ``make_pipeline`` fixtures, run on
every destination in use (:func:`headwater.testing.use`, else the five built-in ones).

Load it with ``pytest -p headwater.testing.plugin`` (``--pyargs headwater.testing.scenarios`` loads it
through the scenarios' conftest), or import its names into a conftest
(``from headwater.testing.plugin import *``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from headwater.testing.factories import DestinationFactory, in_use, missing_any

__all__ = [
    "destination",
    "headwater_postgres_database",
    "headwater_postgres_server",
    "make_pipeline",
    "pytest_configure",
    "pytest_generate_tests",
]

MARKERS = (
    "headwater_requires(capability, value): the scenario needs a capability; a strict xfail where it is lacking",
)


def pytest_configure(config: pytest.Config) -> None:
    for line in MARKERS:
        config.addinivalue_line("markers", line)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "destination" not in metafunc.fixturenames:
        return
    if any(m.name == "parametrize" and "destination" in m.args[0] for m in metafunc.definition.iter_markers()):
        return  # the test parametrizes it itself
    needs = list(metafunc.definition.iter_markers("headwater_requires"))
    params = []
    for factory in in_use():
        caps = factory.capabilities
        reason = missing_any(caps, needs)
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        params.append(pytest.param(factory, id=factory.name, marks=marks))
    metafunc.parametrize("destination", params, indirect=True)


class Target:
    """The destination under test in one test: ``at(key)`` is a destination whose data lives in one
    place per key (the same key, the same place), under the test's temporary folder."""

    def __init__(self, factory: DestinationFactory, folder: Path, request: pytest.FixtureRequest) -> None:
        self.factory = factory
        self.name = factory.name
        self.capabilities = factory.capabilities
        self.folder = folder
        self._request = request
        self._made: dict[str, Any] = {}

    def at(self, key: str = "default") -> Any:
        if key not in self._made:
            self._made[key] = self.factory.build(self.folder, key, self._request)
        return self._made[key]

    def __repr__(self) -> str:
        return f"<destination under test {self.name}>"


@pytest.fixture
def destination(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    """The destination under test (a :class:`Target`): parametrized over the destinations in use."""
    factory = getattr(request, "param", None)
    if not isinstance(factory, DestinationFactory):
        raise pytest.UsageError("the destination fixture is parametrized by headwater.testing.plugin")
    folder = tmp_path / "destination"
    folder.mkdir(exist_ok=True)
    return Target(factory, folder, request)


@pytest.fixture
def make_pipeline(destination: Target, tmp_path: Path) -> Callable[..., Any]:
    """``make_pipeline(name="test", dataset="raw", **kwargs)``: a pipeline into the destination under
    test, one place per pipeline name (``destination=`` picks another, ``destination.at("shared")``),
    its working folder under ``tmp_path / "pipelines"`` (``pipelines_dir=`` a new machine)."""
    import headwater as hw

    def make(name: str = "test", dataset: str | None = None, **kwargs: Any) -> Any:
        kwargs.setdefault("progress", False)
        kwargs.setdefault("pipelines_dir", tmp_path / "pipelines")
        target = kwargs.pop("destination", None) or destination.at(name)
        return hw.pipeline(name, destination=target, dataset=dataset or "raw", **kwargs)

    return make


# -- PostgreSQL ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def headwater_postgres_server() -> str:
    """A PostgreSQL URL whose user may create databases: ``$HEADWATER_TEST_PG_URL``. Override this
    fixture to start a server of your own (Headwater's tests start a throwaway one)."""
    url = os.environ.get("HEADWATER_TEST_PG_URL")
    if not url:
        pytest.fail("the postgres destination needs a server: set HEADWATER_TEST_PG_URL", pytrace=False)
    return url


def _pg(url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as con:
        con.execute(sql)


@pytest.fixture
def headwater_postgres_database(headwater_postgres_server: str) -> Iterator[Callable[[], str]]:
    """``new()``: the URL of a new, empty database on the server; each is dropped after the test."""
    made: list[str] = []
    base = headwater_postgres_server.rsplit("/", 1)[0]

    def new() -> str:
        name = f"d_{uuid.uuid4().hex[:16]}"
        _pg(headwater_postgres_server, f"CREATE DATABASE {name}")
        made.append(name)
        return f"{base}/{name}"

    yield new
    for name in made:
        _pg(f"{base}/postgres", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
