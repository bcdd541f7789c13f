"""``pyarrow.compute``, imported when a compute function is first called.

Importing ``pyarrow.compute`` builds the Python side of Arrow's function registry: about 9 MB of memory and
20 ms, the largest single thing a one-row run added to importing pyarrow and DuckDB (docs/benchmarks.md,
"Issue 17's targets, then and now"). A run of a few flat rows calls no compute function, so the modules that
use them import ``pc`` from here, and the first call imports the real module::

    from headwater.normalize.compute import pc

    pc.is_null(column)

pyarrow's own array methods that compute (``cast``, ``filter``, ``is_null``...) import ``pyarrow.compute``
themselves; ``pc`` then finds it loaded.
"""

from __future__ import annotations

import importlib
from typing import Any


class _Compute:
    """Looks each name up in ``pyarrow.compute`` on first use and keeps it as an attribute of its own."""

    def __getattr__(self, name: str) -> Any:
        value = getattr(importlib.import_module("pyarrow.compute"), name)
        setattr(self, name, value)
        return value


#: ``pyarrow.compute``, loaded on first attribute access (typed ``Any``, as pyarrow itself is to mypy)
pc: Any = _Compute()
