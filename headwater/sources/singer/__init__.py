"""The Singer source: any Singer tap as a Headwater source, one table per stream.

``hw.sources.singer(tap, config=..., select=[...], parallel=1)`` runs the tap (a path, a command on
PATH or a pip requirement installed into an environment of its own), reads its messages in bulk and
loads each stream into its own table with the stream's key and types; the tap's STATE is committed
with the rows before it. ``hw.sources.singer.discover(tap, config)`` returns its catalog.

- :mod:`.catalog`: discovery, loading a catalog, checking and marking the selection;
- :mod:`.messages`: Singer messages to items with per-stream hints (SCHEMA, RECORD, STATE,
  ACTIVATE_VERSION, BATCH);
- :mod:`.source`: the source factory and the tap's runs.

See docs/connectors.md.
"""

from __future__ import annotations

from headwater._callable_module import make_callable
from headwater.sources.singer.messages import Messages, StreamTables
from headwater.sources.singer.source import STATE_KEY, Tap, discover, singer

__all__ = ["STATE_KEY", "Messages", "StreamTables", "Tap", "discover", "singer"]


make_callable(__name__, singer)  # hw.sources.singer(...) calls singer
