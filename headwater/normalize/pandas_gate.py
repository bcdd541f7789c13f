"""Keep pandas out of runs that never see a pandas object.

pyarrow finds out whether pandas is installed the first time it converts Python values: ``pa.array``
and ``pa.scalar`` ask its lazy pandas shim (``pyarrow.lib._pandas_api``) whether the values are a
pandas object, and the shim imports pandas to answer. That takes 0.3 to 0.5 s and about 40 MB, most
of a small run, in a process that never holds a DataFrame. While pandas is not loaded no value can be
a pandas object, so "no pandas" is the true answer for those values.

:class:`refused` gives that answer to the conversions inside it: on the current thread only, ``import
pandas`` fails at once (a finder at the head of ``sys.meta_path``), so the shim notes "no pandas";
when the block ends the shim is reset to "not asked yet", so that pyarrow asks again at its next
conversion elsewhere (the user's own code, say) and imports pandas then, as it always did. Nothing
is refused once pandas is loaded (a DataFrame given to a run, the user's own ``import pandas``).

Only conversions with an explicit type may run inside (:func:`array`, :func:`scalar`): pyarrow's type
inference (``pa.array(values)`` without a type, or a Python number handed to a ``pyarrow.compute``
function) imports pandas once per process to recognise pandas' own values (``pd.NA``,
``pd.DateOffset``), and a refused import there would be remembered for good, leaving later
conversions of pandas objects broken. Inference stays outside, and imports pandas as before.

Nested values (objects, lists) have no plain type: their type is Arrow's to infer. While pandas is
installed but not loaded, :func:`walk_instead` sends small batches of them down the path mixed
columns take (unpacked in Python, column by column, each leaf column of one plain type converted with
its type given: the same tables), within :data:`WALK_BUDGET` values per process. Beyond it a run is
large enough that importing pandas once costs less than walking, and Arrow infers as before.

Other threads can see the shim's "no pandas" only between the refused import and the end of the
block, and only while this thread runs the few Python lines there (the conversion between them holds
the GIL); a thread whose first question to pyarrow about pandas falls in that instant gets pyarrow's
behaviour without pandas for that one call (a nanosecond timestamp's ``as_py()`` gives a datetime).
"""

from __future__ import annotations

import functools
import importlib.util
import sys
import threading
from importlib.machinery import ModuleSpec
from types import ModuleType, TracebackType
from typing import Any, Final

_local = threading.local()


@functools.cache
def _shim() -> Any:
    """pyarrow's lazy pandas importer, if this pyarrow has the one this module knows (else None:
    nothing is refused, and pyarrow imports pandas as it always did)."""
    import pyarrow.lib

    shim = getattr(pyarrow.lib, "_pandas_api", None)
    return shim if shim is not None and hasattr(type(shim), "have_pandas") else None


class _Refuser:
    """A meta-path finder refusing ``pandas`` to the thread inside :func:`refused`, and ``polars`` to
    the thread inside :func:`import_without_frames`."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        depth: int = getattr(_local, "depth", 0)
        if fullname == "pandas" and depth:
            _local.refusals += 1
            raise ModuleNotFoundError("pandas is not loaded and not needed here", name="pandas")
        if fullname == "polars" and getattr(_local, "polars", False):
            raise ModuleNotFoundError("polars is not loaded and not needed here", name="polars")
        return None


_REFUSER: Final = _Refuser()
_install_lock = threading.Lock()


def _install() -> None:
    if _REFUSER not in sys.meta_path:
        with _install_lock:
            if _REFUSER not in sys.meta_path:
                sys.meta_path.insert(0, _REFUSER)


class refused:
    """Inside the block, pyarrow on this thread finds no pandas, unless pandas is loaded already.

    ::

        with refused():
            arr = pa.array(values, type=pa.int64())  # an explicit type: never type inference in here
    """

    __slots__ = ("_active",)

    def __enter__(self) -> None:
        self._active = "pandas" not in sys.modules and _shim() is not None
        if not self._active:
            return
        _install()
        depth = getattr(_local, "depth", 0)
        if depth == 0:
            _local.refusals = 0
        _local.depth = depth + 1

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._active:
            return
        _local.depth -= 1
        if _local.depth == 0 and _local.refusals:
            _shim().__init__()  # "not asked yet": the next conversion outside asks (and imports) again


def import_without_frames(module: str) -> ModuleType:
    """``importlib.import_module(module)`` for a library that imports pandas and polars when they are
    installed only to offer them as options Headwater does not use, without them (unless loaded).

    ADBC's DB-API module does (its parameter backends for DataFrames; the default, pyarrow's, is the
    one used) and imports ``pyarrow.dataset``, which asks pyarrow's shim for pandas: 0.8 s of every
    process reading PostgreSQL or SQLite through ADBC (each worker process of a partitioned read) where
    both are installed. pandas is refused as in :class:`refused` (pyarrow's shim asks again after);
    polars is refused on this thread during the import.
    """
    _install()
    before = getattr(_local, "polars", False)
    _local.polars = "polars" not in sys.modules
    try:
        with refused():
            return importlib.import_module(module)
    finally:
        _local.polars = before


def array(values: Any, type: Any) -> Any:
    """``pa.array(values, type=type)``, without making pyarrow import pandas (see :func:`refused`)."""
    import pyarrow as pa

    with refused():
        return pa.array(values, type=type, from_pandas=False)


def scalar(value: Any, type: Any) -> Any:
    """``pa.scalar(value, type=type)``, without making pyarrow import pandas (see :func:`refused`)."""
    import pyarrow as pa

    with refused():
        return pa.scalar(value, type=type)


#: nested values unpacked in Python rather than by Arrow's inference, per process, at most (every list of
#: values handed over counts: about 10 per GitHub-event document of bench.data.event_docs). Walking 1,000
#: such documents costs about 7 ms more than Arrow's inference, importing pandas 300-500 ms once: a run of
#: up to about 2,000 documents saves the import, a larger one pays about 15 ms more than before
WALK_BUDGET: Final = 20_000
_walked = 0


def walk_instead(n: int) -> bool:
    """Whether ``n`` nested values should be unpacked in Python instead of by Arrow's type inference,
    which would import pandas: while pandas is installed but not loaded, within :data:`WALK_BUDGET`."""
    global _walked
    if "pandas" in sys.modules or _walked + n > WALK_BUDGET or not _pandas_installed():
        return False
    _walked += n
    return True


@functools.cache
def _pandas_installed() -> bool:
    return importlib.util.find_spec("pandas") is not None
