"""Reading ahead: a stream's next chunk is fetched on a thread of its own while the caller normalizes and
writes the current one.

The drivers fetch and decode with the interpreter lock released (ADBC's and ConnectorX's readers are C++
and Rust, Arrow's conversions too), so the database's next rows arrive while the normalizer works. The
reading iterator is made, advanced and closed on that one thread, in a copy of the caller's context (the
running resource's metrics, the run's ids on log records): ConnectorX's iterator may only be used by
the thread that made it, SQLite connections belong to theirs.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Final, TypeVar, cast

from headwater.observe.context import carry

T = TypeVar("T")
log = logging.getLogger("headwater.sql_database")

#: chunks made ahead of the caller, waiting in the queue (one more may be in the making)
AHEAD: Final = 1
_POLL: Final = 0.05  # seconds between looks at the stop flag while the caller does not take a chunk


def read_ahead(make: Callable[[], Iterator[T]], *, ahead: int = AHEAD, name: str = "hw-read-ahead") -> Iterator[T]:
    """The items of ``make()``, produced on a thread of their own, at most ``ahead`` waiting for the caller.

    Items arrive in order; an exception raised by the iterator arrives after every item made before it
    (nothing already read is lost) and is raised here as it was. Closing this generator (a limit, a
    failure downstream) stops the thread after the item it is making and closes the iterator there.
    """
    handoff: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=ahead)
    stop = threading.Event()

    def offer(kind: str, value: object) -> bool:
        while not stop.is_set():
            try:
                handoff.put((kind, value), timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        items: Iterator[T] | None = None
        try:
            items = make()
            for item in items:
                if not offer("item", item):
                    return
            offer("done", None)
        except BaseException as exc:  # handed to the caller, whatever it is
            offer("error", exc)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                try:
                    close()  # on this thread: the driver's cursor and connection end where they began
                except Exception:  # a cursor that fails to close after the read ended: nothing is lost
                    log.debug("sql_database: closing a reader failed", exc_info=True)

    worker = threading.Thread(target=carry(produce), name=name, daemon=True)
    worker.start()
    try:
        while True:
            kind, value = handoff.get()
            if kind == "item":
                yield cast(T, value)
            elif kind == "done":
                return
            else:
                assert isinstance(value, BaseException)
                raise value
    finally:
        stop.set()
        while True:  # free the chunks made ahead, and the thread if it waits to hand one over
            try:
                handoff.get_nowait()
            except queue.Empty:
                break
        worker.join()
