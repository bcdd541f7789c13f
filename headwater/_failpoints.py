"""Failpoints: named places where a test can make the process die, to prove crash safety.

Set ``HEADWATER_FAILPOINT=<name>`` (or ``<name>:<n>`` to die at the n-th time the point is reached) and
the process kills itself with SIGKILL when it reaches that point: no cleanup, no ``finally``, exactly
like a power cut or an OOM kill. Unset, a failpoint costs one comparison. Names in use::

    extract.batch         after a batch was normalized and handed to the package writer
    package.sealed        after a package was marked complete, before it is loaded
    load.after_insert     inside the load transaction, after the first table was written
    load.before_commit    inside the load transaction, everything written, before COMMIT
    load.after_commit     after COMMIT, before the package is marked loaded locally
    iceberg.table_committed  after each table commit of an Iceberg load (``:n`` picks the n-th)
    parts.finished        every partition of a run has its part, none adopted yet
    parts.adopted         after a part's files moved into the run's package (``:n`` picks the n-th)
"""

from __future__ import annotations

import os
import signal

_SPEC = os.environ.get("HEADWATER_FAILPOINT", "")
_NAME, _, _NTH = _SPEC.partition(":")
_TARGET = int(_NTH) if _NTH else 1
_hits = 0


def failpoint(name: str) -> None:
    """Die here (SIGKILL) if the environment asks for it."""
    global _hits
    if not _NAME or name != _NAME:
        return
    _hits += 1
    if _hits >= _TARGET:
        os.kill(os.getpid(), signal.SIGKILL)
