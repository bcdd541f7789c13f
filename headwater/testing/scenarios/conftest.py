"""``pytest --pyargs headwater.testing.scenarios`` gets the suite's fixtures from here."""

from headwater.testing.plugin import *  # noqa: F403
