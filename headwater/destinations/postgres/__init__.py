"""PostgreSQL: ``destination="postgres"`` (URL from ``HEADWATER_POSTGRES_URL``) or a
``postgresql://user:password@host:port/db`` URI; ``hw.destinations.postgres(url)`` in code.

Loads go through one ADBC connection: binary COPY from the package's Arrow batches, merges through
temporary staging tables, and the state and load record, all in one transaction. Needs the
``postgres`` extra (``pip install 'headwater[postgres]'``).
"""

from __future__ import annotations

from headwater._callable_module import make_callable
from headwater.destinations.postgres.destination import PostgresClient, PostgresDestination, shorten

__all__ = ["PostgresClient", "PostgresDestination", "shorten"]


make_callable(__name__, PostgresDestination)  # hw.<package>(...) calls PostgresDestination
