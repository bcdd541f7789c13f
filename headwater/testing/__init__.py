"""The destination conformance suite: one set of scenarios that every destination runs.

A destination (built in or a plugin's) is described by a :class:`DestinationFactory`: its name, its
:class:`~headwater.destinations.protocol.Capabilities` and a function that builds it in a folder.
The pytest plugin :mod:`headwater.testing.plugin` parametrizes the ``destination`` fixture (and the
``make_pipeline`` fixture built on it) over the factories in use, and turns what a scenario
``requires`` and a destination's capabilities lack into a strict expected failure: a capability that
starts working fails the suite until it is declared.

A plugin author runs the suite against their destination with a few lines (see
``docs/destinations.md``, "Write a destination")::

    # mydb_suite.py
    import headwater.testing as hwt
    from mydb import MyDestination

    hwt.use(hwt.DestinationFactory("mydb", MyDestination.capabilities,
                                   lambda folder, key, request: MyDestination(folder / f"{key}.db")))

    # then: pytest -p mydb_suite --pyargs headwater.testing.scenarios

Scenarios use the public API only (``hw.pipeline``, ``run``, ``query``, ``schema()``, load info).
"""

from __future__ import annotations

from headwater.testing.factories import (
    BUILTIN,
    DestinationFactory,
    builtin,
    in_use,
    requires,
    use,
)
from headwater.testing.helpers import rows, scalar, values

__all__ = [
    "BUILTIN",
    "DestinationFactory",
    "builtin",
    "in_use",
    "requires",
    "rows",
    "scalar",
    "use",
    "values",
]
