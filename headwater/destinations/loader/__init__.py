"""Loader: a destination made of one object with ``load(records)`` (Hippo's loaders, a custom
destination in one method); see :mod:`headwater.destinations.loader.destination` for what Headwater
keeps around it (a ledger of load ids: at-least-once delivery, exactly-once with the loader's help).

``LoaderDestination(obj)`` builds one in code (the package is callable too:
``headwater.destinations.loader(obj)`` once imported); it has no name to resolve and no URI, since it
needs the object.
"""

from __future__ import annotations

from headwater._callable_module import make_callable
from headwater.destinations.loader.destination import LoaderClient, LoaderDestination

__all__ = ["LoaderClient", "LoaderDestination"]


make_callable(__name__, LoaderDestination)  # hw.destinations.loader(obj) calls LoaderDestination
