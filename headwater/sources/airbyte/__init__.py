"""The Airbyte source: Airbyte connectors (PyPI packages or declarative manifests) run without Docker.

``hw.sources.airbyte(name, config=..., streams=None)`` installs the connector into an environment of
its own on first use, checks the config against its spec, runs ``check`` and ``discover``, then one
resource runs ``read`` and feeds one table per stream, incrementally where the stream supports it
(the connector's state is saved with the rows). See :mod:`headwater.sources.airbyte.source` and
docs/connectors.md.
"""

from __future__ import annotations

from headwater._callable_module import make_callable
from headwater.sources.airbyte.protocol import AirbyteError, Connector
from headwater.sources.airbyte.source import airbyte

__all__ = ["AirbyteError", "Connector", "airbyte"]


make_callable(__name__, airbyte)  # hw.sources.airbyte(...) calls airbyte
