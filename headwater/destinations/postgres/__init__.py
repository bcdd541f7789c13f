"""PostgreSQL: ``destination="postgres"`` (URL from ``HEADWATER_POSTGRES_URL``) or a
``postgresql://user:password@host:port/db`` URI; ``hw.destinations.postgres(url)`` in code.

Loads go through one ADBC connection: binary COPY from the package's Arrow batches, merges through
temporary staging tables, and the state and load record, all in one transaction. Needs the
``postgres`` extra (``pip install 'headwater[postgres]'``).
"""

from __future__ import annotations

import sys
import types

from headwater.destinations.postgres.destination import PostgresClient, PostgresDestination, shorten

__all__ = ["PostgresClient", "PostgresDestination", "shorten"]


class _CallableModule(types.ModuleType):
    """Lets ``hw.destinations.postgres(url)`` build a destination although ``postgres`` is also this
    package's name (importing a subpackage rebinds the parent's attribute to the module)."""

    def __call__(self, url: str | None = None) -> PostgresDestination:
        return PostgresDestination(url)


sys.modules[__name__].__class__ = _CallableModule
