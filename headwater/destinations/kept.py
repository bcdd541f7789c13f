"""A connection a run has finished with, kept open for a moment for the run's next client.

A run reads the committed state before it extracts and loads after, and records itself: two or three
clients. Opening a DuckDB database costs about 35 ms each time (DuckDB 2.0 builds its catalog and
functions per database instance), a third of a small incremental run; an ADBC connection to
PostgreSQL 60 to 200 ms (the driver reads the server's type catalog), most of a small run. Inside a
destination's ``keep_connections`` (which :meth:`Pipeline.run` enters), a client that closes parks its
connection here; the next client takes it instead of connecting. A parked connection closes after
``keep_seconds`` (DuckDB: :data:`KEEP_SECONDS`, so that a long extraction does not hold the file's
lock, which other processes need to open it, for longer than that), and when the outermost
``keep_connections`` block ends, so nothing stays open when ``run`` returns.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

#: how long a parked connection stays open without being taken: a small run's extraction (most runs are
#: small) takes far less, its first one in a process included (about 0.1 s for a few hundred rows: pandas
#: stays unloaded, see headwater.normalize.pandas_gate); another process that opens the file meanwhile
#: fails (DuckDB does not wait for its lock), as it would during a load, so the window is kept short
KEEP_SECONDS = 1.0


class Parking:
    """At most one open connection, taken by the next client or closed after ``keep_seconds``."""

    def __init__(self, keep_seconds: float = KEEP_SECONDS) -> None:
        self.keep_seconds = keep_seconds
        self._lock = threading.Lock()
        self._con: Any = None
        self._timer: threading.Timer | None = None
        self._depth = 0

    @contextlib.contextmanager
    def keeping(self) -> Iterator[None]:
        """Connections closed inside the block are parked; the last one closes when the outermost ends."""
        with self._lock:
            self._depth += 1
        try:
            yield
        finally:
            with self._lock:
                self._depth -= 1
                last = self._depth == 0
            if last:
                self.close()

    def take(self) -> Any:
        """The parked connection (None if there is none); it is the caller's now."""
        with self._lock:
            con, self._con = self._con, None
            self._cancel()
        return con

    def park(self, con: Any) -> bool:
        """Keep ``con`` open for the next client; False (the caller closes it) outside ``keeping``."""
        with self._lock:
            if self._depth == 0:
                return False
            old, self._con = self._con, con
            self._cancel()
            self._timer = threading.Timer(self.keep_seconds, self.close)
            self._timer.daemon = True
            self._timer.start()
        if old is not None:
            _close(old)
        return True

    def close(self) -> None:
        """Close the parked connection now."""
        con = self.take()
        if con is not None:
            _close(con)

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def _close(con: Any) -> None:
    with contextlib.suppress(Exception):
        con.close()
