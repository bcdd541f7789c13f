"""Destination factories for the conformance suite, and the capabilities scenarios require."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from headwater.destinations.protocol import Capabilities

#: ``build(folder, key, request)``: a destination that keeps its data under ``folder`` (a test's
#: temporary folder), one place per ``key`` (the same key, the same place), using pytest's ``request``
#: for any fixture it needs (a server, say).
Builder = Callable[[Path, str, pytest.FixtureRequest], Any]


@dataclass(frozen=True)
class DestinationFactory:
    """A destination under test.

    Attributes:
        name: the test id (``duckdb``).
        capabilities: what it declares it can do; a scenario that requires more is a strict xfail.
        build: ``build(folder, key, request) -> Destination``.
        failpoints: failpoints of its own the crash scenario kills it at, beside the common ones
            (``load.after_insert``, ``load.before_commit``, ``load.after_commit``).
    """

    name: str
    capabilities: Capabilities
    build: Builder
    failpoints: tuple[str, ...] = field(default=())


def requires(capability: str, value: Any = None) -> pytest.MarkDecorator:
    """Mark a scenario as needing ``capability`` of :class:`Capabilities` (with ``value`` in it, for a
    set), e.g. ``requires("merge_strategies", "scd2")`` or ``requires("merge_key")``. On a destination
    that lacks it the scenario runs as ``xfail(strict=True)``."""
    if capability not in Capabilities.__dataclass_fields__:
        raise ValueError(f"Capabilities has no field {capability!r}")
    return pytest.mark.headwater_requires(capability, value)


def lacking(capabilities: Capabilities, capability: str, value: Any = None) -> str | None:
    """Why ``capabilities`` lack what ``requires(capability, value)`` asks, or None."""
    held = getattr(capabilities, capability)
    if value is None:
        return None if held else f"{capabilities.name} declares no {capability}"
    return None if value in held else f"{capabilities.name} declares no {capability} {value!r}"


def missing_any(capabilities: Capabilities, marks: Iterable[pytest.Mark]) -> str | None:
    reasons = [r for m in marks if (r := lacking(capabilities, *m.args))]
    return "; ".join(reasons) or None


# -- the built-in destinations ------------------------------------------------------------------------------


def _duckdb(folder: Path, key: str, request: pytest.FixtureRequest) -> Any:
    import headwater as hw

    return hw.destinations.duckdb(str(folder / f"{key}.duckdb"))


def _postgres(folder: Path, key: str, request: pytest.FixtureRequest) -> Any:
    import headwater as hw

    return hw.destinations.postgres(request.getfixturevalue("headwater_postgres_database")())


def _filesystem(folder: Path, key: str, request: pytest.FixtureRequest) -> Any:
    import headwater as hw

    return hw.destinations.filesystem(folder / f"{key}.files", format="parquet")


def _iceberg(folder: Path, key: str, request: pytest.FixtureRequest) -> Any:
    import headwater as hw

    return hw.destinations.iceberg(folder / f"{key}.iceberg")


def _delta(folder: Path, key: str, request: pytest.FixtureRequest) -> Any:
    import headwater as hw

    return hw.destinations.delta(folder / f"{key}.delta")


def builtin() -> list[DestinationFactory]:
    """The five built-in destinations, in the order the suite runs them."""
    from headwater.destinations.delta.destination import CAPABILITIES as DELTA
    from headwater.destinations.duckdb.destination import CAPABILITIES as DUCKDB
    from headwater.destinations.filesystem.destination import CAPABILITIES as FILESYSTEM
    from headwater.destinations.iceberg.destination import CAPABILITIES as ICEBERG
    from headwater.destinations.postgres.destination import CAPABILITIES as POSTGRES

    return [
        DestinationFactory("duckdb", DUCKDB, _duckdb),
        # the kill lands while COPY streams rows to the server
        DestinationFactory("postgres", POSTGRES, _postgres, failpoints=("load.mid_copy",)),
        DestinationFactory("filesystem", FILESYSTEM, _filesystem),
        # commits of a load with a merge: the child table committed, its root not yet
        DestinationFactory("iceberg", ICEBERG, _iceberg, failpoints=("iceberg.table_committed:3",)),
        DestinationFactory("delta", DELTA, _delta),
    ]


BUILTIN = ("duckdb", "postgres", "filesystem", "iceberg", "delta")

_in_use: list[DestinationFactory] = []


def use(*factories: DestinationFactory) -> None:
    """Run the suite on these destinations (instead of the built-in ones). Call it from a conftest or
    from the module given to ``pytest -p``."""
    _in_use[:] = factories


def in_use() -> list[DestinationFactory]:
    """The destinations the suite runs on: those given to :func:`use`, else the built-in ones."""
    return list(_in_use) or builtin()
